import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { brokerContract } from './contract.ts';

brokerContract('memory', async () => {
  const broker = new MemoryBroker({ sweepMs: 200 });
  const peer = broker.peer();
  return { broker, peer, close: async () => {
    await peer.close();
    await broker.close();
  } };
});

test('memory broker: idle streams are forgotten after streamTtl, and a new epoch starts', async () => {
  const clock = new ManualClock();
  const b = new MemoryBroker({ clock, streamTtlMs: 10_000, sweepMs: 1000 });
  const first = await b.publish('ch', 1, { historySize: 1, historyTtlMs: 1000 });
  clock.advance(20_000);
  const second = await b.publish('ch', 2, { historySize: 1, historyTtlMs: 1000 });
  assert.equal(second.offset, 1);
  assert.notEqual(second.epoch, first.epoch);
  await b.close();
  assert.equal(clock.pending, 0, 'close() stops the sweeper');
});

test('memory broker: history of a long stream stays bounded and since-reads jump directly', async () => {
  const b = new MemoryBroker();
  for (let i = 1; i <= 5000; i++) await b.publish('long', i, { historySize: 100, historyTtlMs: 60_000 });
  const h = await b.history('long', { limit: 1000 });
  assert.equal(h.publications.length, 100);
  assert.equal(h.publications[0]!.offset, 4901);
  const s = await b.history('long', { limit: 2, since: { epoch: h.position.epoch, offset: 4990 } });
  assert.deepEqual(s.publications.map((p) => p.offset), [4991, 4992]);
  await b.close();
});
