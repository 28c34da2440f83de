/**
 * Event ingestion rate: rows per second from a PostgreSQL outbox into channel history (src/ingest),
 * and messages per second from a RabbitMQ queue, a Redis stream and a JetStream stream, with naive
 * relays beside them as the anchors.
 *
 *   npx tsx bench/ingest.ts [--rows 20000] [--channels 1,100] [--brokers memory,redis]
 *                           [--batch 100] [--concurrency 4] [--rabbitmq] [--streams] [--json]
 *                           [--pg postgres://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379]
 *                           [--amqp amqp://guest:guest@127.0.0.1:5672] [--nats nats://127.0.0.1:4222]
 *
 * Each run fills a fresh table (or queue) with `rows` 100-byte JSON rows spread round-robin over
 * `channels` channels, then starts one in-process node with the consumer and times from the start
 * until every row is published (the consumer's own counter) and the table is empty. History is on
 * (100 kept), like a chat namespace.
 *
 * Rows:
 * - `outbox` — the consumer as shipped: claim per partition under an advisory lock, FOR UPDATE
 *   SKIP LOCKED, one channel's rows one after the other, keyed publishes, delete, commit.
 * - `naive-outbox` (the anchor) — what a minimal outbox relay does: `DELETE … RETURNING` 500 rows
 *   and publish them all at once, unkeyed. No ordering per channel, no exactly-once (a crash after
 *   the DELETE loses the batch): the price of the guarantees is the gap between the two rows.
 * - `rabbitmq` (with --rabbitmq) — the queue consumer, `batch` as prefetch, every message with a
 *   message_id and a channel header.
 * - `redis-stream` (with --streams) — the consumer group reader as shipped (exclusive lease,
 *   XREADGROUP COUNT batch, keyed publishes, XACK); the stream lives on the `--redis` server.
 * - `naive-redis-stream` (with --streams, the stream anchor) — XRANGE 500 entries and publish them
 *   all at once, unkeyed, no group and no acks: what the guarantees cost on this source.
 * - `jetstream` (with --streams) — the durable pull consumer, `batch` as max_ack_pending, a channel header.
 * - `naive-jetstream` (with --streams, the JetStream anchor) — consume() and for each message
 *   publish unkeyed without waiting and ack at once: the client's own rate with no ordering and
 *   no exactly-once (a crash loses what was acked but not yet stored).
 *
 * `--systems outbox,jetstream,…` runs only those rows (default: all that the flags enable).
 *
 * Pitfalls: PostgreSQL, Redis and the node share the machine's cores; with one channel the
 * consumer is bound by one publish round trip per row (rows of a channel are never in flight
 * together), so `channels` matters more than `batch`.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Broker } from '../src/broker/broker.ts';
import { randomId } from '../src/broker/broker.ts';
import { MemoryBroker } from '../src/broker/memory.ts';
import { RedisBroker } from '../src/broker/redis.ts';
import { outboxSchemaSql } from '../src/ingest/outbox-sql.ts';
import { startNode, type SwitchboardNode } from '../src/app/node.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '20000' },
    channels: { type: 'string', default: '1,100' },
    brokers: { type: 'string', default: 'memory,redis' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '4' },
    rabbitmq: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    amqp: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    streams: { type: 'boolean', default: false },
    nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
    systems: { type: 'string', default: '' },
  },
});
const ROWS = Number(values.rows);
const BATCH = Number(values.batch);
const CONCURRENCY = Number(values.concurrency);
const NS = { feed: { historySize: 100, historyTtl: 600 } };
/** Set, so the nodes print neither the dev-mode admin secret nor the missing-cluster-secret warning into the output. */
const QUIET = { adminSecret: 'bench-ingest-admin-secret', clusterSecret: 'bench-ingest-cluster-secret' };
const log = (s: string) => process.stderr.write(`[bench ingest] ${s}\n`);

interface Row {
  scenario: 'ingest';
  system: string;
  broker: string;
  channels: number;
  rows: number;
  rowsPerSec: number;
}

const db = new pg.Pool({ connectionString: values.pg, max: 4 });

