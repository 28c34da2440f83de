/**
 * The Redis Streams consumer against the real Redis: channels by field and by route, poison
 * entries added to the dead-letter stream with their reason (and acked), 10,000 entries exactly
 * once and in order per channel across a SIGKILL of the consuming node (its pending entries
 * claimed by the next), two nodes sharing one group (exclusive: one stands by and takes over in
 * order; not exclusive: both consume, no entry twice), and entries left pending while
 * Switchboard's broker is down, then delivered once in order.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { startNode } from '../../src/app/index.ts';
import { deletePrefix, SHARED_REDIS_URL, startRedis } from '../helpers/cluster-redis.ts';
import { startNodeProcess, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { metricSum, readAll, requireUrl, scrape, uniqueName, waitUntil as waitFor } from '../helpers/ingest.ts';

const redisUp = await requireUrl('Redis', SHARED_REDIS_URL, 6379);
const ADMIN = 'admin-secret-for-stream-tests';
const skip = !redisUp ? 'no Redis (not CI)' : false;
const r = redisUp ? new Redis(SHARED_REDIS_URL) : null;
const keys: string[] = [];
const prefixes: string[] = [];
const procs: NodeProcess[] = [];
after(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  if (r) {
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
  }
  for (const p of prefixes) await deletePrefix(SHARED_REDIS_URL, p);
});

function stream(): string {
  const s = uniqueName('sbt:stream');
  keys.push(s, `${s}:dead`, `switchboard:lease:${s}:switchboard`);
  return s;
}

/** XADDs `n` entries made by `fields(i)`, pipelined. */
async function fill(s: string, n: number, fields: (i: number) => string[]): Promise<void> {
  for (let start = 0; start < n; start += 1000) {
    const p = r!.pipeline();
    for (let i = start; i < Math.min(n, start + 1000); i++) p.xadd(s, '*', ...fields(i));
    await p.exec();
  }
}

/** Entries of the group not acked yet: pending plus not yet delivered. */
async function left(s: string): Promise<number> {
  if ((await r!.exists(s)) === 0 || ((await r!.xinfo('GROUPS', s)) as unknown[]).length === 0) return Infinity; // no group yet
  const pending = Number(((await r!.xpending(s, 'switchboard')) as [number])[0]);
  const groups = (await r!.xinfo('GROUPS', s)) as unknown[][];
  const g = groups[0]!;
  const lag = Number(g[g.indexOf('lag') + 1] ?? 0);
  return pending + lag;
}

test('channels by field and by route; poison entries go to the dead-letter stream with their reason', { skip }, async () => {
  const s = stream();
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    adminSecret: ADMIN,
    broker: new MemoryBroker(),
    namespaces: { orders: { historySize: 100 }, other: { historySize: 100 } },
    consumers: [{ type: 'redis-stream', name: 'rs', url: SHARED_REDIS_URL, stream: s, maxBytes: 1000, namespaces: ['orders'], routes: [{ match: 'orders.*.created', channel: 'orders:{1}' }] }],
  });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'rs' }) === 1, 10_000, 'consumer up');
    const add = (...f: string[]) => r!.xadd(s, '*', ...f);
    await add('channel', 'orders:1', 'data', '{"n":1}');
    await add('type', 'orders.7.created', 'data', '{"r":7}');
    const bad = [
      await add('channel', 'orders:1', 'data', '{"n":'),
      await add('channel', 'orders:1', 'data', JSON.stringify({ big: 'x'.repeat(2000) })),
      await add('type', 'misc.thing', 'data', '{}'),
      await add('channel', 'nope:1', 'data', '{}'),
      await add('channel', 'other:1', 'data', '{}'),
      await add('channel', 'bad channel!', 'data', '{}'),
      await add('channel', 'orders:1', 'body', '{}'),
    ];
    await add('channel', 'orders:1', 'data', '{"n":2}');
    await add('channel', 'orders:1', 'data', '{"n":3}');
    await waitFor(async () => (await r!.xlen(`${s}:dead`)) === 7 && (await left(s)) === 0, 10_000, 'stream drained, 7 dead letters');
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_published_total', { consumer: 'rs' }) === 4, 10_000, 'published');
    assert.deepEqual((await node.broker.history('orders:1', { limit: 100 })).publications.map((p) => p.data), [{ n: 1 }, { n: 2 }, { n: 3 }], 'in order');
    assert.deepEqual((await node.broker.history('orders:7', { limit: 100 })).publications.map((p) => p.data), [{ r: 7 }], 'routed by the type field');
    const dead: Record<string, string> = {};
    for (const [, f] of await r!.xrange(`${s}:dead`, '-', '+')) {
      const m = new Map<string, string>();
      for (let i = 0; i < f.length; i += 2) m.set(f[i]!, f[i + 1]!);
      assert.ok(m.get('switchboard-error')!.length > 0);
      assert.equal(m.get('switchboard-stream'), s);
      dead[m.get('switchboard-id')!] = m.get('switchboard-reason')!;
    }
    assert.deepEqual(dead, Object.fromEntries(bad.map((id, i) => [id, ['bad_json', 'too_large', 'no_channel', 'unknown_namespace', 'not_allowed', 'invalid_channel', 'no_data'][i]])));
    const m = await scrape(node.httpUrl);
    assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'rs', kind: 'redis-stream' }), 7);
    // The admin page's row (its table is rendered from these figures, test/integration/ingest-admin.test.ts).
    const stats = (await (await fetch(`${node.httpUrl}/admin/api/stats`, { headers: { 'X-Admin-Secret': ADMIN } })).json()) as { consumers: { name: string; kind: string; up: boolean; published: number; deadLetters: number }[] };
    assert.deepEqual(stats.consumers.map((c) => [c.name, c.kind, c.up, c.published, c.deadLetters]), [['rs', 'redis-stream', true, 4, 7]]);
    assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'rs', reason: 'no_data' }), 1);
  } finally {
    await node.close();
  }
});

