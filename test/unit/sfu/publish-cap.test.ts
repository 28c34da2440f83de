/**
 * Publisher bitrate caps without I/O (publish-cap.ts): the split of a cap into per-layer
 * maxBitrate, and the guard that holds back the highest layers of a publisher that sends more
 * than its cap allows, and frees them when it is back under.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAP_SLACK_BPS, CAP_TOLERANCE, OVER_CAP_MS, PublishCapGuard, splitPublishCap } from '../../../src/webrtc/sfu/publish-cap.ts';

test('a cap is split lowest layer first; a layer left below its minimum is switched off; a generous cap says nothing', () => {
  assert.deepEqual(splitPublishCap(2_000_000, 3), [150_000, 500_000, 1_350_000]);
  assert.deepEqual(splitPublishCap(600_000, 3), [150_000, 450_000, 0], 'the top layer cannot get its 600 k minimum');
  assert.deepEqual(splitPublishCap(250_000, 3), [150_000, 0, 0], '100 k is below the middle layer\'s 150 k minimum');
  assert.deepEqual(splitPublishCap(100_000, 3), [100_000, 0, 0], 'the lowest layer always goes');
  assert.deepEqual(splitPublishCap(800_000, 2), [150_000, 650_000]);
  assert.deepEqual(splitPublishCap(1_000_000, 1), [1_000_000]);
  assert.equal(splitPublishCap(6_000_000, 3), undefined, 'above what three layers use: no caps (and no raised maxima)');
  assert.equal(splitPublishCap(3_000_000, 1), undefined);
  assert.equal(splitPublishCap(0, 3), undefined, '0 is no cap');
  for (let cap = 10_000; cap < 3_150_000; cap += 37_000) {
    const s = splitPublishCap(cap, 3)!;
    assert.ok(s.reduce((a, b) => a + b, 0) <= cap, `the split of ${cap} stays within it`);
    assert.ok(s[0]! > 0);
  }
});

interface L {
  kind: 'audio' | 'video';
  bitrateSmoothed: number;
  name: string;
}
const layer = (name: string, bitrateSmoothed: number, kind: 'audio' | 'video' = 'video'): L => ({ name, bitrateSmoothed, kind });

test('a publisher over its cap for 2 s loses its top layers until the rest fits; it gets them back 2 s after it is under', () => {
  const cap = 1_000_000;
  const limit = cap * CAP_TOLERANCE + CAP_SLACK_BPS; // 1.6 M
  const g = new PublishCapGuard<L>(cap);
  const q = layer('q', 200_000);
  const h = layer('h', 800_000);
  const f = layer('f', 3_000_000);
  const audio = layer('a', 40_000, 'audio');
  const tracks = [[q, h, f], [audio]];
  assert.equal(g.update(tracks, 0).size, 0, 'not at once');
  assert.equal(g.update(tracks, OVER_CAP_MS - 1).size, 0, 'not before 2 s');
  const held = g.update(tracks, OVER_CAP_MS);
  assert.deepEqual([...held].map((l) => l.name), ['f'], 'the top layer goes; q + h = 1.0 M fits 1.6 M');
  assert.equal(g.trips, 1);
  assert.ok(q.bitrateSmoothed + h.bitrateSmoothed <= limit);
  // Still sending everything: stays held.
  assert.deepEqual([...g.update(tracks, OVER_CAP_MS + 5000)].map((l) => l.name), ['f']);
  // It obeys now (f sends little): freed only after 2 s under.
  f.bitrateSmoothed = 300_000;
  assert.equal(g.update(tracks, 10_000).size, 1);
  assert.equal(g.update(tracks, 10_000 + OVER_CAP_MS - 1).size, 1);
  assert.equal(g.update(tracks, 10_000 + OVER_CAP_MS).size, 0, 'freed');
  assert.equal(g.trips, 1);
});

test('layers go from the top of every track; even the lowest ones when they alone exceed the cap; audio never counts', () => {
  const g = new PublishCapGuard<L>(500_000); // limit 850 k
  const cam = [layer('cq', 300_000), layer('ch', 700_000), layer('cf', 2_000_000)];
  const screen = [layer('s', 400_000)];
  const loudAudio = [layer('a', 5_000_000, 'audio')];
  g.update([cam, screen, loudAudio], 0);
  const held = g.update([cam, screen, loudAudio], OVER_CAP_MS);
  assert.deepEqual(new Set([...held].map((l) => l.name)), new Set(['cf', 'ch']), 'top layers first, then the next level: 300 k + 400 k left');
  const flood = new PublishCapGuard<L>(500_000);
  const one = [[layer('x', 50_000_000)]];
  flood.update(one, 0);
  assert.equal(flood.update(one, OVER_CAP_MS).size, 1, 'a single-layer flood is held entirely');
  const none = new PublishCapGuard<L>(0);
  assert.equal(none.update(one, 0).size + none.update(one, 60_000).size, 0, 'no cap, nothing held');
});

test('a short burst over the cap (a keyframe) holds nothing', () => {
  const g = new PublishCapGuard<L>(1_000_000);
  const l = layer('f', 900_000);
  const t = [[l]];
  for (let now = 0; now < 20_000; now += 500) {
    l.bitrateSmoothed = now % 4000 === 0 ? 2_500_000 : 900_000;
    assert.equal(g.update(t, now).size, 0, `at ${now}`);
  }
});
