import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NackGenerator } from '../../../src/webrtc/sfu/rtp/nack-generator.ts';

test('a loss is NACKed once 3 newer packets arrived, retried every RTT, given up after 10 NACKs', () => {
  const g = new NackGenerator({ initialRttMs: 50 });
  let t = 0;
  for (const s of [100, 101, 103]) g.onPacket(s, t++);
  assert.deepEqual(g.poll(t), []); // 102 missing, only one newer packet: maybe reordered
  g.onPacket(104, t++);
  g.onPacket(105, t++);
  assert.deepEqual(g.poll(t), [102]);
  assert.deepEqual(g.poll(t + 10), []); // not before an RTT
  const sent = [t];
  for (let now = t + 1; now < t + 2000; now++) if (g.poll(now).length) sent.push(now);
  assert.equal(sent.length, 10);
  assert.deepEqual(
    sent.slice(1).map((x, i) => x - sent[i]!),
    new Array(9).fill(50),
  );
  assert.equal(g.missingCount, 0);
  assert.equal(g.givenUp, 1);
  assert.equal(g.nacksSent, 10);
});

test('a missing packet that arrives (reordered or retransmitted) stops its NACKs; a trailing loss is NACKed after the reorder delay', () => {
  const g = new NackGenerator();
  g.onPacket(65534, 0);
  g.onPacket(1, 1); // across the wrap: 65535 and 0 missing, not 65535 numbers
  assert.equal(g.missingCount, 2);
  assert.deepEqual(g.poll(5), []);
  assert.deepEqual(g.poll(11), [65535, 0]); // 10 ms reorder delay
  assert.equal(g.onPacket(0, 20), true);
  g.setRtt(30);
  assert.deepEqual(g.poll(41), [65535]);
  assert.equal(g.recovered, 1);
  assert.equal(g.onPacket(0, 50), false); // duplicate
});

test('a keyframe drops older missing packets; a jump beyond maxAge and overflow ask for a keyframe', () => {
  const g = new NackGenerator({ maxMissing: 50 });
  g.onPacket(10, 0);
  g.onPacket(20, 0); // 11..19 missing
  g.onPacket(25, 0, true); // keyframe: 11..19 no longer needed; 21..24 too (older than it)
  assert.equal(g.missingCount, 0);
  assert.equal(g.takeKeyframeRequest(), false);
  g.onPacket(100, 0); // 74 missing > 50
  assert.equal(g.missingCount, 50);
  assert.equal(g.takeKeyframeRequest(), true);
  assert.equal(g.takeKeyframeRequest(), false);
  g.onPacket(5000, 0); // jump of 4900 > maxAge 1000
  assert.equal(g.missingCount, 0);
  assert.equal(g.takeKeyframeRequest(), true);
  // Too old: a missing packet 1000 behind the newest is given up.
  const h = new NackGenerator();
  h.onPacket(0, 0);
  h.onPacket(2, 0);
  for (let s = 3; s <= 1002; s++) h.onPacket(s, 0);
  assert.deepEqual(h.poll(100), []);
  assert.equal(h.missingCount, 0);
  assert.throws(() => new NackGenerator({ maxAge: 40000 }), RangeError);
});

/** A permutation of 0..n−1 where each element moves less than `w` places: sort by i + U[0, w). */
function reordered(n: number, w: number, rnd: number[]): number[] {
  return [...Array(n).keys()].map((i) => ({ i, k: i + rnd[i]! * w })).sort((a, b) => a.k - b.k).map((x) => x.i);
}

test('property: a lossless stream reordered within a window of 3 produces no NACK, across the wrap', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 2, maxLength: 1500 }), fc.integer({ min: 1, max: 20 }), (start, rnd, stepMs) => {
      // Sorting by i + U[0, 3): a packet s is passed only by packets ≤ s + 2 (fewer than the
      // reorder window of 3 newer ones), and arrives at most 5 arrivals after the first packet
      // that passed it — before its first NACK is due when the reorder delay is 6 arrivals.
      const g = new NackGenerator({ reorderDelayMs: 6 * stepMs });
      let now = 0;
      for (const i of reordered(rnd.length, 3, rnd)) {
        now += stepMs;
        g.onPacket((start + i) & 0xffff, now);
        assert.deepEqual(g.poll(now), []);
      }
      assert.equal(g.missingCount, 0);
      assert.equal(g.nacksSent, 0);
    }),
    { numRuns: 300 },
  );
});

test('property: with losses, exactly the lost packets are NACKed (each ≤ 10 times) and nothing received is', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.array(fc.boolean(), { minLength: 5, maxLength: 800 }), fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 800, maxLength: 800 }), (start, lossy, rnd) => {
      const lost = lossy.map((l, i) => l && i > 0 && i < lossy.length - 4 && i % 3 === 0);
      const g = new NackGenerator({ initialRttMs: 20 });
      const count = new Map<number, number>();
      let now = 0;
      for (const i of reordered(lossy.length, 3, rnd)) {
        now += 2;
        if (!lost[i]) g.onPacket((start + i) & 0xffff, now);
        for (const s of g.poll(now)) count.set(s, (count.get(s) ?? 0) + 1);
      }
      for (let k = 0; k < 400; k++) for (const s of g.poll((now += 5))) count.set(s, (count.get(s) ?? 0) + 1);
      lost.forEach((l, i) => {
        const s = (start + i) & 0xffff;
        if (l) assert.equal(count.get(s), 10, `lost ${i} NACKed ${count.get(s)} times`);
        else assert.equal(count.get(s), undefined, `received ${i} NACKed`);
      });
    }),
    { numRuns: 200 },
  );
});
