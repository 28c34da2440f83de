import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HashRing, hash32 } from '../../src/broker/sharded-ring.ts';

const keys = Array.from({ length: 20_000 }, (_, i) => `chat:room-${i}`);
const ring = (n: number) => new HashRing(Array.from({ length: n }, (_, i) => ({ id: `redis://10.0.0.${i}:6379`, shard: i })));

test('hash32 is stable (vectors) and spreads bits', () => {
  assert.equal(hash32(''), hash32(''));
  assert.notEqual(hash32('a'), hash32('b'));
  assert.equal(hash32('chat:lobby'), hash32('chat:lobby'));
  const buckets = new Array(16).fill(0);
  for (const k of keys) buckets[hash32(k) & 15]++;
  for (const b of buckets) assert.ok(Math.abs(b - keys.length / 16) < keys.length / 16 * 0.1, `low bits uneven: ${buckets}`);
});

test('channels spread evenly over shards (within ±15%)', () => {
  for (const n of [2, 3, 5]) {
    const r = ring(n);
    const counts = new Array(n).fill(0);
    for (const k of keys) counts[r.get(k)]++;
    for (const c of counts) assert.ok(Math.abs(c - keys.length / n) < (keys.length / n) * 0.15, `n=${n}: ${counts}`);
  }
});

test('adding a shard to N moves about 1/(N+1) of the channels, all to the new shard', () => {
  for (const n of [2, 3, 4, 7]) {
    const before = ring(n);
    const after = ring(n + 1);
    let moved = 0;
    for (const k of keys) {
      const a = before.get(k);
      const b = after.get(k);
      if (a !== b) {
        moved++;
        assert.equal(b, n, 'a moved channel goes to the new shard only');
      }
    }
    const expected = keys.length / (n + 1);
    assert.ok(Math.abs(moved - expected) < expected * 0.2, `n=${n}: moved ${moved}, expected ≈${expected.toFixed(0)}`);
  }
});

test('removing a shard moves only its own channels; order of the shard list does not matter', () => {
  const full = ring(4);
  const without = new HashRing([0, 1, 3].map((i) => ({ id: `redis://10.0.0.${i}:6379`, shard: i })));
  const shuffled = new HashRing([3, 1, 0, 2].map((i) => ({ id: `redis://10.0.0.${i}:6379`, shard: i })));
  for (const k of keys) {
    const owner = full.get(k);
    if (owner !== 2) assert.equal(without.get(k), owner);
    assert.equal(shuffled.get(k), owner);
  }
});

test('a ring refuses no shards and duplicate ids', () => {
  assert.throws(() => new HashRing([]), /at least one shard/);
  assert.throws(() => new HashRing([{ id: 'a', shard: 1 }, { id: 'a', shard: 2 }]), /duplicate shard id "a"/);
});
