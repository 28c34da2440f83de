/**
 * Pure parts of src/ingest: consumer options, routing-key routes, source-derived idempotency keys,
 * data decoding, channel checks; and that docs/integrations.md prints the schema the code creates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadConfig, maskSecrets } from '../../src/cli/config.ts';
import { SwitchboardNode } from '../../src/app/node.ts';
import { checkChannel, compileRoutes, decodeData, natsRouteChannel, PoisonError, routeChannel, sourceKey } from '../../src/ingest/input.ts';
import { deliverBatch } from '../../src/ingest/deliver.ts';
import { ReplyError } from '../../src/protocol/errors.ts';
import { resolveConsumers } from '../../src/ingest/options.ts';
import { outboxSchemaSql } from '../../src/ingest/outbox-sql.ts';
import { MAX_IDEMPOTENCY_KEY_BYTES } from '../../src/protocol/frames.ts';
import { ConfigError, resolveOptions } from '../../src/server/options.ts';

const PG = 'postgres://u@h/db';
const AMQP = 'amqp://guest:guest@h';

test('resolveConsumers fills defaults and names', () => {
  const [o, r] = resolveConsumers([{ type: 'outbox', url: PG }, { type: 'rabbitmq', url: AMQP, queue: 'q' }]);
  assert.deepEqual(o, { type: 'outbox', name: 'outbox-0', url: PG, batchSize: 100, maxBytes: 65536, namespaces: [], table: 'switchboard_outbox', migrate: true, pollInterval: 1, concurrency: 4 });
  assert.equal(r!.name, 'rabbitmq-1');
  assert.equal(r!.type === 'rabbitmq' && r!.channelHeader, 'x-switchboard-channel');
});

test('resolveConsumers names the bad field', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ type: 'kafka', url: PG }, /consumers\[0\]\.type/],
    [{ type: 'outbox', url: PG, tabel: 'x' }, /unknown option "consumers\[0\]\.tabel"/],
    [{ type: 'outbox', url: PG, batchSize: '10' }, /consumers\[0\]\.batchSize" must be a number/],
    [{ type: 'outbox', url: PG, batchSize: 0 }, /batchSize" must be an integer/],
    [{ type: 'outbox', url: PG, table: 'Robert"; DROP TABLE x;--' }, /consumers\[0\]\.table/],
    [{ type: 'outbox', url: 'mysql://x' }, /postgres:\/\//],
    [{ type: 'outbox', url: PG, pollInterval: 0 }, /pollInterval/],
    [{ type: 'rabbitmq', url: AMQP }, /consumers\[0\]\.queue/],
    [{ type: 'rabbitmq', url: AMQP, queue: 'q', channelHeader: '' }, /give channelHeader or routes/],
    [{ type: 'rabbitmq', url: AMQP, queue: 'q', deadLetterQueue: 'q' }, /deadLetterQueue/],
    [{ type: 'rabbitmq', url: AMQP, queue: 'q', routes: [{ match: 'a.*', channel: 'x:{2}' }] }, /\{2\} has no wildcard/],
    [{ type: 'rabbitmq', url: AMQP, queue: 'q', routes: [{ match: 'a..b', channel: 'x' }] }, /routes\[0\]\.match/],
    [{ type: 'rabbitmq', url: AMQP, queue: 'q', routes: [{ match: 'a', channel: 'x', extra: 1 }] }, /routes\[0\]\.extra/],
  ];
  for (const [input, re] of bad) assert.throws(() => resolveConsumers([input]), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(input));
  assert.throws(() => resolveConsumers([{ type: 'outbox', url: PG, name: 'a' }, { type: 'outbox', url: PG, name: 'a' }]), /used twice/);
  assert.throws(() => resolveOptions({ consumers: 'x' as unknown as [] }), /"consumers" must be an array of objects/);
  // resolveOptions takes the entries as they are; the node checks them with resolveConsumers.
  assert.throws(() => resolveConsumers(resolveOptions({ consumers: [{ type: 'outbox', url: PG, what: 1 }] }).consumers), /consumers\[0\]\.what/);
});

test('routes follow AMQP topic semantics and fill {n}', () => {
  const routes = compileRoutes([
    { match: 'orders.*.created', channel: 'orders:{1}' },
    { match: 'sensor.#.temp', channel: 'sensors:{1}' },
    { match: 'audit.#', channel: 'audit:all' },
  ]);
  assert.equal(routeChannel(routes, 'orders.42.created'), 'orders:42');
  assert.equal(routeChannel(routes, 'orders.42.shipped'), null);
  assert.equal(routeChannel(routes, 'orders.created'), null, '* is exactly one word');
  assert.equal(routeChannel(routes, 'sensor.temp'), 'sensors:', '# may match zero words');
  assert.equal(routeChannel(routes, 'sensor.a.b.temp'), 'sensors:a.b');
  assert.equal(routeChannel(routes, 'audit'), 'audit:all');
  assert.equal(routeChannel(routes, 'audit.x.y'), 'audit:all');
  assert.equal(routeChannel(routes, ''), null);
});

test('sourceKey: the source identity, hashed only when too long, distinct either way', () => {
  assert.equal(sourceKey('outbox:t', '42'), 'outbox:t:42');
  const long1 = sourceKey('amqp:q', 'x'.repeat(300));
  const long2 = sourceKey('amqp:q', 'x'.repeat(299) + 'y');
  assert.ok(Buffer.byteLength(long1) <= MAX_IDEMPOTENCY_KEY_BYTES);
  assert.notEqual(long1, long2);
  assert.equal(long1, sourceKey('amqp:q', 'x'.repeat(300)), 'the same identity gives the same key on every node');
});

test('decodeData bounds size and depth; checkChannel uses the node policy and the consumer allow-list', () => {
  assert.deepEqual(decodeData('{"a":1}', 100), { a: 1 });
  assert.deepEqual(decodeData(Buffer.from('[1]'), 100), [1]);
  const reason = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof PoisonError) return e.reason;
      throw e;
    }
    return 'ok';
  };
  assert.equal(reason(() => decodeData('{"a":', 100)), 'bad_json');
  assert.equal(reason(() => decodeData('"' + 'x'.repeat(200) + '"', 100)), 'too_large');
  assert.equal(reason(() => decodeData('['.repeat(100) + ']'.repeat(100), 1000)), 'bad_json');
  const opts = resolveOptions({ insecure: true, namespaces: { a: {}, b: {} } });
  assert.equal(reason(() => checkChannel('a:1', opts, [])), 'ok');
  assert.equal(reason(() => checkChannel('plain', opts, [''])), 'ok');
  assert.equal(reason(() => checkChannel('b:1', opts, ['a'])), 'not_allowed');
  assert.equal(reason(() => checkChannel('c:1', opts, [])), 'unknown_namespace');
  assert.equal(reason(() => checkChannel('sp ace', opts, [])), 'invalid_channel');
  assert.equal(reason(() => checkChannel('x'.repeat(300), opts, [])), 'invalid_channel');
});

test('consumers come from SWITCHBOARD_CONSUMERS (JSON); a bad entry stops the node at construction', () => {
  const cfg = loadConfig(undefined, { SWITCHBOARD_CONSUMERS: JSON.stringify([{ type: 'outbox', url: PG }]) }, {});
  assert.deepEqual(cfg.options.consumers, [{ type: 'outbox', url: PG }]);
  assert.throws(() => loadConfig(undefined, { SWITCHBOARD_CONSUMERS: '[{' }, {}), /SWITCHBOARD_CONSUMERS must be JSON/);
  assert.throws(() => new SwitchboardNode({ insecure: true, consumers: [{ type: 'outbox', url: PG, batchSize: -1 }] }), (e: unknown) => e instanceof ConfigError && /consumers\[0\]\.batchSize/.test(e.message));
});

test('the printed config hides passwords inside URLs', () => {
  assert.deepEqual(maskSecrets({ consumers: [{ url: 'postgres://app:s3cret@db:5432/x' }, { url: 'amqp://guest@mq' }] }), {
    consumers: [{ url: 'postgres://app:***@db:5432/x' }, { url: 'amqp://guest@mq' }],
  });
});

test('docs/integrations.md prints the schema the consumer creates', () => {
  const doc = readFileSync(new URL('../../docs/integrations.md', import.meta.url), 'utf8');
  assert.ok(doc.includes(outboxSchemaSql('switchboard_outbox')), 'the SQL block in docs/integrations.md must equal outboxSchemaSql("switchboard_outbox")');
});

test('redis-stream and jetstream options: defaults, derived dead-letter names, bad fields named', () => {
  const [rs, js] = resolveConsumers([
    { type: 'redis-stream', url: 'redis://h:6379', stream: 'events' },
    { type: 'jetstream', url: 'nats://h:4222', stream: 'EVENTS' },
  ]);
  assert.deepEqual(rs, {
    type: 'redis-stream', name: 'redis-stream-0', url: 'redis://h:6379', batchSize: 100, maxBytes: 65536, namespaces: [], exclusive: true, leaseTime: 5,
    stream: 'events', group: 'switchboard', startId: '0', consumer: '', channelField: 'channel', dataField: 'data', routeField: 'type', routes: [],
    deadLetterStream: 'events:dead', claimIdle: 10, block: 1,
  });
  assert.deepEqual(js, {
    type: 'jetstream', name: 'jetstream-1', url: 'nats://h:4222', batchSize: 100, maxBytes: 65536, namespaces: [], exclusive: true, leaseTime: 5,
    stream: 'EVENTS', durable: 'switchboard', filterSubject: '', channelHeader: 'Switchboard-Channel', routes: [], deadLetterSubject: 'switchboard.dead.EVENTS', ackWait: 30, maxDeliver: 10,
  });
  const RS = { type: 'redis-stream', url: 'redis://h', stream: 's' };
  const JS = { type: 'jetstream', url: 'nats://h', stream: 'S' };
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...RS, url: 'http://h' }, /consumers\[0\]\.url" must be a redis:\/\//],
    [{ ...RS, stream: '' }, /consumers\[0\]\.stream/],
    [{ ...RS, stream: 'a b' }, /consumers\[0\]\.stream/],
    [{ ...RS, startId: 'now' }, /startId/],
    [{ ...RS, deadLetterStream: 's' }, /deadLetterStream/],
    [{ ...RS, channelField: '' }, /give channelField or routes/],
    [{ ...RS, claimIdle: 0 }, /claimIdle/],
    [{ ...RS, block: 100 }, /block/],
    [{ ...RS, leaseTime: 0.5 }, /leaseTime/],
    [{ ...RS, exclusive: 'yes' }, /exclusive" must be a boolean/],
    [{ ...RS, queue: 'q' }, /unknown option "consumers\[0\]\.queue"/],
    [{ ...JS, url: 'redis://h' }, /nats:\/\//],
    [{ ...JS, stream: 'a.b' }, /consumers\[0\]\.stream/],
    [{ ...JS, durable: 'd*' }, /durable/],
    [{ ...JS, filterSubject: 'a..b' }, /filterSubject/],
    [{ ...JS, filterSubject: 'a.>.b' }, /> only the last/],
    [{ ...JS, deadLetterSubject: 'dead.*' }, /deadLetterSubject/],
    [{ ...JS, channelHeader: '' }, /give channelHeader or routes/],
    [{ ...JS, channelHeader: 'a:b' }, /channelHeader/],
    [{ ...JS, ackWait: 0 }, /ackWait/],
    [{ ...JS, maxDeliver: 0 }, /maxDeliver/],
    [{ ...JS, routes: [{ match: 'a.*', channel: 'x:{2}' }] }, /\{2\} has no wildcard/],
  ];
  for (const [input, re] of bad) assert.throws(() => resolveConsumers([input]), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(input));
  // `#` is an ordinary token character in NATS, and a valid config is not refused.
  assert.doesNotThrow(() => resolveConsumers([{ ...JS, routes: [{ match: 'a.#', channel: 'x' }] }, { ...JS, name: 'b', routes: [{ match: 'a.*.>', channel: 'x:{1}.{2}' }] }]));
});

test('NATS subject routes: * one token, > one or more at the end', () => {
  const routes = compileRoutes([
    { match: 'orders.*.created', channel: 'orders:{1}' },
    { match: 'sensors.>', channel: 'sensors:{1}' },
  ]);
  assert.equal(natsRouteChannel(routes, 'orders.42.created'), 'orders:42');
  assert.equal(natsRouteChannel(routes, 'orders.42.created.x'), null);
  assert.equal(natsRouteChannel(routes, 'orders.created'), null);
  assert.equal(natsRouteChannel(routes, 'sensors.a.b'), 'sensors:a.b');
  assert.equal(natsRouteChannel(routes, 'sensors'), null, '> needs at least one token');
  assert.equal(natsRouteChannel(routes, 'other'), null);
});

test('deliverBatch: a channel stops at its first temporary failure, other channels go on, refusals are dead', async () => {
  const calls: string[] = [];
  const node = {
    broker: { connected: true },
    async publish(channel: string, data: unknown) {
      calls.push(`${channel}/${String(data)}`);
      if (channel === 'b' && data === 2) throw new ReplyError('brokerUnavailable');
      if (channel === 'c') throw new ReplyError('invalidChannel', 'c');
      return {};
    },
  } as unknown as Parameters<typeof deliverBatch>[0];
  const items = [
    ['a', 1], ['b', 1], ['a', 2], ['b', 2], ['c', 1], ['b', 3], ['a', 3],
  ].map(([channel, n], i) => ({ ref: i, channel: channel as string, data: n, key: `k${i}` }));
  const out = await deliverBatch(node, items);
  assert.deepEqual(out.done.sort(), [0, 1, 2, 6]);
  assert.deepEqual(out.retry.sort(), [3, 5], 'b/2 failed, b/3 not tried');
  assert.deepEqual(out.dead.map((d) => [d.ref, d.err.reason]), [[4, 'invalid_channel']]);
  assert.ok(!calls.includes('b/3'), 'nothing after the failure in its channel was tried');
  assert.equal(out.failure?.message, 'broker unavailable');
});
