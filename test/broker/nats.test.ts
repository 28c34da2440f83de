import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NatsBroker } from '../../src/broker/nats.ts';
import { brokerContract } from './contract.ts';
import { requireService } from '../helpers/cluster-redis.ts';

const server = process.env.SWITCHBOARD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const u = new URL(server);
const available = await requireService('NATS', u.hostname, Number(u.port || 4222));
const prefix = `sbtest${process.pid}`;

// requireService throws under CI=true, so this skip happens only on a developer machine without the service.
if (!available) {
  test('nats broker contract', (t) => t.skip(`no NATS at ${server} (not CI)`));
} else {
  brokerContract('nats', async () => {
    const broker = new NatsBroker({ servers: server, prefix, streamTtlMs: 600_000 });
    const peer = new NatsBroker({ servers: server, prefix, streamTtlMs: 600_000 });
    return {
      broker,
      peer,
      close: async () => {
        await Promise.all([broker.close(), peer.close()]);
        await removeStreams(server, prefix);
      },
    };
  });
}

/** Deletes the test's stream and KV bucket so runs leave nothing behind. */
async function removeStreams(servers: string, p: string): Promise<void> {
  const { connect } = await import('nats');
  const nc = await connect({ servers });
  try {
    const jsm = await nc.jetstreamManager();
    for (const name of [`${p}_history`, `KV_${p}_presence`]) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

if (available) {
  test('nats: two nodes publishing to one channel at once get distinct offsets, and a third receives them in order, once', async () => {
    const p2 = `${prefix}race`;
    const a = new NatsBroker({ servers: server, prefix: p2, log: () => {} });
    const b = new NatsBroker({ servers: server, prefix: p2, log: () => {} });
    const c = new NatsBroker({ servers: server, prefix: p2, log: () => {} });
    try {
      const got: number[] = [];
      c.setHandler({ onPublication: (_ch, pub) => void got.push(pub.offset), onJoin() {}, onLeave() {}, onStreamReset() {} });
      await c.subscribe('race');
      const h = { historySize: 1000, historyTtlMs: 60_000 };
      const [ra, rb] = await Promise.all([
        Promise.all(Array.from({ length: 100 }, (_, i) => a.publish('race', `a${i}`, h))),
        Promise.all(Array.from({ length: 100 }, (_, i) => b.publish('race', `b${i}`, h))),
      ]);
      const offsets = [...ra, ...rb].map((r) => r.offset).sort((x, y) => x - y);
      assert.deepEqual(offsets, Array.from({ length: 200 }, (_, i) => i + 1));
      const end = Date.now() + 10_000;
      while (got.length < 200 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i + 1));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
      await removeStreams(server, p2);
    }
  });
}
