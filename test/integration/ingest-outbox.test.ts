/**
 * The PostgreSQL outbox consumer against the real PostgreSQL (and Redis for the multi-process
 * cases): LISTEN/NOTIFY wakes it, poison rows go to `<table>_dead` with their reason, 10,000 rows
 * reach channel history exactly once and in order per channel across a SIGKILL of the consuming
 * node, and two nodes share one outbox without delivering a row twice.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { deletePrefix, SHARED_REDIS_URL, startRedis } from '../helpers/cluster-redis.ts';
import { startNodeProcess, startNodes, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { metricSum, PG_URL, readAll, requireUrl, scrape, uniqueName, waitUntil as waitFor } from '../helpers/ingest.ts';

const pgUp = await requireUrl('PostgreSQL', PG_URL, 5432);
const redisUp = await requireUrl('Redis', SHARED_REDIS_URL, 6379);
const skip = !pgUp ? 'no PostgreSQL (not CI)' : false;
const skipRedis = !pgUp || !redisUp ? 'no PostgreSQL or Redis (not CI)' : false;

const db = new pg.Pool({ connectionString: PG_URL, max: 4 });
const tables: string[] = [];
const procs: NodeProcess[] = [];
const prefixes: string[] = [];
after(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  if (pgUp) for (const t of tables) await db.query(`DROP TABLE IF EXISTS ${t}, ${t}_dead`);
  await db.end();
  for (const p of prefixes) await deletePrefix(SHARED_REDIS_URL, p);
});

function table(): string {
  const t = uniqueName('sbt_outbox');
  tables.push(t);
  return t;
}

async function count(t: string): Promise<number> {
  return (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n;
}

test('poison rows go to the dead table with their reason; good rows arrive in order, woken by NOTIFY', { skip }, async () => {
  const t = table();
  const node: SwitchboardNode = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    broker: new MemoryBroker(),
    namespaces: { orders: { historySize: 100 }, other: { historySize: 100 } },
    // pollInterval 60 s: only NOTIFY can deliver within the test's waits.
    consumers: [{ type: 'outbox', name: 'ob', url: PG_URL, table: t, pollInterval: 60, maxBytes: 1000, namespaces: ['orders'] }],
  });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'ob' }) === 1, 10_000, 'consumer up');
    const deep = '['.repeat(40) + ']'.repeat(40);
    await db.query(`BEGIN; INSERT INTO ${t} (channel, data) VALUES ('orders:1', '{"n":1}');
      INSERT INTO ${t} (channel, data) VALUES ('bad channel!', '{"n":99}');
      INSERT INTO ${t} (channel, data) VALUES ('nope:1', '{"n":99}');
      INSERT INTO ${t} (channel, data) VALUES ('other:1', '{"n":99}');
      INSERT INTO ${t} (channel, data) VALUES ('orders:1', jsonb_build_object('big', repeat('x', 2000)));
      INSERT INTO ${t} (channel, data) VALUES ('orders:1', '${deep}');
      INSERT INTO ${t} (channel, data) VALUES ('orders:1', '{"n":2}');
      INSERT INTO ${t} (channel, data, idempotency_key) VALUES ('orders:1', '{"n":3}', 'order-3');
      INSERT INTO ${t} (channel, data, idempotency_key) VALUES ('orders:1', '{"n":3}', 'order-3');
      INSERT INTO ${t} (channel, data) VALUES ('orders:1', '{"n":4}'); COMMIT;`);
    await waitFor(async () => (await count(t)) === 0, 10_000, 'outbox drained by NOTIFY');
    const h = await node.broker.history('orders:1', { limit: 100 });
    assert.deepEqual(
      h.publications.map((p) => p.data),
      [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }],
      'good rows once each, in order; the second row with key order-3 is the same publication',
    );
    const dead = (await db.query<{ channel: string; reason: string; error: string }>(`SELECT channel, reason, error FROM ${t}_dead ORDER BY id`)).rows;
    assert.deepEqual(
      dead.map((d) => [d.channel, d.reason]),
      [
        ['bad channel!', 'invalid_channel'],
        ['nope:1', 'unknown_namespace'],
        ['other:1', 'not_allowed'],
        ['orders:1', 'too_large'],
        ['orders:1', 'bad_json'],
      ],
    );
    for (const d of dead) assert.ok(d.error.length > 0, `an explanation for ${d.reason}`);
    const m = await scrape(node.httpUrl);
    assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'ob' }), 5);
    assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'ob', reason: 'too_large' }), 1);
    // Five good rows published (the second order-3 row counts: it was published, the broker kept one).
    assert.equal(metricSum(m, 'switchboard_consumer_published_total', { consumer: 'ob', kind: 'outbox' }), 5);
  } finally {
    await node.close();
  }
});

test('a database that is down delays the consumer, never the node; rows wait while the broker is down', { skip }, async () => {
  // Nothing listens on port 1: the node starts, the consumer reports down and keeps retrying.
  const down = await startNode({ port: 0, host: '127.0.0.1', insecure: true, consumers: [{ type: 'outbox', name: 'dead', url: 'postgres://postgres@127.0.0.1:1/test' }] });
  try {
    await waitFor(async () => metricSum(await scrape(down.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'dead', error: 'source' }) >= 1, 10_000, 'source error counted');
    assert.equal(metricSum(await scrape(down.httpUrl), 'switchboard_consumer_up', { consumer: 'dead' }), 0);
    assert.equal((await fetch(`${down.httpUrl}/healthz`)).status, 200);
  } finally {
    const t0 = Date.now();
    await down.close();
    assert.ok(Date.now() - t0 < 2000, 'close() does not wait out the retry backoff');
  }

  // Switchboard's broker down (114): the batch rolls back, the rows stay, then arrive in order.
  const redis = await startRedis();
  const t = table();
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    broker: new RedisBroker({ url: redis.url }),
    namespaces: { feed: { historySize: 1000, historyTtl: 600 } },
    consumers: [{ type: 'outbox', name: 'ob', url: PG_URL, table: t, batchSize: 20 }],
  });
  try {
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'ob' }) === 1, 10_000, 'consumer up');
    await redis.kill();
    await waitFor(() => !node.broker.connected, 10_000, 'broker disconnected');
    await db.query(`INSERT INTO ${t} (channel, data) SELECT 'feed:down', jsonb_build_object('seq', g) FROM generate_series(0, 99) g`);
    await waitFor(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'ob', error: 'broker' }) >= 1, 10_000, 'broker error counted');
    assert.equal(await count(t), 100, 'every row still in the outbox');
    await redis.restart();
    await waitFor(async () => (await count(t)) === 0, 20_000, 'outbox drained after the broker returned');
    const seqs = (await node.broker.history('feed:down', { limit: 1000 })).publications.map((p) => (p.data as { seq: number }).seq);
    assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i), 'once each, in order');
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${t}_dead`)).rows[0].n, 0, 'nothing dead-lettered for a broker failure');
  } finally {
    await node.close();
    await node.broker.close();
    await redis.stop();
  }
});

test('a graceful stop commits the batches in flight: nothing published is left in the outbox', { skip }, async () => {
  const t = table();
  const broker = new MemoryBroker();
  const opts = { port: 0, host: '127.0.0.1', insecure: true, broker, namespaces: { feed: { historySize: 10_000 } } };
  // A first node creates the table; rows go in while nobody consumes.
  const first = await startNode({ ...opts, consumers: [{ type: 'outbox', name: 'ob', url: PG_URL, table: t }] });
  await waitFor(async () => metricSum(await scrape(first.httpUrl), 'switchboard_consumer_up', { consumer: 'ob' }) === 1, 10_000, 'consumer up');
  await first.close();
  await db.query(`INSERT INTO ${t} (channel, data) SELECT 'feed:g' || (g % 4), jsonb_build_object('seq', g / 4) FROM generate_series(0, 7999) g`);
  const node = await startNode({ ...opts, consumers: [{ type: 'outbox', name: 'ob', url: PG_URL, table: t, batchSize: 50 }] });
  await waitFor(async () => (await count(t)) <= 6000, 20_000, 'some consumed');
  await node.close();
  try {
    let stored = 0;
    for (let k = 0; k < 4; k++) {
      const seqs = (await broker.history(`feed:g${k}`, { limit: 10_000 })).publications.map((p) => (p.data as { seq: number }).seq);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i), `channel ${k}: a prefix, in order`);
      stored += seqs.length;
    }
    assert.equal(stored + (await count(t)), 8000, 'every published row was deleted before the stop, every other row is still there');
  } finally {
    await broker.close();
  }
});

/** 10,000 rows: channel `feed:<run>-<k>` for k < channels, data {k, seq} with seq increasing per channel. */
async function fill(t: string, run: string, channels: number, total: number, statements = 1): Promise<void> {
  const per = total / statements;
  for (let s = 0; s < statements; s++) {
    await db.query(
      `INSERT INTO ${t} (channel, data) SELECT '${'feed:'}' || $1::text || '-' || (g % $2), jsonb_build_object('k', g % $2, 'seq', g / $2)
       FROM generate_series($3::int, $4::int) g`,
      [run, channels, s * per, (s + 1) * per - 1],
    );
  }
}

