import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisBroker } from '../../src/broker/redis.ts';
import { brokerContract } from './contract.ts';
import { deletePrefix, requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';

const url = new URL(SHARED_REDIS_URL);
const available = await requireService('Redis', url.hostname, Number(url.port || 6379));
const prefix = `sbtest-${process.pid}`;

// requireService throws under CI=true, so this skip happens only on a developer machine without the service.
if (!available) {
  test('redis broker contract', (t) => t.skip(`no Redis at ${SHARED_REDIS_URL} (not CI)`));
} else {
  brokerContract('redis', async () => {
    const broker = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
    const peer = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
    return { broker, peer, close: async () => {
        await Promise.all([broker.close(), peer.close()]);
        await deletePrefix(SHARED_REDIS_URL, prefix);
      },
    };
  });
}
