/**
 * Smoke test of `npm run bench -- crossnode`: a tiny run (20 subscribers over two nodes, 1 s phases)
 * on a private redis-server (and the private nats-server the CLI starts for the NATS row), through
 * the real CLI. It proves both Redis variants and the NATS row deliver across nodes and that the
 * Redis cost is measured; with a Redis of its own, the counts are exact enough
 * to check what each system sends per publication.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from '../helpers/bench.ts';
import type { ResultRow } from '../../bench/result.ts';
import { requireService, SHARED_REDIS_URL, startRedis, type RedisProcess } from '../helpers/cluster-redis.ts';

const u = new URL(SHARED_REDIS_URL);
const haveRedis = await requireService('Redis', u.hostname, Number(u.port || 6379)); // stands for "redis-server is installed"
let redis: RedisProcess | undefined;

before(async () => {
  if (haveRedis) redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});


test('bench crossnode runs tiny on two Switchboard nodes over Redis and over NATS, and two socket.io servers over Redis', { timeout: 90_000, skip: !haveRedis && 'no Redis' }, async () => {
  const { code, stdout, stderr } = await runBench(
    ['crossnode', '--json', '--redis', redis!.url, '--subscribers', '20', '--seconds', '1', '--warmup', '0', '--rate', '50', '--workers', '1'],
    85_000,
  );
  assert.equal(code, 0, `bench exited with ${code}\n${stderr}`);
  const rows = (JSON.parse(stdout) as { results: ResultRow[] }).results;
  assert.deepEqual(rows.map((r) => r.system), ['switchboard-1node', 'switchboard', 'switchboard-nats', 'socketio']);
  for (const r of rows) {
    assert.equal(r.scenario, 'crossnode');
    assert.ok(r.deliveriesPerSec !== null && r.deliveriesPerSec > 0, `${r.system} delivered nothing`);
    assert.ok(r.p50Ms !== null && r.p99Ms !== null && r.p99Ms >= r.p50Ms, `${r.system} has no latency`);
  }
  const sb = rows[1]!.redis;
  const sio = rows[3]!.redis;
  assert.ok(sb && sio, 'both Redis variants report their Redis cost');
  assert.equal(rows[0]!.redis, undefined);
  assert.equal(rows[2]!.redis, undefined, 'the NATS row has no Redis');
  // The flood's publications are batched: one EVALSHA per batch, whose script PUBLISHes the batch
  // once; the paced MONITOR sample shows EVALSHA sent by the node and PUBLISH run by the script.
  // socket.io's adapter PUBLISHes once per publication.
  const evalsha = sb.byCommand.evalsha ?? 0;
  assert.ok(evalsha > 0 && evalsha < 0.5, `publishes were not batched: ${JSON.stringify(sb)}`);
  assert.equal(sb.byCommand.publish, evalsha, JSON.stringify(sb));
  assert.ok(sb.publicationsPerCommandSent !== null && sb.publicationsPerCommandSent > 2, JSON.stringify(sb));
  assert.equal(sb.sample?.byCommand.evalsha?.script, 0, JSON.stringify(sb));
  assert.ok((sb.sample?.byCommand.publish?.script ?? 0) > 0 && sb.sample?.byCommand.publish?.client === 0, JSON.stringify(sb));
  assert.ok(Math.abs((sio.byCommand.publish ?? 0) - 1) < 0.05, JSON.stringify(sio));
  assert.equal(sio.inScript, 0);
  assert.doesNotMatch(stderr, /FAILED|problem:|missing|lost|other client/, stderr);
});
