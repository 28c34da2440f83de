import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffCap, backoffDelay } from '../../src/client/backoff.ts';

const opts = Object.freeze({ minDelay: 500, maxDelay: 20_000 });

test('backoff window doubles from minDelay and is capped at maxDelay', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 10, 100, 10_000].map((a) => backoffCap(a, opts)),
    [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000, 20000],
  );
});

test('full jitter: the delay is uniform over [0, cap] (random 0 → 0, random → 1 → cap)', () => {
  assert.equal(backoffDelay(3, opts, () => 0), 0);
  assert.equal(backoffDelay(3, opts, () => 0.5), 2000);
  assert.equal(backoffDelay(3, opts, () => 0.999999), 3999);
  assert.equal(backoffDelay(50, opts, () => 0.25), 5000);
  // An out-of-range random source is clamped rather than producing negative or oversize delays.
  assert.equal(backoffDelay(0, opts, () => -1), 0);
  assert.equal(backoffDelay(0, opts, () => 7), 500);
});

test('a server-advised delay is a floor, never shortened by jitter', () => {
  assert.equal(backoffDelay(0, opts, () => 0, 3000), 3000);
  assert.equal(backoffDelay(5, opts, () => 0.9, 3000), 14400);
  assert.equal(backoffDelay(0, opts, () => 0.5, -5), 250);
});

test('delays spread over the whole window (no clustering at the cap)', () => {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const buckets = new Array<number>(4).fill(0);
  for (let i = 0; i < 4000; i++) {
    const d = backoffDelay(4, opts, rnd);
    assert.ok(d >= 0 && d < 8000);
    buckets[Math.floor(d / 2000)]!++;
  }
  for (const b of buckets) assert.ok(b > 800 && b < 1200, `bucket ${b} far from 1000`);
});
