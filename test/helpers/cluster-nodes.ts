/**
 * Switchboard nodes as child processes (`node --import tsx src/cli/main.ts start --config …`), for
 * multi-node tests: each gets a temp config file with a recoverable `feed` namespace and the
 * broker section given; all are SIGKILLed and their temp dirs removed on `stop()` and on process
 * exit, even when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import type { WebSocketConstructor } from '../../src/client/index.ts';
import { freePort } from './net.ts';
import { reapOnExit, removeDir, tempDir } from './reaper.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

export const FEED_NAMESPACES = {
  feed: { subscribe: 'anonymous', publish: 'anonymous', historyRead: 'anonymous', presenceRead: 'anonymous', presence: true, historySize: 20_000, historyTtl: 600, recover: true },
};

/** The cluster secret every test node gets (nodes on a shared broker believe only signed peers). */
export const TEST_CLUSTER_SECRET = 'test-cluster-secret-0123456789';

export interface NodeProcess {
  name: string;
  port: number;
  httpUrl: string;
  wsUrl: string;
  proc: ChildProcess;
  /** Everything the node printed. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}


/** Starts one node and resolves once it listens. */
export async function startNodeProcess(name: string, broker: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<NodeProcess> {
  const port = await freePort();
  const dir = tempDir(`sb-node-${name}-`);
  const config = join(dir, 'switchboard.json');
  writeFileSync(config, JSON.stringify({ name, port, host: '127.0.0.1', insecure: true, clusterSecret: TEST_CLUSTER_SECRET, namespaces: FEED_NAMESPACES, broker, ...extra }));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_')) env[k] = v;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', config], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  reapOnExit(proc);
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      removeDir(dir);
      resolve();
    }),
  );
  const end = Date.now() + 20_000;
  while (!out.includes('listening on')) {
    if (proc.exitCode !== null || Date.now() > end) {
      proc.kill('SIGKILL');
      throw new Error(`node ${name} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    name,
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    proc,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

/** Starts several nodes in parallel; if one fails, the others are killed. */
export async function startNodes(names: string[], broker: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<NodeProcess[]> {
  const results = await Promise.allSettled(names.map((n) => startNodeProcess(n, broker, extra)));
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((n) => n.kill()));
    throw failed.reason;
  }
  return ok;
}

/**
 * A WebSocket constructor that ignores the client's URL and walks a list of node URLs, one per
 * connection attempt, starting at `start`: a stand-in for a load balancer, so a client whose node
 * died lands on the next one when it reconnects.
 */
export function roundRobinWebSocket(urls: () => string[], start = 0): WebSocketConstructor & { used: string[] } {
  let i = start;
  const used: string[] = [];
  const Ctor = class extends WebSocket {
    constructor(_url: string, protocols?: string | string[]) {
      const list = urls();
      const url = list[i++ % list.length]!;
      used.push(url);
      super(url, protocols);
    }
  };
  return Object.assign(Ctor as unknown as WebSocketConstructor, { used });
}

/** Publishes through a node's HTTP API (insecure nodes need no key). */
export async function apiPublish(httpUrl: string, channel: string, data: unknown, idempotencyKey?: string): Promise<{ epoch: string; offset: number }> {
  const res = await fetch(`${httpUrl}/api/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ channel, data, ...(idempotencyKey ? { idempotencyKey } : {}) }) });
  const body = (await res.json()) as { result?: { epoch: string; offset: number }; epoch?: string; offset?: number; error?: { message: string } };
  if (!res.ok) throw new Error(`publish failed: ${res.status} ${body.error?.message ?? ''}`);
  const r = body.result ?? (body as { epoch: string; offset: number });
  return { epoch: r.epoch, offset: r.offset };
}