async function checkHistory(broker: RedisBroker, run: string, channels: number, total: number): Promise<void> {
  for (let k = 0; k < channels; k++) {
    const data = (await readAll(broker, `feed:${run}-${k}`)) as { k: number; seq: number }[];
    const seqs = data.map((d) => d.seq);
    assert.equal(seqs.length, total / channels, `channel ${k}: every row exactly once (got ${seqs.length})`);
    seqs.forEach((s, i) => assert.equal(s, i, `channel ${k}: position ${i} holds seq ${s}, source order broken`));
  }
}

function outboxConsumer(t: string): Record<string, unknown> {
  return { consumers: [{ type: 'outbox', name: 'ob', url: PG_URL, table: t, namespaces: ['feed'], batchSize: 100 }] };
}

test('10,000 rows arrive exactly once and in order per channel across a SIGKILL of the consuming node', { skip: skipRedis }, async (ctx) => {
  const t = table();
  const run = uniqueName('k');
  const prefix = uniqueName('sbt-outbox');
  prefixes.push(prefix);
  const broker = { type: 'redis', url: SHARED_REDIS_URL, prefix };
  // The table must exist before the rows: let a first node migrate it, then fill.
  const a = await startNodeProcess('ob-a', broker, outboxConsumer(t));
  procs.push(a);
  await waitFor(async () => (await db.query(`SELECT to_regclass($1) AS r`, [t])).rows[0].r !== null, 10_000, 'table created');
  await fill(t, run, 10, 10_000);
  await waitFor(async () => (await count(t)) <= 6000, 30_000, 'node a consumed some');
  await a.kill('SIGKILL');
  const left = await count(t);
  assert.ok(left > 0, 'killed before the end');
  const rb = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
  let stored = 0;
  for (let k = 0; k < 10; k++) stored += (await readAll(rb, `feed:${run}-${k}`)).length;
  // Usually > 10,000: the kill hit a batch that was published but not yet deleted, which node b replays.
  ctx.diagnostic(`at the kill: ${stored} in history, ${left} rows left (${stored + left - 10_000} published but not committed)`);
  const b = await startNodeProcess('ob-b', broker, outboxConsumer(t));
  procs.push(b);
  await waitFor(async () => (await count(t)) === 0, 40_000, 'node b drained the outbox');
  try {
    await checkHistory(rb, run, 10, 10_000);
  } finally {
    await rb.close();
    await b.kill();
  }
});

