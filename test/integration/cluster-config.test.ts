/** Broker selection from the config file's `broker` section and SWITCHBOARD_* variables. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBroker, describeBroker, resolveBrokerConfig } from '../../src/broker/factory.ts';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { NatsBroker } from '../../src/broker/nats.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { ShardedBroker } from '../../src/broker/sharded.ts';
import { ConfigError } from '../../src/server/options.ts';

test('defaults to memory', () => {
  assert.deepEqual(resolveBrokerConfig(undefined, {}), { type: 'memory' });
});

test('file section, environment overrides it', () => {
  const file = Object.freeze({ type: 'redis', url: 'redis://a:6379', prefix: 'app' });
  assert.deepEqual(resolveBrokerConfig(file, {}), { type: 'redis', url: 'redis://a:6379', prefix: 'app' });
  assert.deepEqual(resolveBrokerConfig(file, { SWITCHBOARD_REDIS_URL: 'redis://b:6379' }), { type: 'redis', url: 'redis://b:6379', prefix: 'app' });
  assert.deepEqual(resolveBrokerConfig(file, { SWITCHBOARD_REDIS_URL: 'redis://b:1, redis://c:2' }), { type: 'redis', shards: ['redis://b:1', 'redis://c:2'], prefix: 'app' });
  assert.deepEqual(resolveBrokerConfig({}, { SWITCHBOARD_BROKER: 'redis', SWITCHBOARD_REDIS_CLUSTER: '127.0.0.1:7000,127.0.0.1:7001' }), { type: 'redis', cluster: ['127.0.0.1:7000', '127.0.0.1:7001'] });
  assert.deepEqual(resolveBrokerConfig({ type: 'redis' }, { SWITCHBOARD_BROKER: 'nats', SWITCHBOARD_NATS_URL: 'nats://x:4222,nats://y:4222', SWITCHBOARD_BROKER_STREAM_TTL: '60' }), {
    type: 'nats',
    urls: ['nats://x:4222', 'nats://y:4222'],
    streamTtl: 60,
  });
  assert.deepEqual(resolveBrokerConfig({ type: 'redis', publishBatch: 64 }, {}), { type: 'redis', publishBatch: 64 });
  assert.deepEqual(resolveBrokerConfig({ type: 'redis', publishBatch: 64 }, { SWITCHBOARD_BROKER_PUBLISH_BATCH: '1' }), { type: 'redis', publishBatch: 1 });
  assert.deepEqual(resolveBrokerConfig({ type: 'nats' }, { SWITCHBOARD_BROKER_PUBLISH_BATCH: '16' }), { type: 'nats', publishBatch: 16 });
  assert.equal(file.url, 'redis://a:6379', 'input not mutated');
});

test('bad configuration names the field', () => {
  const bad: Array<[unknown, NodeJS.ProcessEnv, RegExp]> = [
    ['redis', {}, /broker must be an object/],
    [{ type: 'kafka' }, {}, /broker.type must be memory, redis or nats, got "kafka"/],
    [{ type: 'redis', hosts: [] }, {}, /broker.hosts is not a broker option/],
    [{ type: 'redis', shards: 'redis://a' }, {}, /broker.shards must be an array of strings/],
    [{ type: 'redis', shards: [] }, {}, /broker.shards must list at least one address/],
    [{ type: 'redis', url: 'redis://a', cluster: ['a:1'] }, {}, /either url or cluster/],
    [{ type: 'redis', shards: ['a'], cluster: ['a:1'] }, {}, /either shards or cluster/],
    [{ type: 'memory', replicas: 3 }, {}, /broker.replicas is a NATS option/],
    [{ type: 'nats', cluster: ['a:1'] }, {}, /broker.cluster is a Redis option/],
    [{ type: 'redis', streamTtl: -1 }, {}, /broker.streamTtl must be a non-negative number/],
    [{ type: 'redis', publishBatch: 0 }, {}, /broker.publishBatch must be a whole number ≥ 1, got 0/],
    [{ type: 'redis' }, { SWITCHBOARD_BROKER_PUBLISH_BATCH: '2.5' }, /broker.publishBatch must be a whole number ≥ 1, got 2.5/],
    [{ type: 'memory', publishBatch: 8 }, {}, /broker.publishBatch is a Redis and NATS option/],
    [{ type: 'redis' }, { SWITCHBOARD_BROKER_STREAM_TTL: 'soon' }, /SWITCHBOARD_BROKER_STREAM_TTL must be a non-negative number, got "soon"/],
  ];
  for (const [section, env, re] of bad) assert.throws(() => resolveBrokerConfig(section, env), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
});

test('describeBroker masks passwords in URLs', () => {
  const d = describeBroker({ type: 'redis', shards: ['redis://:hunter2@a:6379', 'redis://b:6379'] });
  assert.ok(!d.includes('hunter2'));
  assert.ok(d.includes('redis://***@a:6379'));
});

test('createBroker builds the named broker', async () => {
  const made = [
    createBroker({ type: 'memory' }),
    createBroker({ type: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'sbcfgtest' }),
    createBroker({ type: 'redis', shards: ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/1'], prefix: 'sbcfgtest' }),
    createBroker({ type: 'nats', url: 'nats://127.0.0.1:4222', prefix: 'sbcfgtest' }),
  ];
  try {
    assert.ok(made[0] instanceof MemoryBroker);
    assert.ok(made[1] instanceof RedisBroker);
    assert.ok(made[2] instanceof ShardedBroker);
    assert.equal(made[2]!.name, 'sharded(redis redis://127.0.0.1:6379×2)');
    assert.ok(made[3] instanceof NatsBroker);
  } finally {
    await Promise.all(made.map((b) => b.close()));
    const { connect } = await import('nats');
    const nc = await connect({ servers: 'nats://127.0.0.1:4222' }).catch(() => null);
    if (nc) {
      const jsm = await nc.jetstreamManager();
      for (const s of ['sbcfgtest_history', 'KV_sbcfgtest_presence']) await jsm.streams.delete(s).catch(() => false);
      await nc.close();
    }
  }
});
