/**
 * The same multi-node checks on the other broker setups, with real node processes: two nodes on
 * NATS (JetStream), and two nodes on two Redis shards (the `shards` config). Clients on different
 * nodes exchange publications on many channels; on NATS a node is SIGKILLed mid-stream and its
 * clients recover every publication exactly once, in order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type Publication } from '../../src/client/index.ts';
import { requireService, SHARED_REDIS_URL, startRedis, type RedisProcess } from '../helpers/cluster-redis.ts';
import { apiPublish, roundRobinWebSocket, startNodes, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { waitFor } from './client-helpers.ts';

const natsUrl = process.env.SWITCHBOARD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const nu = new URL(natsUrl);
const natsUp = await requireService('NATS', nu.hostname, Number(nu.port || 4222));
const ru = new URL(SHARED_REDIS_URL);
const redisUp = await requireService('Redis', ru.hostname, Number(ru.port || 6379));
const natsPrefix = `sbitnats${process.pid}`;
const nodes: NodeProcess[] = [];
const shards: RedisProcess[] = [];
const clients: Client[] = [];

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.kill()));
  await Promise.all(shards.map((s) => s.stop()));
  if (natsUp) {
    const { connect } = await import('nats');
    const nc = await connect({ servers: natsUrl });
    const jsm = await nc.jetstreamManager();
    for (const s of [`${natsPrefix}_history`, `KV_${natsPrefix}_presence`]) await jsm.streams.delete(s).catch(() => false);
    await nc.close();
  }
});

/** Subscribes a client on each node to each channel, publishes from alternating nodes, checks all arrive. */
async function exchange(pair: NodeProcess[], channels: string[]): Promise<void> {
  const cs = pair.map((n) => {
    const c = new Client(n.wsUrl, { minDelay: 20, maxDelay: 200 });
    clients.push(c);
    return c;
  });
  const got = cs.map(() => new Map<string, Publication[]>());
  const subs = cs.flatMap((c, k) => channels.map((ch) => c.subscribe(ch, { onPublication: (p) => void got[k]!.set(ch, [...(got[k]!.get(ch) ?? []), p]) })));
  await Promise.all(cs.map((c) => c.connect()));
  await waitFor(() => subs.every((s) => s.state === 'subscribed'), 10_000, 'subscribed');
  for (const [i, ch] of channels.entries()) {
    await cs[0]!.publish(ch, `${i}-a`);
    await cs[1]!.publish(ch, `${i}-b`);
  }
  await waitFor(() => got.every((m) => channels.every((ch) => (m.get(ch)?.length ?? 0) === 2)), 10_000, 'every publication on both nodes');
  for (const m of got) for (const [i, ch] of channels.entries()) assert.deepEqual(m.get(ch)!.map((p) => [p.data, p.offset]), [[`${i}-a`, 1], [`${i}-b`, 2]]);
}

test('NATS: two nodes exchange publications; SIGKILL one mid-stream, 2,000 publications arrive exactly once, in order', { skip: !natsUp && 'no NATS (not CI)' }, async () => {
  const pair = await startNodes(['n1', 'n2'], { type: 'nats', url: natsUrl, prefix: natsPrefix });
  nodes.push(...pair);
  await exchange(pair, Array.from({ length: 10 }, (_, i) => `feed:nats-${i}`));

  const [victim, survivor] = pair as [NodeProcess, NodeProcess];
  const ws = roundRobinWebSocket(() => [victim.wsUrl, survivor.wsUrl], 0);
  const c = new Client(victim.wsUrl, { minDelay: 20, maxDelay: 300, websocket: ws });
  clients.push(c);
  const got: Publication[] = [];
  const sub = c.subscribe('feed:nats-kill', { onPublication: (p) => void got.push(p) });
  await c.connect();
  await waitFor(() => sub.state === 'subscribed', 10_000, 'subscribed');
  const N = 2000;
  for (let i = 1; i <= N; i++) {
    await apiPublish(survivor.httpUrl, 'feed:nats-kill', i);
    if (i === 700) await victim.kill('SIGKILL');
  }
  await waitFor(() => got.length >= N, 20_000, `${N} publications (have ${got.length})`);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got.map((p) => p.offset), Array.from({ length: N }, (_, i) => i + 1));
  assert.deepEqual(got.map((p) => p.data), Array.from({ length: N }, (_, i) => i + 1));
  assert.equal(ws.used.at(-1), survivor.wsUrl);
});

test('Redis shards: two nodes on two shards exchange publications on channels spread over both', { skip: !redisUp && 'no Redis (not CI)' }, async () => {
  shards.push(await startRedis(), await startRedis());
  const pair = await startNodes(['s1', 's2'], { type: 'redis', shards: shards.map((s) => s.url) });
  nodes.push(...pair);
  const channels = Array.from({ length: 20 }, (_, i) => `feed:shard-${i}`);
  await exchange(pair, channels);
  // Both shards hold some of the channels.
  const { Redis } = await import('ioredis');
  const counts = await Promise.all(
    shards.map(async (s) => {
      const r = new Redis(s.url);
      try {
        return (await r.keys('sb:{feed:shard-*}:m')).length;
      } finally {
        r.disconnect();
      }
    }),
  );
  assert.equal(counts[0]! + counts[1]!, 20);
  assert.ok(counts.every((n) => n > 0), `both shards used: ${counts}`);
  for (const n of pair) assert.match(n.output(), /broker sharded\(redis/);
});
