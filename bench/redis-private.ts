/**
 * A private redis-server for the crossnode scenario (when no `--redis` is given): a free port, no
 * persistence, started by the orchestrator and so inheriting its CPU affinity — the load
 * generator's cores, never the server's — and with no other clients, so the command counts are the
 * benchmark's alone. Undefined when `redis-server` is not installed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, reachable } from '../test/helpers/net.ts';

export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis | undefined> {
  const port = await freePort();
  let proc: ChildProcess;
  try {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const failed = new Promise<boolean>((r) => {
    proc.once('error', () => r(true));
    proc.once('exit', () => r(true));
  });
  const deadline = Date.now() + 5000;
  for (;;) {
    if (await Promise.race([failed, reachable('127.0.0.1', port, 200)])) {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return undefined;
      break;
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
