/**
 * The consumers' source connections cut in the middle of the stream (a TCP fault proxy in front of
 * the real PostgreSQL, RabbitMQ, Redis and NATS, every connection destroyed three times):
 * transactions in flight roll back, unacked messages are redelivered (acks in flight are lost, so
 * published inputs come back and are deduplicated by their keys), the consumers reconnect on their
 * own, and every input still lands in history exactly once and in order per channel.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { connect as natsConnect, headers as natsHeaders } from 'nats';
import pg from 'pg';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { startNode } from '../../src/app/index.ts';
import { FaultProxy } from '../helpers/fault-proxy.ts';
import { SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { AMQP_URL, metricSum, NATS_URL, PG_URL, requireUrl, scrape, uniqueName, waitUntil } from '../helpers/ingest.ts';

const pgUp = await requireUrl('PostgreSQL', PG_URL, 5432);
const amqpUp = await requireUrl('RabbitMQ', AMQP_URL, 5672);
const redisUp = await requireUrl('Redis', SHARED_REDIS_URL, 6379);
const natsUp = await requireUrl('NATS', NATS_URL, 4222);
const CHANNELS = 5;
const TOTAL = 5000;
const NS = { feed: { historySize: 10_000 } };

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** A URL like `url` but through the proxy's port. */
async function proxied(url: string, defaultPort: number): Promise<{ proxy: FaultProxy; url: string }> {
  const u = new URL(url);
  const proxy = new FaultProxy({ host: u.hostname, port: Number(u.port || defaultPort) });
  u.port = String(await proxy.listen());
  cleanups.push(() => proxy.close());
  return { proxy, url: u.toString() };
}

async function checkHistory(broker: MemoryBroker): Promise<void> {
  for (let k = 0; k < CHANNELS; k++) {
    const seqs = (await broker.history(`feed:f${k}`, { limit: 10_000 })).publications.map((p) => (p.data as { seq: number }).seq);
    assert.equal(seqs.length, TOTAL / CHANNELS, `channel ${k}: every input exactly once (got ${seqs.length})`);
    seqs.forEach((s, i) => assert.equal(s, i, `channel ${k}: position ${i} holds seq ${s}`));
  }
}

/** Cuts every proxied connection each time `left()` passes one of the thresholds, until it is 0. */
async function cutWhileDraining(proxy: FaultProxy, left: () => Promise<number>, thresholds: number[]): Promise<number> {
  let cuts = 0;
  for (const at of thresholds) {
    await waitUntil(async () => (await left()) <= at, 30_000, `down to ${at}`);
    cuts += proxy.cut(1);
  }
  return cuts;
}

test('outbox: database connections cut three times mid-stream; every row once, in order', { skip: !pgUp && 'no PostgreSQL (not CI)' }, async (ctx) => {
  const db = new pg.Pool({ connectionString: PG_URL, max: 2 });
  const t = uniqueName('sbt_outbox');
  cleanups.push(async () => {
    await db.query(`DROP TABLE IF EXISTS ${t}, ${t}_dead`);
    await db.end();
  });
  const { proxy, url } = await proxied(PG_URL, 5432);
  const broker = new MemoryBroker();
  cleanups.push(() => broker.close());
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker, namespaces: NS, consumers: [{ type: 'outbox', name: 'ob', url, table: t, batchSize: 50 }] });
  cleanups.push(() => node.close());
  await waitUntil(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'ob' }) === 1, 10_000, 'consumer up');
  // Inserted after start, so only NOTIFY (or the poll) can have told the consumer.
  await db.query(`INSERT INTO ${t} (channel, data) SELECT 'feed:f' || (g % ${CHANNELS}), jsonb_build_object('seq', g / ${CHANNELS}) FROM generate_series(0, ${TOTAL - 1}) g`);
  const count = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n;
  const cuts = await cutWhileDraining(proxy, count, [4000, 2500, 1000]);
  await waitUntil(async () => (await count()) === 0, 30_000, 'outbox drained');
  ctx.diagnostic(`${cuts} connections cut; errors counted: ${metricSum(await scrape(node.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'ob' })}`);
  assert.ok(cuts >= 3, 'the cuts hit live connections');
  await checkHistory(broker);
  await waitUntil(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'ob' }) === 1, 10_000, 'listening again');
});