async function fill(table: string, channels: number): Promise<void> {
  await db.query(outboxSchemaSql(table));
  await db.query(
    `INSERT INTO ${table} (channel, data) SELECT 'feed:b-' || (g % $1), jsonb_build_object('seq', g, 'text', repeat('x', 80)) FROM generate_series(0, $2::int - 1) g`,
    [channels, ROWS],
  );
  await db.query(`ANALYZE ${table}`);
}

function makeBroker(kind: string, prefix: string): Broker {
  return kind === 'redis' ? new RedisBroker({ url: values.redis, prefix }) : new MemoryBroker();
}

async function cleanup(broker: Broker, kind: string, prefix: string): Promise<void> {
  await broker.close();
  if (kind !== 'redis') return;
  const { Redis } = await import('ioredis');
  const r = new Redis(values.redis);
  const keys = await r.keys(`${prefix}:*`);
  if (keys.length > 0) await r.del(...keys);
  r.disconnect();
}

function published(node: SwitchboardNode): number {
  let n = 0;
  for (const c of node.metrics.consumers) n += c.published;
  return n;
}

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 5));
}

async function outbox(kind: string, channels: number): Promise<Row> {
  const table = `sbbench_${randomId(4).toLowerCase().replace(/[^a-z0-9]/g, '')}`;
  const prefix = `sbbench${randomId(3)}`;
  await fill(table, channels);
  const broker = makeBroker(kind, prefix);
  const t0 = performance.now();
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    ...QUIET,
    broker,
    namespaces: NS,
    consumers: [{ type: 'outbox', url: values.pg, table, batchSize: BATCH, concurrency: CONCURRENCY, migrate: false }],
  });
  try {
    await until(() => published(node) >= ROWS);
    const ms = performance.now() - t0;
    const left = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
    if (left !== 0) throw new Error(`${left} rows left after all were published`);
    return { scenario: 'ingest', system: 'outbox', broker: kind, channels, rows: ROWS, rowsPerSec: Math.round((ROWS / ms) * 1000) };
  } finally {
    await node.close();
    await cleanup(broker, kind, prefix);
    await db.query(`DROP TABLE ${table}, ${table}_dead`);
  }
}

