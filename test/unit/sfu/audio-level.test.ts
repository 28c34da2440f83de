/**
 * Speech detection from RFC 6464 levels (src/webrtc/sfu/audio-level.ts), pure, with a clock
 * passed in: speech is detected within a window, a click is not, silence and a stopped stream end
 * it within a window, louder speech reads higher, garbage levels are ignored; the change test of
 * speaker lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AudioLevelMeter, dbovToLinear, speakersChanged } from '../../../src/webrtc/sfu/audio-level.ts';

/** 50 packets/s (20 ms Opus frames) of `level(i)` from `from` to `to` ms. */
function feed(m: AudioLevelMeter, from: number, to: number, level: (i: number) => number): void {
  for (let t = from, i = 0; t < to; t += 20, i++) m.observe(level(i), t);
}

test('speech is detected within a window and ends within one of silence', () => {
  const m = new AudioLevelMeter();
  feed(m, 0, 1000, () => 20);
  assert.ok(Math.abs(m.level(1000) - dbovToLinear(20)) < 1e-9, 'the level of the speech');
  feed(m, 1000, 1500, () => 127);
  assert.equal(m.level(1500), 0, 'one silent window ends it');
});

test('a click (a few loud packets) is not speech; 40 % of a window is', () => {
  const m = new AudioLevelMeter();
  feed(m, 0, 500, (i) => (i < 3 ? 0 : 127));
  assert.equal(m.level(500), 0);
  feed(m, 500, 1000, (i) => (i < 11 ? 10 : 127));
  assert.ok(m.level(1000) > 0, '11 of 25 packets');
});

test('louder speech reads higher; levels are smoothed in', () => {
  const loud = new AudioLevelMeter();
  const soft = new AudioLevelMeter();
  feed(loud, 0, 2000, () => 6);
  feed(soft, 0, 2000, () => 30);
  assert.ok(loud.level(2000) > soft.level(2000) * 5);
  const m = new AudioLevelMeter();
  feed(m, 0, 1000, () => 30);
  const before = m.level(1000);
  feed(m, 1000, 1500, () => 0);
  const after = m.level(1500);
  assert.ok(after > before && after < 1, `smoothed: ${before} → ${after}`);
});

test('a stream that stops reads 0 after a window; garbage levels are ignored', () => {
  const m = new AudioLevelMeter();
  feed(m, 0, 1000, () => 10);
  assert.ok(m.level(1000) > 0);
  assert.equal(m.level(3000), 0, 'no packets for 2 s');
  for (const bad of [-1, 128, 1.5, Number.NaN]) m.observe(bad, 3100);
  assert.equal(m.observed, 50);
});

test('speaker lists change on another set, order or a level step above 0.1', () => {
  const a = { user: 'u1', client: 'c1', level: 0.5 };
  const b = { user: 'u2', client: 'c2', level: 0.3 };
  assert.equal(speakersChanged([a, b], [a, b]), false);
  assert.equal(speakersChanged([a, b], [b, a]), true);
  assert.equal(speakersChanged([a], [a, b]), true);
  assert.equal(speakersChanged([a], [{ ...a, level: 0.55 }]), false);
  assert.equal(speakersChanged([a], [{ ...a, level: 0.65 }]), true);
  assert.equal(speakersChanged([], []), false);
});
