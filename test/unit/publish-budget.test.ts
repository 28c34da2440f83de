/** PublishBudget: sliding-window counts of a connection's idempotency keys and published channels (issue 11 C3). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PublishBudget } from '../../src/server/publish-budget.ts';
import { utf8Length, validIdempotencyKey } from '../../src/protocol/frames.ts';

test('keys: at most maxKeys within the window; they leave it as it slides', () => {
  const b = new PublishBudget(3, 100, 1000);
  for (let t = 0; t < 3; t++) assert.equal(b.charge('c', `k${t}`, t * 100), null);
  assert.equal(b.charge('c', 'k3', 500)?.code, 106);
  assert.equal(b.charge('c', undefined, 500), null, 'a publish without a key is not counted');
  assert.equal(b.charge('c', 'k3', 1000)?.code === undefined, true, 'the first key left the window at 1000');
  assert.equal(b.keys, 3);
  assert.equal(b.charge('c', 'k4', 1099)?.code, 106);
  assert.equal(b.charge('c', 'k4', 1100), null);
});

test('channels: distinct within the window; a refused publish charges nothing; re-publishing renews', () => {
  const b = new PublishBudget(100, 2, 1000);
  assert.equal(b.charge('a', undefined, 0), null);
  assert.equal(b.charge('b', 'x', 0), null);
  assert.equal(b.charge('c', 'y', 10)?.code, 106);
  assert.equal(b.keys, 1, 'the refused publish used no key');
  assert.equal(b.charge('a', undefined, 900), null, 'a counted channel is still usable; its window renews');
  assert.equal(b.charge('c', undefined, 1000), null, 'b left the window at 1000');
  assert.equal(b.charge('d', undefined, 1000)?.code, 106, 'a was renewed at 900');
  assert.equal(b.channelCount, 2);
});

test('idempotency keys are 1 to 128 UTF-8 bytes', () => {
  assert.equal(utf8Length('aé€😀'), 1 + 2 + 3 + 4);
  assert.equal(utf8Length('\ud800x'), 4, 'a lone surrogate counts as U+FFFD');
  assert.equal(utf8Length('é€😀'), new TextEncoder().encode('é€😀').length);
  assert.equal(validIdempotencyKey(''), false);
  assert.equal(validIdempotencyKey('k'.repeat(128)), true);
  assert.equal(validIdempotencyKey('k'.repeat(129)), false);
  assert.equal(validIdempotencyKey('😀'.repeat(32)), true);
  assert.equal(validIdempotencyKey('😀'.repeat(32) + 'x'), false);
});
