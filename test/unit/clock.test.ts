import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/util/clock.ts';

test('ManualClock fires timeouts and intervals in time order', () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('t50'), 50);
  const iv = clock.setInterval(() => fired.push(`i@${clock.now()}`), 30);
  clock.advance(100);
  assert.deepEqual(fired, ['i@30', 't50', 'i@60', 'i@90']);
  clock.clearInterval(iv);
  clock.advance(100);
  assert.equal(fired.length, 4);
  assert.equal(clock.pending, 0);
});