test('rabbitmq: connection cut three times mid-stream; every message once, in order', { skip: !amqpUp && 'no RabbitMQ (not CI)' }, async () => {
  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createConfirmChannel();
  const q = uniqueName('sbt.q');
  await ch.assertQueue(q, { durable: false });
  cleanups.push(async () => {
    await ch.deleteQueue(q);
    await conn.close();
  });
  for (let i = 0; i < TOTAL; i++) {
    const k = i % CHANNELS;
    ch.sendToQueue(q, Buffer.from(JSON.stringify({ seq: Math.floor(i / CHANNELS) })), { messageId: `f-${i}`, headers: { 'x-switchboard-channel': `feed:f${k}` } });
  }
  await ch.waitForConfirms();
  const { proxy, url } = await proxied(AMQP_URL, 5672);
  const broker = new MemoryBroker();
  cleanups.push(() => broker.close());
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker, namespaces: NS, consumers: [{ type: 'rabbitmq', name: 'rq', url, queue: q, batchSize: 50 }] });
  cleanups.push(() => node.close());
  const stored = async () => {
    let n = 0;
    for (let k = 0; k < CHANNELS; k++) n += (await broker.history(`feed:f${k}`, { limit: 0 })).position.offset;
    return TOTAL - n;
  };
  const cuts = await cutWhileDraining(proxy, stored, [4000, 2500, 1000]);
  assert.ok(cuts >= 3, 'the cuts hit live connections');
  await waitUntil(async () => (await stored()) === 0, 30_000, 'all stored');
  await waitUntil(async () => (await ch.checkQueue(q)).messageCount === 0, 10_000, 'queue drained');
  await checkHistory(broker);
});

/** Inputs not yet in history (of TOTAL over the CHANNELS channels). */
function notStored(broker: MemoryBroker): () => Promise<number> {
  return async () => {
    let n = 0;
    for (let k = 0; k < CHANNELS; k++) n += (await broker.history(`feed:f${k}`, { limit: 0 })).position.offset;
    return TOTAL - n;
  };
}

test('redis-stream: connections cut three times mid-stream; every entry once, in order', { skip: !redisUp && 'no Redis (not CI)' }, async (ctx) => {
  const r = new Redis(SHARED_REDIS_URL);
  const s = uniqueName('sbt:fault');
  cleanups.push(async () => {
    await r.del(s, `${s}:dead`, `switchboard:lease:${s}:switchboard`);
    r.disconnect();
  });
  const p = r.pipeline();
  for (let i = 0; i < TOTAL; i++) p.xadd(s, '*', 'channel', `feed:f${i % CHANNELS}`, 'data', JSON.stringify({ seq: Math.floor(i / CHANNELS) }));
  await p.exec();
  const { proxy, url } = await proxied(SHARED_REDIS_URL, 6379);
  const broker = new MemoryBroker();
  cleanups.push(() => broker.close());
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker, namespaces: NS, consumers: [{ type: 'redis-stream', name: 'rs', url, stream: s, batchSize: 50 }] });
  cleanups.push(() => node.close());
  const left = notStored(broker);
  const cuts = await cutWhileDraining(proxy, left, [4000, 2500, 1000]);
  assert.ok(cuts >= 3, 'the cuts hit live connections');
  await waitUntil(async () => (await left()) === 0, 30_000, 'all stored');
  await waitUntil(async () => Number(((await r.xpending(s, 'switchboard')) as [number])[0]) === 0, 10_000, 'nothing pending');
  ctx.diagnostic(`${cuts} connections cut; published ${metricSum(await scrape(node.httpUrl), 'switchboard_consumer_published_total', { consumer: 'rs' })} for ${TOTAL} entries (above ${TOTAL}: replays, deduplicated)`);
  await checkHistory(broker);
});

test('jetstream: connection cut three times mid-stream; every message once, in order', { skip: !natsUp && 'no NATS (not CI)' }, async (ctx) => {
  const nc = await natsConnect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const s = uniqueName('sbt_fault').replace(/[^A-Za-z0-9_-]/g, '_');
  await jsm.streams.add({ name: s, subjects: [`${s}.>`] });
  cleanups.push(async () => {
    await jsm.streams.delete(s).catch(() => {});
    await jsm.streams.delete(`${s}_dead`).catch(() => {});
    await nc.close();
  });
  for (let start = 0; start < TOTAL; start += 500) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < start + 500; i++) {
      const h = natsHeaders();
      h.set('Switchboard-Channel', `feed:f${i % CHANNELS}`);
      batch.push(js.publish(`${s}.in`, new TextEncoder().encode(JSON.stringify({ seq: Math.floor(i / CHANNELS) })), { headers: h }));
    }
    await Promise.all(batch);
  }
  const { proxy, url } = await proxied(NATS_URL, 4222);
  const broker = new MemoryBroker();
  cleanups.push(() => broker.close());
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker, namespaces: NS, consumers: [{ type: 'jetstream', name: 'js', url: url.replace(/\/$/, ''), stream: s, batchSize: 50, ackWait: 2, leaseTime: 1 }] });
  cleanups.push(() => node.close());
  const left = notStored(broker);
  const cuts = await cutWhileDraining(proxy, left, [4000, 2500, 1000]);
  assert.ok(cuts >= 3, 'the cuts hit live connections');
  await waitUntil(async () => (await left()) === 0, 40_000, 'all stored');
  await waitUntil(async () => {
    const i = await jsm.consumers.info(s, 'switchboard');
    return i.num_pending + i.num_ack_pending === 0;
  }, 20_000, 'everything acked');
  ctx.diagnostic(`${cuts} connections cut; published ${metricSum(await scrape(node.httpUrl), 'switchboard_consumer_published_total', { consumer: 'js' })} for ${TOTAL} messages (above ${TOTAL}: replays, deduplicated)`);
  await checkHistory(broker);
});

