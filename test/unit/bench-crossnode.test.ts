import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../bench/cli.ts';
import { combineRuns, emptyRow, type ResultRow } from '../../bench/result.ts';
import { crossnodeSystems } from '../../bench/scenarios/crossnode.ts';
import { renderCrossnodeTargets, renderRedisCost } from '../../bench/table.ts';

const row = (system: string, deliveriesPerSec: number): ResultRow => ({ ...emptyRow('crossnode', system), deliveriesPerSec });

test('crossnode is parsed, not in the default set, and takes --redis', () => {
  assert.ok(!parseArgs([]).scenarios.includes('crossnode'));
  const o = parseArgs(['crossnode', '--redis', 'redis://10.0.0.1:6380']);
  assert.deepEqual(o.scenarios, ['crossnode']);
  assert.equal(o.redis, 'redis://10.0.0.1:6380');
  assert.equal(parseArgs(['crossnode']).redis, undefined, 'no --redis: a private redis-server is started');
  assert.throws(() => parseArgs(['crossnode', '--redis', '10.0.0.1:6379']), UsageError);
  assert.throws(() => parseArgs(['crossnode', '--redis']), UsageError);
  assert.equal(parseArgs(['crossnode', '--nats', 'nats://10.0.0.1:4222']).nats, 'nats://10.0.0.1:4222');
  assert.equal(parseArgs(['crossnode']).nats, undefined, 'no --nats: a private nats-server is started');
  assert.throws(() => parseArgs(['crossnode', '--nats', 'redis://x:1']), UsageError);
});

test('crossnode variants follow --systems; ws has none', () => {
  assert.deepEqual(crossnodeSystems(['switchboard', 'socketio', 'ws']), ['switchboard-1node', 'switchboard', 'switchboard-nats', 'socketio']);
  assert.deepEqual(crossnodeSystems(['socketio']), ['socketio']);
  assert.deepEqual(crossnodeSystems(['ws']), []);
});

test('cross-node targets: ratios against one node and against socket.io, met or missed', () => {
  const lines = renderCrossnodeTargets([row('switchboard-1node', 1_000_000), row('switchboard', 850_000), row('socketio', 100_000)]);
  assert.deepEqual(lines, [
    'cross-node deliveries/s ≥ 0.8× one node (memory broker): 0.85× — met',
    'cross-node deliveries/s ≥ 10× socket.io + redis-adapter: 8.5× — MISSED',
  ]);
  assert.deepEqual(renderCrossnodeTargets([row('socketio', 100_000)]), []);
  // A fanout row of the same system is not mistaken for the cross-node one.
  assert.deepEqual(renderCrossnodeTargets([{ ...row('switchboard', 1), scenario: 'fanout' }]), []);
});

test('Redis cost lines only for rows that carry one', () => {
  const withCost: ResultRow = {
    ...row('socketio', 1),
    redis: { publications: 10, commands: 1, byCommand: { publish: 1, ping: 0.001 }, topLevel: 1, inScript: 0, publicationsPerCommandSent: 1, sample: null, cpuUsPerPublication: 20, readsPerPublication: 0.5 },
  };
  assert.deepEqual(renderRedisCost([row('switchboard', 1), withCost]), ['socketio: 1 commands: 1 sent by the server + 0 inside scripts, 1 publications per command sent (publish 1); Redis CPU 20 µs/publication']);
});

test('with --repeat the cross-node target line gives the median ratio beside the best', () => {
  const runs = (system: string, tputs: number[]) => combineRuns(tputs.map((t) => ({ row: row(system, t), notes: [] })));
  const one = runs('switchboard-1node', [3_400_000, 5_000_000, 4_100_000, 4_300_000]);
  const cross = runs('switchboard', [4_400_000, 4_300_000, 3_900_000]);
  assert.equal(one.row.deliveriesPerSec, 5_000_000);
  assert.equal(one.row.medianDeliveriesPerSec, 4_200_000, 'median of an even count: the mean of the middle two');
  assert.equal(cross.row.medianDeliveriesPerSec, 4_300_000);
  assert.deepEqual(renderCrossnodeTargets([one.row, cross.row]), ['cross-node deliveries/s ≥ 0.8× one node (memory broker): 0.88× — met; median against median 1.02×']);
  const nats = runs('switchboard-nats', [3_000_000, 3_600_000]);
  assert.deepEqual(renderCrossnodeTargets([one.row, cross.row, nats.row]).slice(1), ['the same bar over NATS (JetStream): 0.72× one node — MISSED; median against median 0.79×']);
  assert.equal(runs('switchboard', [1]).row.medianDeliveriesPerSec, undefined, 'one run: no median');
});
