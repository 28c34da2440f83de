import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { Hub, type HubSubscriber } from '../../src/server/hub.ts';

const sub = (): HubSubscriber => ({ deliverPub() {}, deliverEvent() {}, resetStream() {} });

test('hub.busiest(n) is the n largest channels by subscribers, skipping what it is told to', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat({ max: 12 }), { maxLength: 40 }), fc.integer({ min: 1, max: 10 }), async (sizes, n) => {
      const broker = new MemoryBroker();
      const hub = new Hub(broker);
      const adds: Array<Promise<void>> = [];
      sizes.forEach((size, i) => {
        for (let k = 0; k < size; k++) adds.push(hub.add(i % 5 === 0 ? `$internal${i}` : `ch${i}`, sub()));
      });
      await Promise.all(adds);
      const got = hub.busiest(n, (c) => c.startsWith('$'));
      const want = sizes
        .map((size, i) => ({ channel: i % 5 === 0 ? `$internal${i}` : `ch${i}`, subscribers: size }))
        .filter((c) => c.subscribers > 0 && !c.channel.startsWith('$'))
        .sort((a, b) => b.subscribers - a.subscribers)
        .slice(0, n);
      assert.deepEqual(got.map((c) => c.subscribers), want.map((c) => c.subscribers));
      assert.ok(got.every((c) => !c.channel.startsWith('$') && sizes[Number(c.channel.slice(2))] === c.subscribers));
      await broker.close();
    }),
    { numRuns: 200 },
  );
});
