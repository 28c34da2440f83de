/**
 * RedisBroker on a 3-master Redis Cluster started on free ports: the contract, with sharded
 * pub/sub (SSUBSCRIBE/SPUBLISH) and every key of a channel in its hash-tag slot.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/broker/redis.ts';
import { brokerContract } from './contract.ts';
import { requireService, SHARED_REDIS_URL, startRedisCluster, type RedisClusterProcess } from '../helpers/cluster-redis.ts';

const u = new URL(SHARED_REDIS_URL);
await requireService('Redis', u.hostname, Number(u.port || 6379));
let cluster: RedisClusterProcess | undefined;
after(async () => {
  await cluster?.stop();
});
cluster = await startRedisCluster(3);
const seeds = cluster.seeds;

brokerContract('redis cluster (3 masters, sharded pub/sub)', async () => {
  const broker = new RedisBroker({ cluster: seeds, log: () => {} });
  const peer = new RedisBroker({ cluster: seeds, log: () => {} });
  return { broker, peer, close: async () => void (await Promise.all([broker.close(), peer.close()])) };
});

test('redis cluster: a channel uses a shard channel and all its keys sit in one slot, on all masters overall', async () => {
  const b = new RedisBroker({ cluster: seeds, log: () => {} });
  const admins = cluster!.nodes.map((n) => new Redis(n.url));
  try {
    const channels = Array.from({ length: 30 }, (_, i) => `slot:${i}`);
    for (const ch of channels) {
      await b.subscribe(ch);
      await b.publish(ch, 1, { historySize: 10, historyTtlMs: 60_000, idempotencyKey: 'k', idempotencyTtlMs: 60_000 });
      await b.presenceAdd(ch, 'c', { user: 'u', client: 'c' }, 60_000);
    }
    const shardChannels = (await Promise.all(admins.map((a) => a.call('PUBSUB', 'SHARDCHANNELS', 'sb:{slot:*}:c') as Promise<string[]>))).map((l) => l.length);
    assert.equal(shardChannels.reduce((x, y) => x + y, 0), 30, `one shard channel per channel: ${shardChannels}`);
    for (const n of shardChannels) assert.ok(n > 0, `every master serves some channels: ${shardChannels}`);
    // All keys of one channel on one master, in one slot.
    for (const ch of channels.slice(0, 5)) {
      const holders = await Promise.all(admins.map(async (a) => await a.keys(`sb:{${ch}}:*`)));
      const nonEmpty = holders.filter((k) => k.length > 0);
      assert.equal(nonEmpty.length, 1, `${ch} keys on one master`);
      const slots = new Set(await Promise.all(nonEmpty[0]!.map((k) => admins[0]!.cluster('KEYSLOT', k))));
      assert.equal(slots.size, 1);
      assert.ok(nonEmpty[0]!.length >= 4, `meta, history, idempotency key, presence: ${nonEmpty[0]}`);
    }
  } finally {
    admins.forEach((a) => a.disconnect());
    await b.close();
  }
});
