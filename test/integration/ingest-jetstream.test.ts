/**
 * The JetStream consumer against the real NATS server: channels by header and by subject route,
 * poison messages published to the dead-letter subject with their reason (and acked), a message
 * delivered more than maxDeliver times dead-lettered, 10,000 messages exactly once and in order
 * per channel across a SIGKILL of the consuming node (its unacked messages redelivered to the next
 * and gathered before anything newer), two nodes on one durable (exclusive: standby and takeover
 * in order; not exclusive: both consume, none twice), and nak with backoff while Switchboard's
 * broker is down, then delivery once in order.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, connect, headers as natsHeaders, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { startNode } from '../../src/app/index.ts';
import { deletePrefix, SHARED_REDIS_URL, startRedis } from '../helpers/cluster-redis.ts';
import { startNodeProcess, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { metricSum, NATS_URL, readAll, requireUrl, scrape, uniqueName, waitUntil as waitFor } from '../helpers/ingest.ts';

const natsUp = await requireUrl('NATS', NATS_URL, 4222);
const redisUp = await requireUrl('Redis', SHARED_REDIS_URL, 6379);
const ADMIN = 'admin-secret-for-stream-tests';
const skip = !natsUp ? 'no NATS (not CI)' : false;
const skipRedis = !natsUp || !redisUp ? 'no NATS or Redis (not CI)' : false;

const nc: NatsConnection | null = natsUp ? await connect({ servers: NATS_URL }) : null;
const jsm: JetStreamManager | null = nc ? await nc.jetstreamManager() : null;
const js: JetStreamClient | null = nc ? nc.jetstream() : null;
const streams: string[] = [];
const procs: NodeProcess[] = [];
const prefixes: string[] = [];
after(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  for (const s of streams) await jsm!.streams.delete(s).catch(() => {});
  await nc?.close();
  for (const p of prefixes) await deletePrefix(SHARED_REDIS_URL, p);
});

/** A fresh stream on subjects `<name>.>`, and its dead-letter stream registered for cleanup. */
async function stream(): Promise<string> {
  const name = uniqueName('sbt_js').replace(/[^A-Za-z0-9_-]/g, '_');
  streams.push(name, `${name}_dead`);
  await jsm!.streams.add({ name, subjects: [`${name}.>`] });
  return name;
}

/** Publishes `n` messages made by `make(i)`, 500 in flight at a time (one connection: stream order is send order). */
async function fill(s: string, n: number, make: (i: number) => { subject?: string; channel?: string; data: string }): Promise<void> {
  for (let start = 0; start < n; start += 500) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(n, start + 500); i++) {
      const m = make(i);
      const h = natsHeaders();
      if (m.channel !== undefined) h.set('Switchboard-Channel', m.channel);
      batch.push(js!.publish(m.subject ?? `${s}.in`, new TextEncoder().encode(m.data), { headers: h }));
    }
    await Promise.all(batch);
  }
}

/** Messages of the durable not acked yet: pending delivery plus delivered and unacked. */
async function left(s: string, durable = 'switchboard'): Promise<number> {
  try {
    const i = await jsm!.consumers.info(s, durable);
    return i.num_pending + i.num_ack_pending;
  } catch {
    return Infinity; // not created yet
  }
}

async function deadLetters(s: string): Promise<{ reason: string; seq: string; data: string }[]> {
  const info = await jsm!.streams.info(`${s}_dead`);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm!.streams.getMessage(`${s}_dead`, { seq });
    out.push({ reason: m.header.get('Switchboard-Reason'), seq: m.header.get('Switchboard-Sequence'), data: new TextDecoder().decode(m.data) });
  }
  return out;
}

