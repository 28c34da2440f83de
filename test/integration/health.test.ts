/**
 * Health says what is true (docs/operations.md "Health"): `/healthz` is liveness (the process
 * serves), `/readyz` is readiness (broker connected, not draining), and the HTTP API answers 503
 * with error 114 at once while the broker is down. Against a private redis-server that the test
 * hangs (SIGSTOP), resumes, kills and restarts, and a private nats-server it kills and restarts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { NatsBroker } from '../../src/broker/nats.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { freePort, reachable, startRedis, type RedisProcess } from '../helpers/cluster-redis.ts';
import { reapOnExit, removeDir, tempDir } from '../helpers/reaper.ts';
import { RawClient } from '../helpers/raw-client.ts';

let redis: RedisProcess;
let broker: RedisBroker;
let node: SwitchboardNode;

before(async () => {
  redis = await startRedis();
  broker = new RedisBroker({ url: redis.url, probeMs: 200, log: () => {} });
  node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker });
});

after(async () => {
  redis.proc.kill('SIGCONT');
  await node.close();
  await broker.close();
  await redis.stop();
});

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${node.httpUrl}${path}`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function publish(): Promise<{ status: number; ms: number; body: { error?: { code: number }; result?: unknown }; retryAfter: string | null }> {
  const t0 = Date.now();
  const r = await fetch(`${node.httpUrl}/api/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ channel: 'news', data: 1 }), signal: AbortSignal.timeout(10_000) });
  const body = (await r.json()) as { error?: { code: number } };
  return { status: r.status, ms: Date.now() - t0, body, retryAfter: r.headers.get('retry-after') };
}

async function until(path: string, status: number, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if ((await get(path)).status === status) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`${path} did not answer ${status} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('a hung broker (SIGSTOP): healthz 200, readyz 503, API publish 503 + 114 at once; ready again once it answers', async () => {
  await until('/readyz', 200);
  assert.equal((await publish()).status, 200);

  redis.proc.kill('SIGSTOP');
  const noticed = await until('/readyz', 503, 3000);
  const ready = await get('/readyz');
  assert.equal(ready.body.status, 'broker unavailable');
  assert.equal((await get('/healthz')).status, 200, 'liveness: the process still serves');
  const p = await publish();
  assert.equal(p.status, 503);
  assert.equal(p.body.error?.code, 114);
  assert.equal(p.retryAfter, '1');
  assert.ok(p.ms < 500, `answered in ${p.ms} ms`);
  // The cluster registry copy is local: `info` still answers.
  const info = await fetch(`${node.httpUrl}/api/info`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(info.status, 200);
  console.log(`health: hung Redis noticed by /readyz after ${noticed} ms; API publish answered 503/114 in ${p.ms} ms`);

  redis.proc.kill('SIGCONT');
  await until('/readyz', 200, 5000);
  assert.equal((await publish()).status, 200);
});

test('a dead broker (SIGKILL): readyz 503 and publish 503 + 114 at once; ready again after it restarts', async () => {
  await redis.kill('SIGKILL');
  await until('/readyz', 503, 3000);
  const p = await publish();
  assert.equal(p.status, 503);
  assert.equal(p.body.error?.code, 114);
  assert.ok(p.ms < 500, `answered in ${p.ms} ms`);
  assert.equal((await get('/healthz')).status, 200);

  await redis.restart();
  await until('/readyz', 200, 10_000);
  assert.equal((await publish()).status, 200);
});

test('draining: readyz 503 "draining", healthz 200', async () => {
  const c = await RawClient.connect(node.wsUrl);
  const drained = node.drain(300);
  const r = await get('/readyz');
  assert.equal(r.status, 503);
  assert.equal(r.body.status, 'draining');
  assert.equal((await get('/healthz')).status, 200);
  await drained;
  await c.closed;
  assert.equal(c.closeCode, 3001);
});

test('NATS: readyz 503 while the nats-server is down, 200 once the broker reconnected', async () => {
  const port = await freePort();
  const dir = tempDir('sb-nats-');
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
    reapOnExit(proc);
    const end = Date.now() + 5000;
    while (!(await reachable('127.0.0.1', port, 200))) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`nats-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const kill = async (): Promise<void> => {
    const p = proc!;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  await launch();
  const nats = new NatsBroker({ servers: `nats://127.0.0.1:${port}`, prefix: `health${process.pid}`, log: () => {} });
  const n = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker: nats });
  const ready = async () => (await fetch(`${n.httpUrl}/readyz`)).status;
  const wait = async (status: number, ms: number) => {
    const end = Date.now() + ms;
    while ((await ready()) !== status) {
      if (Date.now() > end) throw new Error(`/readyz did not answer ${status} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  try {
    await wait(200, 5000);
    await kill();
    await wait(503, 3000);
    const r = await fetch(`${n.httpUrl}/api/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ channel: 'x', data: 1 }) });
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { error: { code: number } }).error.code, 114);
    await launch();
    await wait(200, 10_000);
  } finally {
    await n.close();
    await nats.close();
    await kill();
    removeDir(dir);
  }
});
