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

if (available) {
  test('nats: a burst is stored as few JetStream messages; history reads from inside a batch; live single and batch forms arrive in order', async () => {
    const p3 = `${prefix}batch`;
    const a = new NatsBroker({ servers: server, prefix: p3, log: () => {} });
    const late = new NatsBroker({ servers: server, prefix: p3, log: () => {} });
    const single = new NatsBroker({ servers: server, prefix: p3, log: () => {}, publishBatch: 1 });
    const { connect } = await import('nats');
    const nc = await connect({ servers: server });
    try {
      const ignore = { onPublication() {}, onJoin() {}, onLeave() {}, onStreamReset() {} };
      a.setHandler(ignore);
      single.setHandler(ignore);
      const h = { historySize: 1000, historyTtlMs: 60_000 };
      const r = await Promise.all(Array.from({ length: 600 }, (_, i) => a.publish('burst', { i }, i % 7 === 0 ? { ...h, info: { user: `u${i}`, client: 'c' } } : h)));
      assert.deepEqual(r.map((p) => p.offset), Array.from({ length: 600 }, (_, i) => i + 1));
      const jsm = await nc.jetstreamManager();
      const subject = `${p3}.h.${Buffer.from('burst').toString('base64url')}`;
      const stored = (await jsm.streams.info(`${p3}_history`, { subjects_filter: subject })).state.subjects?.[subject];
      // A position marker, then 600 publications in batches of at most 256: 3 or 4 messages.
      assert.ok(stored !== undefined && stored <= 4, `600 publications took ${stored} stored messages`);
      // Since an offset in the middle of a batch: exactly the ones after it.
      const since = await late.history('burst', { since: r[149]!, limit: 100 });
      assert.deepEqual(since.publications.map((p) => p.offset), Array.from({ length: 100 }, (_, i) => 151 + i));
      assert.deepEqual(since.publications[4]!.info, { user: 'u154', client: 'c' });
      assert.deepEqual(since.publications[0]!.data, { i: 150 });
      // A node subscribed now gets 601 in the single form (publishBatch 1, as an older node
      // sends it), then 602-603 as one live batch, in order, with their data.
      const got: Array<[number, unknown]> = [];
      late.setHandler({ onPublication: (_c, p) => void got.push([p.offset, p.data]), onJoin() {}, onLeave() {}, onStreamReset() {} });
      await late.subscribe('burst');
      await single.publish('burst', 'alone', h);
      await Promise.all([a.publish('burst', 'next', h), a.publish('burst', 'last', h)]);
      const end = Date.now() + 5000;
      while (got.length < 3 && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
      assert.deepEqual(got, [[601, 'alone'], [602, 'next'], [603, 'last']]);
      assert.equal((await jsm.streams.info(`${p3}_history`, { subjects_filter: subject })).state.subjects?.[subject], stored + 2, '601 alone, 602-603 as one message');
    } finally {
      await nc.close();
      await Promise.all([a.close(), late.close(), single.close()]);
      await removeStreams(server, p3);
    }
  });
}