test('a Redis that is down delays the consumer, never the node', { skip }, async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, consumers: [{ type: 'redis-stream', name: 'dead', url: 'redis://127.0.0.1:1', stream: 's' }] });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'dead', error: 'source' }) >= 2, 10_000, 'source errors counted, retried');
    assert.equal(metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'dead' }), 0);
    assert.equal((await fetch(`${node.httpUrl}/healthz`)).status, 200);
  } finally {
    const t0 = Date.now();
    await node.close();
    assert.ok(Date.now() - t0 < 2000, 'close() does not wait out the retry backoff');
  }
});

test('two nodes on one group: exclusive, one stands by and takes over in order; not exclusive, both consume and no entry is stored twice', { skip }, async () => {
  const opts = { port: 0, host: '127.0.0.1', insecure: true, namespaces: { feed: { historySize: 5000 } } };
  for (const exclusive of [true, false]) {
    const s = stream();
    await fill(s, 4000, (i) => ['channel', `feed:x${i % 4}`, 'data', JSON.stringify({ seq: Math.floor(i / 4) })]);
    const broker = new MemoryBroker();
    const consumer = { type: 'redis-stream', name: 'rs', url: SHARED_REDIS_URL, stream: s, batchSize: 20, exclusive, leaseTime: 1, claimIdle: 1 };
    const a = await startNode({ ...opts, broker, name: 'rs-a', consumers: [consumer] });
    let b: Awaited<ReturnType<typeof startNode>> | null = null;
    try {
      await waitFor(async () => (await left(s)) < 3900, 10_000, 'a consuming');
      b = await startNode({ ...opts, broker, name: 'rs-b', consumers: [consumer] });
      await waitFor(async () => metricSum(await scrape(b!.httpUrl), 'switchboard_consumer_up', { consumer: 'rs' }) === 1, 10_000, 'b connected');
      if (exclusive) {
        await new Promise((res) => setTimeout(res, 300));
        assert.equal(metricSum(await scrape(b!.httpUrl), 'switchboard_consumer_published_total'), 0, 'b publishes nothing while a holds the lease');
        await a.close();
        // a may have drained the stream already: 400 more entries that only b can publish.
        const p = r!.pipeline();
        for (let i = 4000; i < 4400; i++) p.xadd(s, '*', 'channel', `feed:x${i % 4}`, 'data', JSON.stringify({ seq: Math.floor(i / 4) }));
        await p.exec();
      } else {
        await waitFor(async () => metricSum(await scrape(b!.httpUrl), 'switchboard_consumer_published_total') > 0, 10_000, 'b consuming too');
      }
      await waitFor(async () => (await left(s)) === 0, 20_000, 'the group drained');
      const pa = metricSum(await scrape(a.httpUrl).catch(() => ''), 'switchboard_consumer_published_total');
      const pb = metricSum(await scrape(b!.httpUrl), 'switchboard_consumer_published_total');
      assert.ok(pb > 0, 'b published');
      for (let k = 0; k < 4; k++) {
        const seqs = (await broker.history(`feed:x${k}`, { limit: 5000 })).publications.map((p) => (p.data as { seq: number }).seq);
        if (exclusive) assert.deepEqual(seqs, Array.from({ length: 1100 }, (_, i) => i), `channel ${k}: once each, in order across the takeover`);
        else assert.deepEqual([...seqs].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i), `channel ${k}: once each (a ${pa}, b ${pb})`);
      }
      if (!exclusive) {
        assert.ok(pa > 0, 'a published too');
        assert.equal(pa + pb, 4000, 'no entry published twice (no claim of a live consumer’s entries)');
      }
    } finally {
      await a.close();
      await b?.close();
      await broker.close();
    }
  }
});

