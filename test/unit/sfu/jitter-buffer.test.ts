import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JitterBuffer, type JitterPacket } from '../../../src/webrtc/sfu/jitter-buffer.ts';

/** Frames of `per` packets, 3000 ticks apart (30 fps at 90 kHz), starting at seq `start`; frame 0 is a keyframe. */
function stream(frames: number, per: number, start = 0, keyEvery = 0): JitterPacket[] {
  const out: JitterPacket[] = [];
  let seq = start;
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < per; i++) {
      out.push({ seq: seq & 0xffff, timestamp: (f * 3000) >>> 0, marker: i === per - 1, keyframe: i === 0 && (f === 0 || (keyEvery > 0 && f % keyEvery === 0)) });
      seq++;
    }
  }
  return out;
}

test('reorders within a frame and across the seq wrap; emits only complete frames in order', () => {
  const jb = new JitterBuffer();
  const pkts = stream(4, 3, 65533);
  const order = [1, 0, 2, 5, 3, 4, 8, 6, 7, 9, 10, 11];
  const frames = [];
  for (const i of order) {
    jb.push(pkts[i] as JitterPacket, 0);
    frames.push(...jb.pop(0));
  }
  assert.deepEqual(frames.map((f) => f.timestamp), [0, 3000, 6000, 9000]);
  assert.deepEqual(frames[1]?.packets.map((p) => p.seq), [0, 1, 2].map((i) => (65533 + 3 + i) & 0xffff));
  assert.equal(frames[0]?.keyframe, true);
});

test('an incomplete frame waits until the deadline, then is dropped; video waits for a keyframe', () => {
  const jb = new JitterBuffer({ minDelayMs: 50 });
  const pkts = stream(6, 2, 100, 4); // frames 0 and 4 are keyframes
  jb.push(pkts[0] as JitterPacket, 0);
  jb.push(pkts[1] as JitterPacket, 0);
  assert.equal(jb.pop(0).length, 1);
  // Frame 1 loses its second packet; frames 2, 3 arrive complete; frame 4 (keyframe) too.
  for (const i of [2, 4, 5, 6, 7, 8, 9]) jb.push(pkts[i] as JitterPacket, 10);
  assert.deepEqual(jb.pop(40), [], 'still inside the deadline');
  const out = jb.pop(61);
  assert.deepEqual(out.map((f) => f.timestamp), [12_000], 'delta frames after the loss are dropped, the keyframe is emitted');
  assert.equal(out[0]?.gapBefore, 6);
  assert.equal(jb.keyframeNeeded, false);
  assert.equal(jb.stats.framesDropped >= 1, true);
  assert.equal(jb.push(pkts[3] as JitterPacket, 70), 'late');
});

test('loss without a following keyframe reports keyframeNeeded; audio mode resumes at once', () => {
  const v = new JitterBuffer({ minDelayMs: 20 });
  const a = new JitterBuffer({ minDelayMs: 20, requireKeyframeAfterGap: false });
  const pkts = stream(5, 1, 0);
  for (const i of [0, 2, 3, 4]) {
    v.push(pkts[i] as JitterPacket, 0);
    a.push(pkts[i] as JitterPacket, 0);
  }
  assert.equal(v.pop(0).length, 1);
  assert.equal(a.pop(0).length, 1);
  assert.equal(v.pop(100).length, 0);
  assert.equal(v.keyframeNeeded, true);
  const af = a.pop(100);
  assert.deepEqual(af.map((f) => f.timestamp), [6000, 9000, 12_000]);
  assert.equal(af[0]?.gapBefore, 1);
});

test('duplicates and late packets are counted, not emitted twice', () => {
  const jb = new JitterBuffer();
  const p = stream(2, 2);
  jb.push(p[0] as JitterPacket, 0);
  assert.equal(jb.push(p[0] as JitterPacket, 0), 'duplicate');
  jb.push(p[1] as JitterPacket, 0);
  assert.equal(jb.pop(0).length, 1);
  assert.equal(jb.push(p[1] as JitterPacket, 1), 'late');
  assert.deepEqual({ d: jb.stats.duplicates, l: jb.stats.late }, { d: 1, l: 1 });
});

