import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allowedLayers, LayerSelector, type LayerInfo } from '../../../src/webrtc/sfu/layer-selector.ts';

/** 3 spatial (320x180, 640x360, 1280x720) × 3 temporal; bitrates grow with both. */
function simulcast(active = [true, true, true]): LayerInfo[] {
  const out: LayerInfo[] = [];
  const base = [150_000, 500_000, 1_500_000];
  const size = [[320, 180], [640, 360], [1280, 720]] as const;
  for (let s = 0; s < 3; s++) for (let t = 0; t < 3; t++) out.push({ spatial: s, temporal: t, bitrateBps: ((base[s] ?? 0) * (t + 2)) / 4, active: active[s] ?? false, width: size[s]?.[0], height: size[s]?.[1] });
  return out;
}
const L = simulcast();

test('allowed layers honour max spatial/temporal, rendered size and pause', () => {
  assert.deepEqual(allowedLayers(L, { maxSpatial: 1, maxTemporal: 1 }).map((l) => `${l.spatial}${l.temporal}`), ['00', '01', '10', '11']);
  assert.equal(Math.max(...allowedLayers(L, { width: 400, height: 200 }).map((l) => l.spatial)), 1, '400x200 → 640x360 is the smallest that covers');
  assert.equal(Math.max(...allowedLayers(L, { width: 4000, height: 2000 }).map((l) => l.spatial)), 2);
  assert.deepEqual(allowedLayers(L, { paused: true }), []);
  assert.equal(Math.max(...allowedLayers(simulcast([true, true, false]), {}).map((l) => l.spatial)), 1, 'inactive layer excluded');
});

test('first decision takes the best that fits and needs a keyframe; the switch happens on it', () => {
  const s = new LayerSelector();
  const d = s.update(L, {}, 600_000, 0);
  assert.deepEqual(d.target, { spatial: 1, temporal: 2 }); // 1,2 = 500k ≤ 600k < 2,0 = 750k
  assert.equal(d.keyframeNeeded, true);
  assert.equal(d.current, null);
  assert.equal(s.onKeyframe(0), false, 'keyframe of another layer does not switch');
  assert.equal(s.onKeyframe(1), true);
  assert.equal(s.update(L, {}, 600_000, 10).keyframeNeeded, false);
});

test('upgrade waits for 1.1 × headroom held ≥ 1 s; downgrade is immediate', () => {
  const s = new LayerSelector();
  s.update(L, {}, 200_000, 0);
  s.onKeyframe(0);
  assert.deepEqual(s.target, { spatial: 0, temporal: 2 });
  // 1,0 costs 250k: 260k is over it but under 1.1 × (275k): no upgrade however long.
  for (let t = 0; t <= 3000; t += 100) s.update(L, {}, 260_000, t);
  assert.deepEqual(s.target, { spatial: 0, temporal: 2 });
  // 280k ≥ 275k: upgrade after holding 1 s, not before.
  s.update(L, {}, 280_000, 4000);
  s.update(L, {}, 280_000, 4900);
  assert.deepEqual(s.target, { spatial: 0, temporal: 2 });
  const d = s.update(L, {}, 280_000, 5000);
  assert.deepEqual(d.target, { spatial: 1, temporal: 0 });
  assert.equal(d.keyframeNeeded, true);
  // A dip resets the hold timer.
  const s2 = new LayerSelector();
  s2.update(L, {}, 200_000, 0);
  s2.update(L, {}, 280_000, 100);
  s2.update(L, {}, 200_000, 600);
  s2.update(L, {}, 280_000, 700);
  assert.deepEqual(s2.update(L, {}, 280_000, 1200).target, { spatial: 0, temporal: 2 });
  // Over budget: down at once.
  assert.deepEqual(s.update(L, {}, 100_000, 5001).target, { spatial: 0, temporal: 0 });
});

test('temporal down is immediate, temporal up waits for a sync point', () => {
  const s = new LayerSelector({ upgradeHoldMs: 0 });
  const P = { maxSpatial: 1 };
  s.update(L, P, 1_000_000, 0);
  s.onKeyframe(1);
  assert.deepEqual(s.target, { spatial: 1, temporal: 2 });
  let d = s.update(L, P, 400_000, 1); // 1,1 = 375k
  assert.deepEqual(d.current, { spatial: 1, temporal: 1 });
  assert.equal(d.keyframeNeeded, false);
  assert.equal(d.awaitingSync, false);
  d = s.update(L, P, 1_000_000, 2);
  assert.deepEqual(d.target, { spatial: 1, temporal: 2 });
  assert.equal(d.awaitingSync, true);
  assert.equal(s.onTemporalSync(2), true);
  assert.equal(s.update(L, P, 1_000_000, 3).awaitingSync, false);
});

test('pause → nothing; budget below the lowest layer still forwards the lowest, flagged', () => {
  const s = new LayerSelector();
  assert.equal(s.update(L, { paused: true }, 5_000_000, 0).target, null);
  const d = s.update(L, {}, 10_000, 1);
  assert.deepEqual(d.target, { spatial: 0, temporal: 0 });
  assert.equal(d.overBudget, true);
});

test('property: the target is always allowed, and fits the budget unless over budget; no flapping under a constant budget', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ budget: fc.integer({ min: 0, max: 3_000_000 }), dt: fc.integer({ min: 0, max: 2000 }), maxS: fc.option(fc.integer({ min: 0, max: 2 })), act: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }) }), { maxLength: 60 }),
      fc.integer({ min: 0, max: 3_000_000 }),
      (steps, constant) => {
        const s = new LayerSelector();
        let now = 0;
        for (const st of steps) {
          now += st.dt;
          const layers = simulcast(st.act);
          const pref = st.maxS === null ? {} : { maxSpatial: st.maxS };
          const d = s.update(layers, pref, st.budget, now);
          const allowed = allowedLayers(layers, pref);
          if (d.target === null) {
            if (allowed.length !== 0) return false;
            continue;
          }
          const t = d.target;
          const l = allowed.find((x) => x.spatial === t.spatial && x.temporal === t.temporal);
          if (l === undefined) return false;
          if (!d.overBudget && l.bitrateBps > st.budget) return false;
        }
        // Constant budget: after the first hold the target never changes again.
        const c = new LayerSelector();
        const seen = new Set<string>();
        for (let t = 0; t < 20_000; t += 250) {
          const d = c.update(L, {}, constant, t);
          if (t >= 10_000) seen.add(JSON.stringify(d.target));
        }
        return seen.size === 1;
      },
    ),
  );
});
