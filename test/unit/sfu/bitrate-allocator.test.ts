import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocateBitrate, type AllocationConsumer } from '../../../src/webrtc/sfu/bitrate-allocator.ts';
import type { LayerInfo } from '../../../src/webrtc/sfu/layer-selector.ts';

const layers: LayerInfo[] = [
  { spatial: 0, temporal: 0, bitrateBps: 150_000, active: true, width: 320, height: 180 },
  { spatial: 1, temporal: 0, bitrateBps: 500_000, active: true, width: 640, height: 360 },
  { spatial: 2, temporal: 0, bitrateBps: 1_500_000, active: true, width: 1280, height: 720 },
];
const deepFreeze = <T>(o: T): T => {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
};

test('audio first and always; every video gets its lowest layer before anyone upgrades', () => {
  const cs = deepFreeze<AllocationConsumer[]>([
    { id: 'a', producerId: 'pa', kind: 'audio' },
    { id: 'big', producerId: 'p1', kind: 'video', layers, pref: { width: 1280, height: 720 } },
    { id: 'small', producerId: 'p2', kind: 'video', layers, pref: { width: 320, height: 180 } },
  ]);
  const r = allocateBitrate(400_000, cs);
  assert.equal(r.budgets.get('a'), 64_000);
  assert.deepEqual(r.targets.get('big'), { spatial: 0, temporal: 0 });
  assert.deepEqual(r.targets.get('small'), { spatial: 0, temporal: 0 });
  const r2 = allocateBitrate(1_000_000, cs);
  assert.deepEqual(r2.targets.get('big'), { spatial: 1, temporal: 0 }, 'the bigger tile upgrades first');
  assert.deepEqual(r2.targets.get('small'), { spatial: 0, temporal: 0 }, 'the small tile needs no more');
  assert.equal(r2.desiredBps, 64_000 + 1_500_000 + 150_000);
  assert.equal(r2.probeDeficitBps, 714_000);
  const r3 = allocateBitrate(10_000, cs);
  assert.equal(r3.budgets.get('a'), 64_000, 'audio even past the estimate');
  assert.equal(r3.targets.get('big'), null);
});

test('priority beats size; upgrades over the current layer pay 1.1 × headroom', () => {
  const cs: AllocationConsumer[] = [
    { id: 'x', producerId: 'p', kind: 'video', layers, pref: { width: 1280, height: 720 } },
    { id: 'y', producerId: 'q', kind: 'video', layers, priority: 2, pref: { width: 640, height: 360 } },
  ];
  const r = allocateBitrate(800_000, cs);
  assert.deepEqual(r.targets.get('y'), { spatial: 1, temporal: 0 });
  assert.deepEqual(r.targets.get('x'), { spatial: 0, temporal: 0 });
  const held = allocateBitrate(2_000_000, [{ ...cs[0], current: { spatial: 0, temporal: 0 } } as AllocationConsumer]);
  assert.deepEqual(held.targets.get('x'), { spatial: 2, temporal: 0 });
  assert.equal(held.budgets.get('x'), 1_650_000);
  const short = allocateBitrate(1_600_000, [{ ...cs[0], current: { spatial: 0, temporal: 0 } } as AllocationConsumer]);
  assert.deepEqual(short.targets.get('x'), { spatial: 1, temporal: 0 }, '1.6 M < 1.1 × 1.5 M');
});

test('dynacast: only layers some consumer targets or still forwards are needed', () => {
  const r = allocateBitrate(5_000_000, [
    { id: 'a', producerId: 'p', kind: 'video', layers, pref: { width: 320, height: 180 } },
    { id: 'b', producerId: 'p', kind: 'video', layers, pref: { maxSpatial: 1 }, current: { spatial: 0, temporal: 0 } },
    { id: 'c', producerId: 'q', kind: 'video', layers, pref: { paused: true } },
  ]);
  assert.deepEqual(r.neededSpatial.get('p'), [0, 1]);
  assert.deepEqual(r.neededSpatial.get('q'), []);
});

test('property: never hands out more than the estimate beyond audio; lowest-first fairness', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10_000_000 }),
      fc.array(fc.record({ audio: fc.boolean(), prio: fc.integer({ min: 0, max: 3 }), w: fc.integer({ min: 0, max: 2000 }), maxS: fc.option(fc.integer({ min: 0, max: 2 })) }), { maxLength: 12 }),
      (est, specs) => {
        const cs: AllocationConsumer[] = specs.map((s, i) => s.audio
          ? { id: `c${i}`, producerId: `p${i}`, kind: 'audio' }
          : { id: `c${i}`, producerId: `p${i % 3}`, kind: 'video', layers, priority: s.prio, pref: s.maxS === null ? { width: s.w, height: s.w } : { maxSpatial: s.maxS } });
        const r = allocateBitrate(est, cs);
        const audio = cs.filter((c) => c.kind === 'audio').length * 64_000;
        const video = cs.filter((c) => c.kind === 'video').reduce((a, c) => a + (r.budgets.get(c.id) ?? 0), 0);
        if (video > Math.max(0, est - audio) + 1e-6) return false;
        // If some video consumer got nothing, no other video consumer got above its lowest layer.
        const starved = cs.some((c) => c.kind === 'video' && r.targets.get(c.id) === null);
        const upgraded = cs.some((c) => c.kind === 'video' && (r.targets.get(c.id)?.spatial ?? 0) > 0 && (c.pref?.maxSpatial ?? 2) > 0);
        return !(starved && upgraded);
      },
    ),
  );
});