test('channels by header and by subject route; poison messages go to the dead-letter subject with their reason', { skip }, async () => {
  const s = await stream();
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    adminSecret: ADMIN,
    broker: new MemoryBroker(),
    namespaces: { orders: { historySize: 100 }, other: { historySize: 100 } },
    consumers: [{ type: 'jetstream', name: 'js', url: NATS_URL, stream: s, maxBytes: 1000, namespaces: ['orders'], routes: [{ match: `${s}.orders.*.created`, channel: 'orders:{1}' }] }],
  });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'js' }) === 1, 10_000, 'consumer up');
    await fill(s, 10, (i) =>
      [
        { channel: 'orders:1', data: '{"n":1}' },
        { subject: `${s}.orders.7.created`, data: '{"r":7}' },
        { channel: 'orders:1', data: '{"n":' },
        { channel: 'orders:1', data: JSON.stringify({ big: 'x'.repeat(2000) }) },
        { subject: `${s}.misc`, data: '{}' },
        { channel: 'nope:1', data: '{}' },
        { channel: 'other:1', data: '{}' },
        { channel: 'bad channel!', data: '{}' },
        { channel: 'orders:1', data: '{"n":2}' },
        { channel: 'orders:1', data: '{"n":3}' },
      ][i]!,
    );
    await waitFor(async () => (await left(s)) === 0, 10_000, 'stream consumed');
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_published_total', { consumer: 'js' }) === 4, 10_000, 'published');
    assert.deepEqual((await node.broker.history('orders:1', { limit: 100 })).publications.map((p) => p.data), [{ n: 1 }, { n: 2 }, { n: 3 }], 'in order');
    assert.deepEqual((await node.broker.history('orders:7', { limit: 100 })).publications.map((p) => p.data), [{ r: 7 }], 'routed by subject');
    const dead = await deadLetters(s);
    assert.deepEqual(
      Object.fromEntries(dead.map((d) => [d.seq, d.reason])),
      { 3: 'bad_json', 4: 'too_large', 5: 'no_channel', 6: 'unknown_namespace', 7: 'not_allowed', 8: 'invalid_channel' },
    );
    assert.equal(dead.find((d) => d.seq === '3')!.data, '{"n":', 'the original payload');
    const m = await scrape(node.httpUrl);
    assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'js', kind: 'jetstream' }), 6);
    // The admin page's row (its table is rendered from these figures, test/integration/ingest-admin.test.ts).
    const stats = (await (await fetch(`${node.httpUrl}/admin/api/stats`, { headers: { 'X-Admin-Secret': ADMIN } })).json()) as { consumers: { name: string; kind: string; up: boolean; published: number; deadLetters: number }[] };
    assert.deepEqual(stats.consumers.map((c) => [c.name, c.kind, c.up, c.published, c.deadLetters]), [['js', 'jetstream', true, 4, 6]]);
  } finally {
    await node.close();
  }
});

test('a message delivered more than maxDeliver times is dead-lettered as max_deliver, the stream goes on', { skip }, async () => {
  const s = await stream();
  await jsm!.consumers.add(s, { durable_name: 'switchboard', ack_policy: AckPolicy.Explicit, ack_wait: 30e9 });
  await fill(s, 1, () => ({ channel: 'feed:md', data: JSON.stringify({ seq: 0 }) }));
  // Something else took message 1 three times and gave up on it (a crashing consumer would too).
  const c = await js!.consumers.get(s, 'switchboard');
  for (let i = 0; i < 3; i++) {
    const m = await c.next({ expires: 2000 });
    assert.equal(m?.seq, 1);
    m!.nak();
  }
  await fill(s, 1, () => ({ channel: 'feed:md', data: JSON.stringify({ seq: 1 }) }));
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker: new MemoryBroker(), namespaces: { feed: { historySize: 10 } }, consumers: [{ type: 'jetstream', name: 'js', url: NATS_URL, stream: s, maxDeliver: 3 }] });
  try {
    await waitFor(async () => (await left(s)) === 0, 10_000, 'consumed');
    assert.deepEqual((await node.broker.history('feed:md', { limit: 10 })).publications.map((p) => p.data), [{ seq: 1 }]);
    assert.deepEqual((await deadLetters(s)).map((d) => [d.seq, d.reason]), [['1', 'max_deliver']]);
    assert.equal(metricSum(await scrape(node.httpUrl), 'switchboard_consumer_dead_letters_total', { consumer: 'js', reason: 'max_deliver' }), 1);
  } finally {
    await node.close();
  }
});