/** The anchor: DELETE … RETURNING 500 rows, publish them all at once without keys, repeat. */
async function naive(kind: string, channels: number): Promise<Row> {
  const table = `sbbench_${randomId(4).toLowerCase().replace(/[^a-z0-9]/g, '')}`;
  const prefix = `sbbench${randomId(3)}`;
  await fill(table, channels);
  const broker = makeBroker(kind, prefix);
  broker.setHandler({ onPublication() {}, onJoin() {}, onLeave() {}, onStreamReset() {} });
  const opts = { historySize: NS.feed.historySize, historyTtlMs: NS.feed.historyTtl * 1000 };
  const t0 = performance.now();
  let n = 0;
  try {
    for (;;) {
      const r = await db.query<{ channel: string; data: unknown }>(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} ORDER BY id LIMIT 500) RETURNING channel, data`);
      if (r.rows.length === 0) break;
      await Promise.all(r.rows.map((row) => broker.publish(row.channel, row.data, opts)));
      n += r.rows.length;
    }
    const ms = performance.now() - t0;
    if (n !== ROWS) throw new Error(`naive relay moved ${n} of ${ROWS}`);
    return { scenario: 'ingest', system: 'naive-outbox', broker: kind, channels, rows: ROWS, rowsPerSec: Math.round((ROWS / ms) * 1000) };
  } finally {
    await cleanup(broker, kind, prefix);
    await db.query(`DROP TABLE ${table}, ${table}_dead`);
  }
}

async function rabbit(kind: string, channels: number): Promise<Row> {
  const amqp = await import('amqplib');
  const conn = await amqp.connect(values.amqp);
  const ch = await conn.createConfirmChannel();
  const queue = `sbbench.${randomId(4)}`;
  await ch.assertQueue(queue, { durable: false });
  const body = (i: number) => Buffer.from(JSON.stringify({ seq: i, text: 'x'.repeat(80) }));
  for (let i = 0; i < ROWS; i++) {
    if (!ch.sendToQueue(queue, body(i), { messageId: `m${i}`, headers: { 'x-switchboard-channel': `feed:b-${i % channels}` } })) await new Promise((r) => ch.once('drain', r));
  }
  await ch.waitForConfirms();
  const prefix = `sbbench${randomId(3)}`;
  const broker = makeBroker(kind, prefix);
  const t0 = performance.now();
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, ...QUIET, broker, namespaces: NS, consumers: [{ type: 'rabbitmq', url: values.amqp, queue, batchSize: BATCH }] });
  try {
    await until(() => published(node) >= ROWS);
    const ms = performance.now() - t0;
    return { scenario: 'ingest', system: 'rabbitmq', broker: kind, channels, rows: ROWS, rowsPerSec: Math.round((ROWS / ms) * 1000) };
  } finally {
    await node.close();
    await cleanup(broker, kind, prefix);
    await ch.deleteQueue(queue);
    await conn.close();
  }
}

/** XADDs ROWS entries round-robin over `channels`, pipelined. */
async function fillStream(r: import('ioredis').Redis, key: string, channels: number): Promise<void> {
  for (let start = 0; start < ROWS; start += 1000) {
    const p = r.pipeline();
    for (let i = start; i < Math.min(ROWS, start + 1000); i++) p.xadd(key, '*', 'channel', `feed:b-${i % channels}`, 'data', JSON.stringify({ seq: i, text: 'x'.repeat(80) }));
    await p.exec();
  }
}

async function redisStream(kind: string, channels: number): Promise<Row> {
  const { Redis } = await import('ioredis');
  const r = new Redis(values.redis);
  const key = `sbbench:stream:${randomId(4)}`;
  await fillStream(r, key, channels);
  const prefix = `sbbench${randomId(3)}`;
  const broker = makeBroker(kind, prefix);
  const t0 = performance.now();
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, ...QUIET, broker, namespaces: NS, consumers: [{ type: 'redis-stream', url: values.redis, stream: key, batchSize: BATCH }] });
  try {
    await until(() => published(node) >= ROWS);
    const ms = performance.now() - t0;
    return { scenario: 'ingest', system: 'redis-stream', broker: kind, channels, rows: ROWS, rowsPerSec: Math.round((ROWS / ms) * 1000) };
  } finally {
    await node.close();
    await cleanup(broker, kind, prefix);
    await r.del(key, `${key}:dead`, `switchboard:lease:${key}:switchboard`);
    r.disconnect();
  }
}

/** The stream anchor: XRANGE 500 entries, publish them all at once without keys, repeat; no group, no acks. */
async function naiveStream(kind: string, channels: number): Promise<Row> {
  const { Redis } = await import('ioredis');
  const r = new Redis(values.redis);
  const key = `sbbench:stream:${randomId(4)}`;
  await fillStream(r, key, channels);
  const prefix = `sbbench${randomId(3)}`;
  const broker = makeBroker(kind, prefix);
  broker.setHandler({ onPublication() {}, onJoin() {}, onLeave() {}, onStreamReset() {} });
  const opts = { historySize: NS.feed.historySize, historyTtlMs: NS.feed.historyTtl * 1000 };
  const t0 = performance.now();
  let n = 0;
  let from = '-';
  try {
    for (;;) {
      const entries = await r.xrange(key, from, '+', 'COUNT', 500);
      if (entries.length === 0) break;
      await Promise.all(entries.map(([, f]) => broker.publish(f[1]!, JSON.parse(f[3]!), opts)));
      n += entries.length;
      from = `(${entries[entries.length - 1]![0]}`;
    }
    const ms = performance.now() - t0;
    if (n !== ROWS) throw new Error(`naive stream relay moved ${n} of ${ROWS}`);
    return { scenario: 'ingest', system: 'naive-redis-stream', broker: kind, channels, rows: ROWS, rowsPerSec: Math.round((ROWS / ms) * 1000) };
  } finally {
    await cleanup(broker, kind, prefix);
    await r.del(key);
    r.disconnect();
  }
}

/** A fresh JetStream stream with ROWS messages round-robin over `channels` (header-named). */
async function fillJetStream(channels: number) {
  const { connect, headers } = await import('nats');
  const nc = await connect({ servers: values.nats });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const stream = `sbbench_${randomId(4).replace(/[^A-Za-z0-9]/g, '')}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  const enc = new TextEncoder();
  for (let start = 0; start < ROWS; start += 500) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(ROWS, start + 500); i++) {
      const h = headers();
      h.set('Switchboard-Channel', `feed:b-${i % channels}`);
      batch.push(js.publish(`${stream}.in`, enc.encode(JSON.stringify({ seq: i, text: 'x'.repeat(80) })), { headers: h }));
    }
    await Promise.all(batch);
  }
  return { nc, jsm, js, stream };
}

