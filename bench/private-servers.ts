/**
 * Private broker servers for the crossnode scenario: a redis-server (when no `--redis` is given)
 * and a nats-server with JetStream (when no `--nats` is given), each on a free port with no
 * persistence worth keeping, started by the orchestrator and so inheriting its CPU affinity — the
 * load generator's cores, never the servers' — and with no other clients, so what they count is
 * the benchmark's alone. Undefined when the server is not installed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, reachable } from '../test/helpers/net.ts';

export interface PrivateServer {
  url: string;
  stop(): Promise<void>;
}

export function startPrivateRedis(): Promise<PrivateServer | undefined> {
  return startPrivate('redis-server', (port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], (port) => `redis://127.0.0.1:${port}`);
}

export function startPrivateNats(): Promise<PrivateServer | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-nats-'));
  return startPrivate('nats-server', (port) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], (port) => `nats://127.0.0.1:${port}`, () => rmSync(dir, { recursive: true, force: true }));
}

async function startPrivate(command: string, args: (port: number) => string[], url: (port: number) => string, cleanup: () => void = () => {}): Promise<PrivateServer | undefined> {
  const port = await freePort();
  let proc: ChildProcess;
  try {
    proc = spawn(command, args(port), { stdio: 'ignore' });
  } catch {
    cleanup();
    return undefined;
  }
  const failed = new Promise<boolean>((r) => {
    proc.once('error', () => r(true));
    proc.once('exit', () => r(true));
  });
  const deadline = Date.now() + 5000;
  for (;;) {
    if (await Promise.race([failed, reachable('127.0.0.1', port, 200)])) {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) {
        cleanup();
        return undefined;
      }
      break;
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      cleanup();
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: url(port),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
      cleanup();
    },
  };
}
