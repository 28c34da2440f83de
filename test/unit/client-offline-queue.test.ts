import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OfflineQueue, type QueuedPublish } from '../../src/client/offline-queue.ts';
import { OfflineQueueFullError } from '../../src/client/errors.ts';

function item(seq: number, rejected: Error[] = []): QueuedPublish {
  return { seq, channel: 'c', data: seq, key: `k${seq}`, attempts: 0, resolve: () => {}, reject: (e) => rejected.push(e) };
}

test('bounded by count: the newest publish past the bound is refused with a clear error', () => {
  const q = new OfflineQueue(3);
  q.enqueue(item(1));
  q.enqueue(item(2));
  q.enqueue(item(3));
  assert.throws(() => q.enqueue(item(4)), (e: unknown) => e instanceof OfflineQueueFullError && /maxOfflineQueue/.test(e.message) && /3/.test(e.message));
  assert.deepEqual(q.drain().map((i) => i.seq), [1, 2, 3], 'the oldest survive');
  assert.equal(q.size, 0);
});

test('requeued in-flight publishes go back in call order and are never refused', () => {
  const q = new OfflineQueue(2);
  q.enqueue(item(5));
  q.enqueue(item(6));
  q.requeue(item(2)); // sent before 5 and 6, ack lost
  q.requeue(item(3));
  assert.equal(q.size, 4, 'over the bound: an accepted publish is not turned into a lost one');
  assert.deepEqual(q.drain().map((i) => i.seq), [2, 3, 5, 6]);
});

test('rejectAll rejects every entry and empties the queue', () => {
  const rejected: Error[] = [];
  const q = new OfflineQueue(10);
  q.enqueue(item(1, rejected));
  q.enqueue(item(2, rejected));
  q.rejectAll(new Error('closed'));
  assert.equal(rejected.length, 2);
  assert.equal(q.size, 0);
});

test('maxOfflineQueue 0 refuses every offline publish', () => {
  assert.throws(() => new OfflineQueue(0).enqueue(item(1)), OfflineQueueFullError);
});