test('a NATS that is down delays the consumer, never the node', { skip }, async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, consumers: [{ type: 'jetstream', name: 'dead', url: 'nats://127.0.0.1:1', stream: 's' }] });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'dead', error: 'source' }) >= 2, 10_000, 'source errors counted, retried');
    assert.equal(metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'dead' }), 0);
    assert.equal((await fetch(`${node.httpUrl}/healthz`)).status, 200);
  } finally {
    const t0 = Date.now();
    await node.close();
    assert.ok(Date.now() - t0 < 2000, 'close() does not wait out the retry backoff');
  }
  // A stream that does not exist: down, retried, no crash.
  const missing = await startNode({ port: 0, host: '127.0.0.1', insecure: true, consumers: [{ type: 'jetstream', name: 'ns', url: NATS_URL, stream: uniqueName('sbt_missing') }] });
  try {
    await waitFor(async () => metricSum(await scrape(missing.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'ns', error: 'source' }) >= 2, 10_000, 'retried');
    assert.equal(metricSum(await scrape(missing.httpUrl), 'switchboard_consumer_up', { consumer: 'ns' }), 0);
  } finally {
    await missing.close();
  }
});

test('two nodes on one durable: exclusive, one stands by and takes over in order; not exclusive, both consume and none is stored twice', { skip }, async () => {
  const opts = { port: 0, host: '127.0.0.1', insecure: true, namespaces: { feed: { historySize: 5000 } } };
  for (const exclusive of [true, false]) {
    const s = await stream();
    await fill(s, 4000, (i) => ({ channel: `feed:x${i % 4}`, data: JSON.stringify({ seq: Math.floor(i / 4) }) }));
    const broker = new MemoryBroker();
    const consumer = { type: 'jetstream', name: 'js', url: NATS_URL, stream: s, batchSize: 20, exclusive, leaseTime: 1, ackWait: 5 };
    const a = await startNode({ ...opts, broker, name: 'js-a', consumers: [consumer] });
    let b: Awaited<ReturnType<typeof startNode>> | null = null;
    try {
      await waitFor(async () => (await left(s)) < 3900, 10_000, 'a consuming');
      b = await startNode({ ...opts, broker, name: 'js-b', consumers: [consumer] });
      await waitFor(async () => metricSum(await scrape(b!.httpUrl), 'switchboard_consumer_up', { consumer: 'js' }) === 1, 10_000, 'b connected');
      if (exclusive) {
        await new Promise((res) => setTimeout(res, 300));
        assert.equal(metricSum(await scrape(b.httpUrl), 'switchboard_consumer_published_total'), 0, 'b publishes nothing while a holds the lease');
        await a.close();
        // a may have drained the stream already: 400 more messages that only b can publish.
        await fill(s, 400, (i) => ({ channel: `feed:x${(i + 4000) % 4}`, data: JSON.stringify({ seq: Math.floor((i + 4000) / 4) }) }));
      } else {
        await waitFor(async () => metricSum(await scrape(b!.httpUrl), 'switchboard_consumer_published_total') > 0, 10_000, 'b consuming too');
      }
      await waitFor(async () => (await left(s)) === 0, 30_000, 'the durable drained');
      const pa = metricSum(await scrape(a.httpUrl).catch(() => ''), 'switchboard_consumer_published_total');
      const pb = metricSum(await scrape(b.httpUrl), 'switchboard_consumer_published_total');
      assert.ok(pb > 0, 'b published');
      for (let k = 0; k < 4; k++) {
        const seqs = (await broker.history(`feed:x${k}`, { limit: 5000 })).publications.map((p) => (p.data as { seq: number }).seq);
        if (exclusive) assert.deepEqual(seqs, Array.from({ length: 1100 }, (_, i) => i), `channel ${k}: once each, in order across the takeover`);
        else assert.deepEqual([...seqs].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i), `channel ${k}: once each (a ${pa}, b ${pb})`);
      }
      if (!exclusive) {
        assert.ok(pa > 0, 'a published too');
        assert.equal(pa + pb, 4000, 'no message published twice');
      }
    } finally {
      await a.close();
      await b?.close();
      await broker.close();
    }
  }
});

