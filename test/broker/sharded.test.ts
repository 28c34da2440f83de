/** ShardedBroker over three throwaway Redis instances: the contract, and channels really spread. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/broker/redis.ts';
import { ShardedBroker } from '../../src/broker/sharded.ts';
import { brokerContract } from './contract.ts';
import { requireService, SHARED_REDIS_URL, startRedis, type RedisProcess } from '../helpers/cluster-redis.ts';

const u = new URL(SHARED_REDIS_URL);
await requireService('Redis', u.hostname, Number(u.port || 6379));
const servers: RedisProcess[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});
for (let i = 0; i < 3; i++) servers.push(await startRedis());

const sharded = () => new ShardedBroker(servers.map((s) => ({ id: s.url, broker: new RedisBroker({ url: s.url, log: () => {} }) })));

brokerContract('sharded redis ×3', async () => {
  const broker = sharded();
  const peer = sharded();
  return { broker, peer, close: async () => void (await Promise.all([broker.close(), peer.close()])) };
});

test('sharded: channels land on every shard, each channel on exactly one', async () => {
  const b = sharded();
  const admins = servers.map((s) => new Redis(s.url));
  try {
    const channels = Array.from({ length: 60 }, (_, i) => `spread:${i}`);
    await Promise.all(channels.map((ch) => b.publish(ch, 1, { historySize: 10, historyTtlMs: 60_000 })));
    const perShard = await Promise.all(admins.map(async (a) => (await a.keys('sb:{spread:*}:m')).length));
    assert.equal(perShard.reduce((x, y) => x + y, 0), 60, `each channel once: ${perShard}`);
    for (const n of perShard) assert.ok(n >= 8, `every shard used: ${perShard}`);
  } finally {
    admins.forEach((a) => a.disconnect());
    await b.close();
  }
});