test('two nodes share one outbox: every row published once, source order per channel kept', { skip: skipRedis }, async () => {
  const t = table();
  const run = uniqueName('s');
  const prefix = uniqueName('sbt-outbox');
  prefixes.push(prefix);
  const nodes = await startNodes(['ob-1', 'ob-2'], { type: 'redis', url: SHARED_REDIS_URL, prefix }, outboxConsumer(t));
  procs.push(...nodes);
  await waitFor(async () => (await db.query(`SELECT to_regclass($1) AS r`, [t])).rows[0].r !== null, 10_000, 'table created');
  for (const n of nodes) await waitFor(async () => metricSum(await scrape(n.httpUrl), 'switchboard_consumer_up') === 1, 10_000, `${n.name} listening`);
  await fill(t, run, 20, 10_000, 20);
  await waitFor(async () => (await count(t)) === 0, 40_000, 'outbox drained');
  const published = await Promise.all(nodes.map(async (n) => metricSum(await scrape(n.httpUrl), 'switchboard_consumer_published_total')));
  // Each publish attempt is counted where it committed: a row published by both would count twice.
  assert.equal(published[0]! + published[1]!, 10_000, `published by the nodes: ${published.join(' + ')}`);
  assert.ok(published[0]! > 0 && published[1]! > 0, `both nodes worked: ${published.join(' + ')}`);
  const rb = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
  try {
    await checkHistory(rb, run, 20, 10_000);
  } finally {
    await rb.close();
    await Promise.all(nodes.map((n) => n.kill()));
  }
});