test('10,000 messages arrive exactly once and in order per channel across a SIGKILL of the consuming node', { skip: skipRedis }, async (ctx) => {
  const s = await stream();
  const run = uniqueName('r');
  const prefix = uniqueName('sbt-jstream');
  prefixes.push(prefix);
  const channels = 10;
  await fill(s, 10_000, (i) => ({ channel: `feed:${run}-${i % channels}`, data: JSON.stringify({ k: i % channels, seq: Math.floor(i / channels) }) }));
  const broker = { type: 'redis', url: SHARED_REDIS_URL, prefix };
  const consumer = { consumers: [{ type: 'jetstream', name: 'js', url: NATS_URL, stream: s, namespaces: ['feed'], batchSize: 100, leaseTime: 2, ackWait: 3 }] };
  const rb = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
  const stored = async () => {
    let n = 0;
    for (let k = 0; k < channels; k++) n += (await rb.history(`feed:${run}-${k}`, { limit: 0 })).position.offset;
    return n;
  };
  try {
    const a = await startNodeProcess('js-a', broker, consumer);
    procs.push(a);
    await waitFor(async () => (await stored()) >= 4000, 30_000, 'node a published some');
    await a.kill('SIGKILL');
    const atKill = await stored();
    const info = await jsm!.consumers.info(s, 'switchboard');
    ctx.diagnostic(`at the kill: ${atKill} in history, ${info.num_ack_pending} delivered and not acked (${info.num_ack_pending + info.num_pending + atKill - 10_000} of them published), ${info.num_pending} not delivered`);
    assert.ok(info.num_pending + info.num_ack_pending > 0, 'killed before the end');
    const b = await startNodeProcess('js-b', broker, consumer);
    procs.push(b);
    await waitFor(async () => (await left(s)) === 0, 60_000, 'node b drained the durable');
    await waitFor(async () => (await stored()) >= 10_000, 10_000, 'all stored');
    for (let k = 0; k < channels; k++) {
      const seqs = ((await readAll(rb, `feed:${run}-${k}`)) as { seq: number }[]).map((d) => d.seq);
      assert.equal(seqs.length, 10_000 / channels, `channel ${k}: every message exactly once (got ${seqs.length})`);
      seqs.forEach((x, i) => assert.equal(x, i, `channel ${k}: position ${i} holds seq ${x}, order broken`));
    }
    if (info.num_ack_pending > 0) assert.match(b.output(), /gathered \d+ unacked messages/, 'b gathered the redeliveries first');
    await b.kill();
  } finally {
    await rb.close();
  }
});

test('while the broker is down messages are nacked with backoff, then delivered once in order', { skip }, async () => {
  const redis = await startRedis();
  const s = await stream();
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    broker: new RedisBroker({ url: redis.url }),
    namespaces: { feed: { historySize: 1000, historyTtl: 600 } },
    consumers: [{ type: 'jetstream', name: 'js', url: NATS_URL, stream: s, batchSize: 20 }],
  });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'js' }) === 1, 10_000, 'consumer up');
    await fill(s, 1, () => ({ channel: 'feed:down', data: '{"seq":-1}' }));
    await waitFor(async () => (await node.broker.history('feed:down', { limit: 10 })).publications.length === 1, 10_000, 'first message');
    await redis.kill();
    await fill(s, 200, (i) => ({ channel: 'feed:down', data: JSON.stringify({ seq: i }) }));
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'js', error: 'broker' }) >= 1, 10_000, 'a broker error counted');
    await new Promise((res) => setTimeout(res, 1000));
    assert.equal(await left(s), 200, 'nothing acked while the broker is down');
    assert.equal(metricSum(await scrape(node.httpUrl), 'switchboard_consumer_dead_letters_total', { consumer: 'js' }), 0);
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
