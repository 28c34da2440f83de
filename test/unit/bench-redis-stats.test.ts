import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRedisCost, diffCalls, parseCommandStats, parseSnapshot, redisCost, tallyMonitor } from '../../bench/redis-stats.ts';

// Shaped like a Redis 7.0 reply to `INFO commandstats stats cpu clients` (CRLF line ends).
const info = (calls: Record<string, number>, extra: { cpu: [number, number]; reads: number; clients: number }): string =>
  [
    '# Clients',
    `connected_clients:${extra.clients}`,
    'maxclients:10000',
    '',
    '# Stats',
    'total_commands_processed:99',
    `total_reads_processed:${extra.reads}`,
    '',
    '# CPU',
    `used_cpu_sys:${extra.cpu[0]}`,
    `used_cpu_user:${extra.cpu[1]}`,
    'used_cpu_sys_children:0.000000',
    '',
    '# Commandstats',
    ...Object.entries(calls).map(([k, n]) => `cmdstat_${k}:calls=${n},usec=${n * 3},usec_per_call=3.00,rejected_calls=0,failed_calls=0`),
    '',
  ].join('\r\n');

test('parseCommandStats reads calls per command, subcommands included', () => {
  const m = parseCommandStats(info({ evalsha: 12, 'client|setname': 2, PUBLISH: 5 }, { cpu: [0, 0], reads: 0, clients: 1 }));
  assert.deepEqual([...m], [['evalsha', 12], ['client|setname', 2], ['publish', 5]]);
  // usec_per_call / rejected_calls must not be mistaken for calls.
  assert.equal(parseCommandStats('cmdstat_get:usec=9,calls=4,rejected_calls=7').get('get'), 4);
  assert.equal(parseCommandStats('cmdstat_get:rejected_calls=7').size, 0);
});

test('parseSnapshot reads CPU (s → µs), reads and clients', () => {
  const s = parseSnapshot(info({ ping: 1 }, { cpu: [1.25, 2.5], reads: 40, clients: 5 }));
  assert.equal(s.cpuUs, 3_750_000);
  assert.equal(s.reads, 40);
  assert.equal(s.clients, 5);
  assert.equal(s.calls.get('ping'), 1);
});

test('diffCalls leaves out unchanged commands and the observer own INFO/MONITOR', () => {
  const d = diffCalls(
    new Map([['evalsha', 10], ['info', 3], ['get', 4]]),
    new Map([['evalsha', 1010], ['info', 5], ['get', 4], ['publish', 1000], ['monitor', 1]]),
  );
  assert.deepEqual([...d], [['evalsha', 1000], ['publish', 1000]]);
});

test('diffCalls counts from zero after a RESETSTAT in between', () => {
  assert.deepEqual([...diffCalls(new Map([['publish', 500]]), new Map([['publish', 20]]))], [['publish', 20]]);
});

test('tallyMonitor splits client commands from script commands', () => {
  const t = tallyMonitor([
    { source: '127.0.0.1:50000', command: 'evalsha' },
    { source: 'lua', command: 'TIME' },
    { source: 'lua', command: 'PUBLISH' },
    { source: '127.0.0.1:50001', command: 'publish' },
    { source: 'unix:/tmp/redis.sock', command: 'INFO' },
  ]);
  assert.deepEqual([...t.client], [['evalsha', 1], ['publish', 1]]);
  assert.deepEqual([...t.script], [['time', 1], ['publish', 1]]);
});

test('redisCost divides by publications and keeps the client/script split of the sample', () => {
  const before = parseSnapshot(info({ evalsha: 5, time: 5, publish: 5, info: 1 }, { cpu: [1, 1], reads: 10, clients: 5 }));
  const after = parseSnapshot(info({ evalsha: 1005, time: 1005, publish: 1005, hget: 1000, info: 2 }, { cpu: [1.01, 1.01], reads: 60, clients: 5 }));
  const tally = tallyMonitor([
    ...Array.from({ length: 10 }, () => [
      { source: '127.0.0.1:1', command: 'evalsha' },
      { source: 'lua', command: 'time' },
      { source: 'lua', command: 'hget' },
      { source: 'lua', command: 'publish' },
    ]).flat(),
  ]);
  const c = redisCost(before, after, 1000, { tally, publications: 10 });
  assert.equal(c.commands, 4);
  assert.deepEqual(Object.keys(c.byCommand), ['evalsha', 'hget', 'publish', 'time']);
  assert.equal(c.byCommand.evalsha, 1);
  assert.equal(c.cpuUsPerPublication, 20);
  assert.equal(c.readsPerPublication, 0.05);
  assert.equal(c.topLevel, 1);
  assert.equal(c.inScript, 3);
  assert.deepEqual(c.sample?.byCommand.publish, { client: 0, script: 1 });
  assert.match(describeRedisCost(c), /^4 Redis commands\/publication over 1000 publications \(evalsha 1, hget 1, publish 1, time 1\); sent by the node 1 \+ run inside scripts 3/);
});

test('redisCost without publications or sample gives zeros and nulls, not NaN', () => {
  const s = parseSnapshot(info({}, { cpu: [0, 0], reads: 0, clients: 1 }));
  const c = redisCost(s, s, 0);
  assert.equal(c.commands, 0);
  assert.equal(c.topLevel, null);
  assert.equal(c.sample, null);
  assert.equal(c.cpuUsPerPublication, 0);
});

test('redisCost splits a batched flood by the shares of each command in the sample, not by the sample per publication', () => {
  // The flood: 1,000 publications in 4 script calls (5 commands each). The paced sample: 10
  // publications in 10 calls, and one socket.io-style PUBLISH a client sent itself.
  const before = parseSnapshot(info({}, { cpu: [0, 0], reads: 0, clients: 5 }));
  const after = parseSnapshot(info({ evalsha: 4, time: 4, hget: 4, hincrby: 4, publish: 8 }, { cpu: [0, 0], reads: 4, clients: 5 }));
  const tally = tallyMonitor([
    ...Array.from({ length: 10 }, () => [
      { source: '127.0.0.1:1', command: 'evalsha' },
      { source: 'lua', command: 'time' },
      { source: 'lua', command: 'hget' },
      { source: 'lua', command: 'hincrby' },
      { source: 'lua', command: 'publish' },
    ]).flat(),
    ...Array.from({ length: 10 }, () => ({ source: '127.0.0.1:2', command: 'publish' })),
  ]);
  const c = redisCost(before, after, 1000, { tally, publications: 10 });
  assert.equal(c.commands, 0.024);
  // evalsha is all client-sent (4); publish half and half (4 of 8).
  assert.equal(c.topLevel, 0.008);
  assert.equal(c.inScript, 0.016);
  assert.equal(c.publicationsPerCommandSent, 125);
  assert.match(describeRedisCost(c), /sent by the node 0\.008 \+ run inside scripts 0\.016 \(split by a MONITOR sample of 10 publications\), 125 publications per command sent/);
});