test('bounded: overflow drops the oldest frame and reports it', () => {
  const jb = new JitterBuffer({ maxPackets: 10 });
  const p = stream(10, 2);
  for (let i = 1; i < p.length; i++) jb.push(p[i] as JitterPacket, 0); // seq 0 never arrives: nothing emits
  assert.ok(jb.size <= 10);
  assert.ok(jb.stats.overflows > 0);
  assert.equal(jb.keyframeNeeded, true);
});

test('adaptive delay: target follows k × RFC 3550 jitter within [min, max]', () => {
  const steady = new JitterBuffer({ minDelayMs: 10, maxDelayMs: 500 });
  const jittery = new JitterBuffer({ minDelayMs: 10, maxDelayMs: 500 });
  const capped = new JitterBuffer({ minDelayMs: 10, maxDelayMs: 60 });
  const p = stream(400, 1);
  p.forEach((pk, i) => {
    steady.push(pk, i * 33.333);
    jittery.push(pk, i * 33.333 + (i % 2 === 0 ? 20 : 0));
    capped.push(pk, i * 33.333 + (i % 2 === 0 ? 40 : 0));
  });
  assert.equal(steady.targetDelayMs, 10);
  assert.ok(Math.abs(jittery.stats.jitterMs - 20) < 0.5, `${jittery.stats.jitterMs}`);
  assert.ok(Math.abs(jittery.targetDelayMs - 60) < 1.5);
  assert.equal(capped.targetDelayMs, 60);
});

test('property: any arrival order of a loss-free stream emits every frame exactly once, in order', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 1, max: 4 }), fc.array(fc.nat(), { minLength: 40, maxLength: 40 }), (start, per, keys) => {
      const pkts = stream(10, per, start);
      const shuffled = pkts.map((p, i) => ({ p, k: (keys[i % keys.length] ?? 0) + i * 0.5 })).sort((a, b) => a.k - b.k).map((x) => x.p);
      const jb = new JitterBuffer({ maxDelayMs: 10_000, minDelayMs: 10_000 });
      const frames = [];
      for (const p of shuffled) {
        jb.push(p, 0);
        frames.push(...jb.pop(0));
      }
      return frames.length === 10 && frames.every((f, i) => f.timestamp === i * 3000 && f.packets.length === per && f.gapBefore === 0) && jb.size === 0;
    }),
  );
});

test('property: hostile sequences never exceed the bounds or emit an incomplete frame', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ seq: fc.integer({ min: 0, max: 65535 }), ts: fc.integer({ min: 0, max: 20 }), m: fc.boolean(), k: fc.boolean(), dt: fc.integer({ min: 0, max: 100 }) }), { maxLength: 400 }), (xs) => {
      const jb = new JitterBuffer({ maxPackets: 50, maxFrames: 8 });
      let now = 0;
      for (const x of xs) {
        now += x.dt;
        jb.push({ seq: x.seq, timestamp: x.ts * 3000, marker: x.m, keyframe: x.k }, now);
        for (const f of jb.pop(now)) {
          if (f.packets.at(-1)?.marker !== true || f.packets.some((p) => p.timestamp !== f.timestamp)) return false;
          if (f.lastSeq - f.firstSeq + 1 !== f.packets.length) return false;
        }
        if (jb.size > 50) return false;
      }
      return true;
    }),
  );
});

test('jitter step is the RFC 3550 1/16 gain', () => {
  const jb = new JitterBuffer();
  jb.push({ seq: 0, timestamp: 0, marker: true, keyframe: true }, 0);
  jb.push({ seq: 1, timestamp: 3000, marker: true }, 33.333 + 16); // 16 ms later than the timestamps say
  assert.ok(Math.abs(jb.stats.jitterMs - 1) < 0.01, `${jb.stats.jitterMs}`);
});
