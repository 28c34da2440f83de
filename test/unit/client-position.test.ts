import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamTracker } from '../../src/client/position.ts';

test('in order: each next offset is delivered; duplicates (≤ last) dropped', () => {
  const t = new StreamTracker({ epoch: 'e', offset: 10 });
  assert.deepEqual(t.accept('e', 11), { deliver: true });
  assert.deepEqual(t.accept('e', 12), { deliver: true });
  assert.deepEqual(t.accept('e', 12), { deliver: false });
  assert.deepEqual(t.accept('e', 5), { deliver: false });
  assert.deepEqual(t.position, { epoch: 'e', offset: 12 });
});

test('a forward jump > 1 without a gap push is delivered and reported with the missing range', () => {
  const t = new StreamTracker({ epoch: 'e', offset: 3 });
  assert.deepEqual(t.accept('e', 7), { deliver: true, gap: { reason: 'jump', epoch: 'e', from: 4, to: 6 } });
  assert.deepEqual(t.accept('e', 8), { deliver: true });
});

test('an epoch change is reported (stream reset)', () => {
  const t = new StreamTracker({ epoch: 'old', offset: 50 });
  assert.deepEqual(t.accept('new', 3), { deliver: true, gap: { reason: 'epoch-changed', epoch: 'new', from: 1, to: 2 } });
  assert.deepEqual(t.accept('new', 1), { deliver: false });
  assert.deepEqual(new StreamTracker({ epoch: 'a', offset: 9 }).accept('b', 1), { deliver: true, gap: { reason: 'epoch-changed', epoch: 'b' } });
});

test('gap push: reported once, clipped to what was not processed, and the next pub is not a jump', () => {
  const t = new StreamTracker({ epoch: 'e', offset: 10 });
  assert.deepEqual(t.skipRange('e', 11, 14), { reason: 'gap', epoch: 'e', from: 11, to: 14 });
  assert.deepEqual(t.accept('e', 15), { deliver: true });
  // The replacing pub arrived before the gap push: reported as a jump, the push adds nothing new.
  assert.deepEqual(t.accept('e', 18), { deliver: true, gap: { reason: 'jump', epoch: 'e', from: 16, to: 17 } });
  assert.equal(t.skipRange('e', 16, 17), undefined);
  assert.deepEqual(t.skipRange('e', 17, 20), { reason: 'gap', epoch: 'e', from: 19, to: 20 });
});

test('no position yet: the first pub sets it', () => {
  const t = new StreamTracker();
  assert.deepEqual(t.accept('e', 40), { deliver: true });
  assert.deepEqual(t.position, { epoch: 'e', offset: 40 });
});

test('lost(): recovery failed — the range when the epoch is unchanged, the new epoch up to its top otherwise', () => {
  const t = new StreamTracker({ epoch: 'e', offset: 10 });
  assert.deepEqual(t.lost({ epoch: 'e', offset: 25 }), { reason: 'not-recovered', epoch: 'e', from: 11, to: 25 });
  assert.deepEqual(t.position, { epoch: 'e', offset: 25 });
  assert.deepEqual(t.lost({ epoch: 'f', offset: 3 }), { reason: 'not-recovered', epoch: 'f', from: 1, to: 3 });
  assert.deepEqual(t.position, { epoch: 'f', offset: 3 });
  assert.deepEqual(t.lost({ epoch: 'g', offset: 0 }), { reason: 'not-recovered', epoch: 'g' }, 'an empty new stream: nothing of it was missed');
});

test('position getter returns a copy', () => {
  const t = new StreamTracker({ epoch: 'e', offset: 1 });
  const p = t.position!;
  p.offset = 99;
  assert.equal(t.position!.offset, 1);
});
