/**
 * Smoke test of bench/ingest.ts: a tiny run (500 rows, 2 channels, memory broker) of the outbox,
 * the naive relay, the RabbitMQ, Redis Streams and JetStream consumers and the naive stream relays through the real script in a child process, with
 * `--json`. It proves the script works end to end and prints only JSON on stdout; the numbers are
 * not checked beyond "something was moved".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { AMQP_URL, NATS_URL, PG_URL, requireUrl } from '../helpers/ingest.ts';

const up =
  (await requireUrl('PostgreSQL', PG_URL, 5432)) && (await requireUrl('RabbitMQ', AMQP_URL, 5672)) && (await requireUrl('Redis', SHARED_REDIS_URL, 6379)) && (await requireUrl('NATS', NATS_URL, 4222));
const root = fileURLToPath(new URL('../..', import.meta.url));

test('bench/ingest.ts runs tiny and prints JSON rows', { skip: !up && 'no PostgreSQL, RabbitMQ, Redis or NATS (not CI)', timeout: 60_000 }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/ingest.ts', '--rows', '500', '--channels', '2', '--brokers', 'memory', '--rabbitmq', '--streams', '--json', '--pg', PG_URL, '--amqp', AMQP_URL, '--redis', SHARED_REDIS_URL, '--nats', NATS_URL], {
    cwd: root,
    encoding: 'utf8',
    timeout: 55_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { results: { scenario: string; system: string; broker: string; channels: number; rows: number; rowsPerSec: number }[] };
  assert.deepEqual(doc.results.map((x) => x.system), ['outbox', 'naive-outbox', 'rabbitmq', 'redis-stream', 'naive-redis-stream', 'jetstream', 'naive-jetstream']);
  for (const x of doc.results) {
    assert.equal(x.scenario, 'ingest');
    assert.equal(x.rows, 500);
    assert.ok(x.rowsPerSec > 0, `${x.system} moved nothing`);
  }
});