async function jetstream(kind: string, channels: number): Promise<Row> {
  const { nc, jsm, stream } = await fillJetStream(channels);
  const prefix = `sbbench${randomId(3)}`;
  const broker = makeBroker(kind, prefix);
  const t0 = performance.now();
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, ...QUIET, broker, namespaces: NS, consumers: [{ type: 'jetstream', url: values.nats, stream, batchSize: BATCH }] });
  try {
    await until(() => published(node) >= ROWS);
    const ms = performance.now() - t0;
    return { scenario: 'ingest', system: 'jetstream', broker: kind, channels, rows: ROWS, rowsPerSec: Math.round((ROWS / ms) * 1000) };
  } finally {
    await node.close();
    await cleanup(broker, kind, prefix);
    await jsm.streams.delete(stream).catch(() => {});
    await jsm.streams.delete(`${stream}_dead`).catch(() => {});
    await nc.close();
  }
}

/** The JetStream anchor: consume, publish each message unkeyed without waiting, ack at once. */
async function naiveJetStream(kind: string, channels: number): Promise<Row> {
  const { AckPolicy } = await import('nats');
  const { nc, jsm, js, stream } = await fillJetStream(channels);
  const prefix = `sbbench${randomId(3)}`;
  const broker = makeBroker(kind, prefix);
  broker.setHandler({ onPublication() {}, onJoin() {}, onLeave() {}, onStreamReset() {} });
  const opts = { historySize: NS.feed.historySize, historyTtlMs: NS.feed.historyTtl * 1000 };
  await jsm.consumers.add(stream, { durable_name: 'naive', ack_policy: AckPolicy.Explicit, max_ack_pending: BATCH });
  const t0 = performance.now();
  try {
    const it = await (await js.consumers.get(stream, 'naive')).consume({ max_messages: BATCH });
    const inflight: Promise<unknown>[] = [];
    let n = 0;
    for await (const m of it) {
      inflight.push(broker.publish(m.headers!.get('Switchboard-Channel'), JSON.parse(new TextDecoder().decode(m.data)), opts));
      m.ack();
      if (++n >= ROWS) break;
    }
    await Promise.all(inflight);
    const ms = performance.now() - t0;
    return { scenario: 'ingest', system: 'naive-jetstream', broker: kind, channels, rows: ROWS, rowsPerSec: Math.round((ROWS / ms) * 1000) };
  } finally {
    await cleanup(broker, kind, prefix);
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  }
}

const only = values.systems ? new Set(values.systems.split(',').map((x) => x.trim())) : null;
const rows: Row[] = [];
try {
  for (const kind of values.brokers.split(',').map((s) => s.trim())) {
    if (kind !== 'memory' && kind !== 'redis') throw new Error(`unknown broker ${kind} (memory, redis)`);
    for (const channels of values.channels.split(',').map(Number)) {
      const runs = [
        ['outbox', outbox],
        ['naive-outbox', naive],
        ...(values.rabbitmq ? [['rabbitmq', rabbit] as const] : []),
        ...(values.streams ? ([['redis-stream', redisStream], ['naive-redis-stream', naiveStream], ['jetstream', jetstream], ['naive-jetstream', naiveJetStream]] as const) : []),
      ] as const;
      for (const [name, run] of runs) {
        if (only && !only.has(name)) continue;
        log(`${name} on ${kind}, ${channels} channels, ${ROWS} rows…`);
        rows.push(await run(kind, channels));
      }
    }
  }
} finally {
  await db.end();
}

if (values.json) {
  console.log(JSON.stringify({ results: rows }));
} else {
  console.log(`${ROWS.toLocaleString('en')} rows of 100 bytes into channel history (100 kept), batch ${BATCH}, outbox concurrency ${CONCURRENCY}`);
  console.log('| system | broker | channels | rows/s |');
  console.log('|---|---|--:|--:|');
  for (const r of rows) console.log(`| ${r.system} | ${r.broker} | ${r.channels} | ${r.rowsPerSec.toLocaleString('en')} |`);
}
process.exit(0);
