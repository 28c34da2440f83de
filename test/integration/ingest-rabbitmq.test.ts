/**
 * The RabbitMQ consumer against the real RabbitMQ (and Redis): channels by header and by
 * routing-key route, poison messages copied to the dead-letter queue with their reason, 10,000
 * messages exactly once and in order per channel across a SIGKILL of the consuming node, and
 * nack+requeue (nothing lost, nothing dead-lettered) while Switchboard's broker is down.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ConfirmChannel, type Options } from 'amqplib';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { deletePrefix, SHARED_REDIS_URL, startRedis } from '../helpers/cluster-redis.ts';
import { startNodeProcess, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { AMQP_URL, metricSum, readAll, requireUrl, scrape, uniqueName, waitUntil as waitFor } from '../helpers/ingest.ts';

const amqpUp = await requireUrl('RabbitMQ', AMQP_URL, 5672);
const redisUp = await requireUrl('Redis', SHARED_REDIS_URL, 6379);
const skip = !amqpUp ? 'no RabbitMQ (not CI)' : false;
const skipRedis = !amqpUp || !redisUp ? 'no RabbitMQ or Redis (not CI)' : false;

const conn = amqpUp ? await amqp.connect(AMQP_URL) : null;
const queues: string[] = [];
const exchanges: string[] = [];
const procs: NodeProcess[] = [];
const prefixes: string[] = [];
after(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  if (conn) {
    const ch = await conn.createChannel();
    for (const q of queues) await ch.deleteQueue(q);
    for (const x of exchanges) await ch.deleteExchange(x);
    await conn.close();
  }
  for (const p of prefixes) await deletePrefix(SHARED_REDIS_URL, p);
});

async function channel(): Promise<ConfirmChannel> {
  return conn!.createConfirmChannel();
}

async function queue(ch: ConfirmChannel): Promise<string> {
  const q = uniqueName('sbt.q');
  queues.push(q);
  await ch.assertQueue(q, { durable: false });
  return q;
}

function send(ch: ConfirmChannel, q: string, body: string | Buffer, opts: Options.Publish = {}): void {
  ch.sendToQueue(q, Buffer.isBuffer(body) ? body : Buffer.from(body), { contentType: 'application/json', ...opts });
}

async function depth(ch: ConfirmChannel, q: string): Promise<number> {
  return (await ch.checkQueue(q)).messageCount;
}

test('channels by header and by route; poison messages go to the dead-letter queue with their reason', { skip }, async () => {
  const ch = await channel();
  const q = await queue(ch);
  const dlq = `${q}.dead`;
  queues.push(dlq);
  const x = uniqueName('sbt.x');
  exchanges.push(x);
  await ch.assertExchange(x, 'topic', { durable: false });
  await ch.bindQueue(q, x, '#');
  const node: SwitchboardNode = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    broker: new MemoryBroker(),
    namespaces: { orders: { historySize: 100 }, other: { historySize: 100 } },
    consumers: [
      { type: 'rabbitmq', name: 'rq', url: AMQP_URL, queue: q, deadLetterQueue: dlq, maxBytes: 1000, namespaces: ['orders'], routes: [{ match: 'orders.*.created', channel: 'orders:{1}' }] },
    ],
  });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'rq' }) === 1, 10_000, 'consumer up');
    const pub = (key: string, body: string, opts: Options.Publish = {}) => ch.publish(x, key, Buffer.from(body), { contentType: 'application/json', ...opts });
    pub('any', '{"n":1}', { messageId: 'a1', headers: { 'x-switchboard-channel': 'orders:1' } });
    pub('orders.7.created', '{"r":7}', { messageId: 'a2' });
    pub('any', '{"n":', { messageId: 'bad1', headers: { 'x-switchboard-channel': 'orders:1' } });
    pub('any', JSON.stringify({ big: 'x'.repeat(2000) }), { messageId: 'bad2', headers: { 'x-switchboard-channel': 'orders:1' } });
    pub('misc.thing', '{"n":99}', { messageId: 'bad3' });
    pub('any', '{"n":99}', { messageId: 'bad4', headers: { 'x-switchboard-channel': 'nope:1' } });
    pub('any', '{"n":99}', { messageId: 'bad5', headers: { 'x-switchboard-channel': 'other:1' } });
    pub('any', '{"n":99}', { messageId: 'bad6', headers: { 'x-switchboard-channel': 'bad channel!' } });
    pub('any', '{"n":2}', { messageId: 'a3', headers: { 'x-switchboard-channel': 'orders:1' } });
    pub('any', '{"n":2}', { messageId: 'a3', headers: { 'x-switchboard-channel': 'orders:1' } });
    pub('any', '{"n":3}', { messageId: 'a4', headers: { 'x-switchboard-channel': 'orders:1' } });
    await ch.waitForConfirms();
    await waitFor(async () => (await depth(ch, q)) === 0 && (await depth(ch, dlq)) === 6, 10_000, 'queue drained, 6 dead letters');
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_published_total', { consumer: 'rq' }) === 5, 10_000, 'published');
    assert.deepEqual(
      (await node.broker.history('orders:1', { limit: 100 })).publications.map((p) => p.data),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
      'in order, the redelivered-looking duplicate a3 stored once',
    );
    assert.deepEqual((await node.broker.history('orders:7', { limit: 100 })).publications.map((p) => p.data), [{ r: 7 }], 'routed by routing key');
    const dead: Record<string, string> = {};
    for (let i = 0; i < 6; i++) {
      const m = await ch.get(dlq, { noAck: true });
      assert.ok(m, 'a dead letter');
      const h = m.properties.headers!;
      dead[String(m.properties.messageId)] = String(h['x-switchboard-reason']);
      assert.ok(String(h['x-switchboard-error']).length > 0);
      assert.equal(h['x-switchboard-queue'], q);
    }
    assert.deepEqual(dead, { bad1: 'bad_json', bad2: 'too_large', bad3: 'no_channel', bad4: 'unknown_namespace', bad5: 'not_allowed', bad6: 'invalid_channel' });
    const m = await scrape(node.httpUrl);
    assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'rq', kind: 'rabbitmq' }), 6);
    assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'rq', reason: 'no_channel' }), 1);
  } finally {
    await node.close();
    await ch.close();
  }
});

test('a RabbitMQ that is down delays the consumer, never the node', { skip }, async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, consumers: [{ type: 'rabbitmq', name: 'dead', url: 'amqp://guest:guest@127.0.0.1:1', queue: 'q' }] });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'dead', error: 'source' }) >= 1, 10_000, 'source error counted');
    assert.equal(metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'dead' }), 0);
    assert.equal((await fetch(`${node.httpUrl}/healthz`)).status, 200);
  } finally {
    const t0 = Date.now();
    await node.close();
    assert.ok(Date.now() - t0 < 2000, 'close() does not wait out the retry backoff');
  }
  // A queue that does not exist (and declare is off): down, retried, no crash.
  const missing = await startNode({ port: 0, host: '127.0.0.1', insecure: true, consumers: [{ type: 'rabbitmq', name: 'nq', url: AMQP_URL, queue: uniqueName('sbt.missing') }] });
  try {
    await waitFor(async () => metricSum(await scrape(missing.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'nq', error: 'source' }) >= 2, 10_000, 'retried');
    assert.equal(metricSum(await scrape(missing.httpUrl), 'switchboard_consumer_up', { consumer: 'nq' }), 0);
  } finally {
    await missing.close();
  }
});

test('a graceful stop acks every message it published: none is left to replay', { skip }, async () => {
  const ch = await channel();
  const q = await queue(ch);
  for (let i = 0; i < 3000; i++) send(ch, q, JSON.stringify({ seq: i }), { messageId: `g-${i}`, headers: { 'x-switchboard-channel': 'feed:g' } });
  await ch.waitForConfirms();
  const broker = new MemoryBroker();
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker, namespaces: { feed: { historySize: 5000 } }, consumers: [{ type: 'rabbitmq', name: 'rq', url: AMQP_URL, queue: q }] });
  await waitFor(async () => (await depth(ch, q)) <= 2000, 20_000, 'some consumed');
  await node.close();
  try {
    const stored = (await broker.history('feed:g', { limit: 5000 })).publications.map((p) => (p.data as { seq: number }).seq);
    // RabbitMQ counts the requeued unacked messages as ready once the connection is gone.
    await waitFor(async () => (await depth(ch, q)) + stored.length >= 3000, 10_000, 'unacked requeued');
    assert.equal((await depth(ch, q)) + stored.length, 3000, 'every published message was acked before the stop');
    assert.deepEqual(stored, Array.from({ length: stored.length }, (_, i) => i), 'a prefix, in order');
  } finally {
    await broker.close();
    await ch.close();
  }
});

test('two nodes on one queue: one consumes, the other stands by and takes over in order when it stops', { skip }, async () => {
  const ch = await channel();
  const q = await queue(ch);
  for (let i = 0; i < 4000; i++) send(ch, q, JSON.stringify({ seq: Math.floor(i / 4) }), { messageId: `x-${i}`, headers: { 'x-switchboard-channel': `feed:x${i % 4}` } });
  await ch.waitForConfirms();
  const broker = new MemoryBroker();
  const opts = { port: 0, host: '127.0.0.1', insecure: true, broker, namespaces: { feed: { historySize: 5000 } } };
  const a = await startNode({ ...opts, name: 'rq-a', consumers: [{ type: 'rabbitmq', name: 'rq', url: AMQP_URL, queue: q, batchSize: 20 }] });
  await waitFor(async () => (await depth(ch, q)) < 4000, 10_000, 'a consuming');
  const b = await startNode({ ...opts, name: 'rq-b', consumers: [{ type: 'rabbitmq', name: 'rq', url: AMQP_URL, queue: q, batchSize: 20 }] });
  try {
    await waitFor(async () => metricSum(await scrape(b.httpUrl), 'switchboard_consumer_up', { consumer: 'rq' }) === 1, 10_000, 'b connected (standing by)');
    assert.equal(metricSum(await scrape(b.httpUrl), 'switchboard_consumer_published_total'), 0, 'b publishes nothing while a has the queue');
    await a.close();
    await waitFor(async () => (await depth(ch, q)) === 0 && metricSum(await scrape(b.httpUrl), 'switchboard_consumer_published_total') > 0, 20_000, 'b took over and drained the queue');
    for (let k = 0; k < 4; k++) {
      const seqs = (await broker.history(`feed:x${k}`, { limit: 5000 })).publications.map((p) => (p.data as { seq: number }).seq);
      assert.deepEqual(seqs, Array.from({ length: 1000 }, (_, i) => i), `channel ${k}: once each, in order across the takeover`);
    }
  } finally {
    await a.close();
    await b.close();
    await broker.close();
    await ch.close();
  }
});

test('10,000 messages arrive exactly once and in order per channel across a SIGKILL of the consuming node', { skip: skipRedis }, async (ctx) => {
  const ch = await channel();
  const q = await queue(ch);
  const run = uniqueName('r');
  const prefix = uniqueName('sbt-rabbit');
  prefixes.push(prefix);
  const channels = 10;
  for (let i = 0; i < 10_000; i++) {
    const k = i % channels;
    send(ch, q, JSON.stringify({ k, seq: Math.floor(i / channels) }), { messageId: `m-${i}`, headers: { 'x-switchboard-channel': `feed:${run}-${k}` } });
  }
  await ch.waitForConfirms();
  const broker = { type: 'redis', url: SHARED_REDIS_URL, prefix };
  const consumer = { consumers: [{ type: 'rabbitmq', name: 'rq', url: AMQP_URL, queue: q, namespaces: ['feed'], batchSize: 100 }] };
  const a = await startNodeProcess('rq-a', broker, consumer);
  procs.push(a);
  await waitFor(async () => (await depth(ch, q)) <= 6000, 30_000, 'node a consumed some');
  await a.kill('SIGKILL');
  const rb = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
  try {
    let stored = 0;
    for (let k = 0; k < channels; k++) stored += (await readAll(rb, `feed:${run}-${k}`)).length;
    // RabbitMQ takes the dead connection's unacked messages back; their count shows once requeued.
    await waitFor(async () => (await depth(ch, q)) + stored >= 10_000, 10_000, 'unacked requeued');
    const left = await depth(ch, q);
    ctx.diagnostic(`at the kill: ${stored} in history, ${left} messages in the queue (${stored + left - 10_000} published but not acked)`);
    assert.ok(left > 0, 'killed before the end');
    const b = await startNodeProcess('rq-b', broker, consumer);
    procs.push(b);
    await waitFor(async () => (await depth(ch, q)) === 0, 40_000, 'node b drained the queue');
    let total = 0;
    await waitFor(async () => {
      total = 0;
      for (let k = 0; k < channels; k++) total += (await readAll(rb, `feed:${run}-${k}`)).length;
      return total >= 10_000;
    }, 10_000, 'last acks stored');
    for (let k = 0; k < channels; k++) {
      const seqs = ((await readAll(rb, `feed:${run}-${k}`)) as { seq: number }[]).map((d) => d.seq);
      assert.equal(seqs.length, 10_000 / channels, `channel ${k}: every message exactly once (got ${seqs.length})`);
      seqs.forEach((s, i) => assert.equal(s, i, `channel ${k}: position ${i} holds seq ${s}, order broken`));
    }
    await b.kill();
  } finally {
    await rb.close();
    await ch.close();
  }
});

test('while the broker is down messages are nacked and requeued, then delivered once in order', { skip }, async () => {
  const redis = await startRedis();
  const ch = await channel();
  const q = await queue(ch);
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    broker: new RedisBroker({ url: redis.url }),
    namespaces: { feed: { historySize: 1000, historyTtl: 600 } },
    consumers: [{ type: 'rabbitmq', name: 'rq', url: AMQP_URL, queue: q, batchSize: 20 }],
  });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'rq' }) === 1, 10_000, 'consumer up');
    send(ch, q, '{"seq":-1}', { messageId: 'warm', headers: { 'x-switchboard-channel': 'feed:down' } });
    await waitFor(async () => (await node.broker.history('feed:down', { limit: 10 })).publications.length === 1, 10_000, 'first message');
    await redis.kill();
    await waitFor(() => !node.broker.connected, 10_000, 'broker disconnected');
    for (let i = 0; i < 200; i++) send(ch, q, JSON.stringify({ seq: i }), { messageId: `d-${i}`, headers: { 'x-switchboard-channel': 'feed:down' } });
    await ch.waitForConfirms();
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'rq', error: 'broker' }) >= 1, 10_000, 'a broker error counted');
    // Everything handed back (ready again), nothing dead-lettered or lost.
    await waitFor(async () => (await depth(ch, q)) === 200, 10_000, '200 ready in the queue');
    const m = await scrape(node.httpUrl);
    assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'rq' }), 0);
    assert.ok(metricSum(m, 'switchboard_consumer_lag_seconds', { consumer: 'rq' }) > 0, 'lag grows while paused');
    await redis.restart();
    await waitFor(() => node.broker.connected, 15_000, 'broker back');
    // Redis came back empty (no persistence): the 200 are the new stream.
    await waitFor(async () => (await depth(ch, q)) === 0, 20_000, 'queue drained after the broker returned');
    await waitFor(async () => (await node.broker.history('feed:down', { limit: 1000 })).publications.length === 200, 10_000, '200 in history');
    const seqs = (await node.broker.history('feed:down', { limit: 1000 })).publications.map((p) => (p.data as { seq: number }).seq);
    assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i), 'once each, in order');
  } finally {
    await node.close();
    await node.broker.close();
    await ch.close();
    await redis.stop();
  }
});