test('10,000 entries arrive exactly once and in order per channel across a SIGKILL of the consuming node', { skip }, async (ctx) => {
  const s = stream();
  const run = uniqueName('r');
  const prefix = uniqueName('sbt-rstream');
  prefixes.push(prefix);
  const channels = 10;
  await fill(s, 10_000, (i) => ['channel', `feed:${run}-${i % channels}`, 'data', JSON.stringify({ k: i % channels, seq: Math.floor(i / channels) })]);
  const broker = { type: 'redis', url: SHARED_REDIS_URL, prefix };
  const consumer = { consumers: [{ type: 'redis-stream', name: 'rs', url: SHARED_REDIS_URL, stream: s, namespaces: ['feed'], batchSize: 100, leaseTime: 2, claimIdle: 2 }] };
  const rb = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
  const stored = async () => {
    let n = 0;
    for (let k = 0; k < channels; k++) n += (await rb.history(`feed:${run}-${k}`, { limit: 0 })).position.offset;
    return n;
  };
  try {
    const a = await startNodeProcess('rs-a', broker, consumer);
    procs.push(a);
    await waitFor(async () => (await stored()) >= 4000, 30_000, 'node a published some');
    await a.kill('SIGKILL');
    const atKill = await stored();
    const pendingAtA = Number(((await r!.xpending(s, 'switchboard')) as [number])[0]);
    const remaining = await left(s);
    ctx.diagnostic(`at the kill: ${atKill} in history, ${remaining} entries not acked (${pendingAtA} pending at the dead consumer, ${atKill + remaining - 10_000} of them published but not acked)`);
    assert.ok(remaining > 0, 'killed before the end');
    const b = await startNodeProcess('rs-b', broker, consumer);
    procs.push(b);
    await waitFor(async () => (await left(s)) === 0, 60_000, 'node b drained the group');
    await waitFor(async () => (await stored()) >= 10_000, 10_000, 'all stored');
    for (let k = 0; k < channels; k++) {
      const seqs = ((await readAll(rb, `feed:${run}-${k}`)) as { seq: number }[]).map((d) => d.seq);
      assert.equal(seqs.length, 10_000 / channels, `channel ${k}: every entry exactly once (got ${seqs.length})`);
      seqs.forEach((x, i) => assert.equal(x, i, `channel ${k}: position ${i} holds seq ${x}, order broken`));
    }
    if (pendingAtA > 0) assert.match(b.output(), /claimed \d+ entries idle at other consumers/, 'b claimed what a held');
    await b.kill();
  } finally {
    await rb.close();
  }
});

test('while the broker is down entries stay pending, then are delivered once in order', { skip }, async () => {
  const redis = await startRedis();
  const s = stream();
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    broker: new RedisBroker({ url: redis.url }),
    namespaces: { feed: { historySize: 1000, historyTtl: 600 } },
    consumers: [{ type: 'redis-stream', name: 'rs', url: SHARED_REDIS_URL, stream: s, batchSize: 20 }],
  });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'rs' }) === 1, 10_000, 'consumer up');
    await r!.xadd(s, '*', 'channel', 'feed:down', 'data', '{"seq":-1}');
    await waitFor(async () => (await node.broker.history('feed:down', { limit: 10 })).publications.length === 1, 10_000, 'first entry');
    await redis.kill();
    await waitFor(() => !node.broker.connected, 10_000, 'broker disconnected');
    await fill(s, 200, (i) => ['channel', 'feed:down', 'data', JSON.stringify({ seq: i })]);
    await new Promise((res) => setTimeout(res, 1000));
    assert.equal(await left(s), 200, 'nothing acked while the broker is down');
    assert.equal(metricSum(await scrape(node.httpUrl), 'switchboard_consumer_dead_letters_total', { consumer: 'rs' }), 0);
    await redis.restart();
    await waitFor(() => node.broker.connected, 15_000, 'broker back');
    await waitFor(async () => (await left(s)) === 0, 20_000, 'drained after the broker returned');
    const seqs = (await node.broker.history('feed:down', { limit: 1000 })).publications.map((p) => (p.data as { seq: number }).seq);
    // Redis came back empty (no persistence): the 200 are the new stream.
    assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i), 'once each, in order');
  } finally {
    await node.close();
    await node.broker.close();
    await redis.stop();
  }
});
