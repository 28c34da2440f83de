import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AimdRateControl, InterArrival, LossBasedBwe, OveruseDetector, ProbeController, ProbeResultEstimator, SendSideBwe, TrendlineFilter, twccToFeedback, RembEstimator } from '../../../src/webrtc/sfu/bwe/index.ts';
import { firstWithin, meanBetween, simulate } from './bwe-sim.ts';

const C = 2_500_000;

test('converges within ±20 % of a 2.5 Mbps bottleneck within 10 s and stays there', () => {
  const tr = simulate({ phases: [{ atMs: 0, capacityBps: C }], durationMs: 20_000, desiredBps: 4_000_000 });
  const t = firstWithin(tr, 0, 0.8 * C, 1.2 * C);
  assert.ok(t !== undefined && t <= 10_000, `converged at ${String(t)} ms`);
  const steady = tr.samples.filter((s) => s.t >= 10_000);
  for (const s of steady) assert.ok(s.bps >= 0.75 * C && s.bps <= 1.2 * C, `at ${s.t} ms: ${s.bps}`);
  const mean = meanBetween(tr, 10_000, 20_000);
  assert.ok(mean > 0.8 * C && mean < 1.1 * C, `mean ${mean}`);
});

test('converges without probing too (AIMD alone), within 30 s', () => {
  const tr = simulate({ phases: [{ atMs: 0, capacityBps: 1_000_000 }], durationMs: 30_000, bwe: { probe: { initialMultipliers: [] } } });
  const t = firstWithin(tr, 0, 800_000, 1_200_000);
  assert.ok(t !== undefined && t <= 30_000, `converged at ${String(t)}`);
  assert.ok(meanBetween(tr, 25_000, 30_000) > 700_000);
});

test('backs off within 2 s when capacity drops 2.5 M → 500 k and recovers when it returns', () => {
  const tr = simulate({
    phases: [{ atMs: 0, capacityBps: C }, { atMs: 15_000, capacityBps: 500_000 }, { atMs: 30_000, capacityBps: C }],
    durationMs: 50_000,
    desiredBps: 4_000_000,
  });
  const down = firstWithin(tr, 15_000, 0, 600_000);
  assert.ok(down !== undefined && down - 15_000 <= 2000, `backed off at ${String(down)}`);
  for (const s of tr.samples.filter((x) => x.t >= 18_000 && x.t < 30_000)) assert.ok(s.bps <= 650_000 && s.bps >= 300_000, `at ${s.t}: ${s.bps}`);
  const up = firstWithin(tr, 30_000, 0.8 * C, 1.2 * C);
  assert.ok(up !== undefined && up - 30_000 <= 15_000, `recovered at ${String(up)}`);
});

test('random 5 % loss does not collapse the estimate; 15 % loss decreases it', () => {
  const base = { atMs: 0, capacityBps: C };
  const five = simulate({ phases: [base, { atMs: 10_000, capacityBps: C, lossRate: 0.05 }], durationMs: 25_000, desiredBps: 4_000_000 });
  const before = meanBetween(five, 8000, 10_000);
  assert.ok(meanBetween(five, 20_000, 25_000) >= 0.8 * before, `5 %: ${meanBetween(five, 20_000, 25_000)} vs ${before}`);
  const fifteen = simulate({ phases: [base, { atMs: 10_000, capacityBps: C, lossRate: 0.15 }], durationMs: 25_000, desiredBps: 4_000_000 });
  const after = meanBetween(fifteen, 20_000, 25_000);
  assert.ok(after < 0.5 * meanBetween(fifteen, 8000, 10_000), `15 %: ${after}`);
  assert.ok(fifteen.bwe.loss.lossFraction > 0.1);
});

test('the estimate stays within [min, max] and onFeedback tolerates hostile input', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ seq: fc.integer({ min: 0, max: 200 }), size: fc.integer({ min: 1, max: 1500 }), send: fc.integer({ min: 0, max: 10_000 }), arr: fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true })) }), { maxLength: 200 }),
      (pkts) => {
        const bwe = new SendSideBwe({ minBps: 50_000, maxBps: 5_000_000, historySize: 64 });
        for (const p of pkts) bwe.onSent(p.seq, p.size, p.send);
        bwe.onFeedback(pkts.map((p) => ({ transportSeq: p.seq, arrivalMs: p.arr })), 10_000);
        bwe.onFeedback([{ transportSeq: 1, arrivalMs: Number.NaN }], 10_100);
        return bwe.estimate >= 50_000 && bwe.estimate <= 5_000_000 && Number.isFinite(bwe.estimate);
      },
    ),
  );
});

test('inter-arrival: 5 ms send groups yield deltas of the group ends', () => {
  const ia = new InterArrival();
  assert.equal(ia.push(0, 100, 100), undefined);
  assert.equal(ia.push(4, 104, 100), undefined); // same group
  assert.equal(ia.push(10, 112, 100), undefined); // closes group 1, no predecessor
  assert.equal(ia.push(12, 113, 100), undefined);
  const d = ia.push(20, 125, 100); // closes group 2
  assert.deepEqual(d, { sendDeltaMs: 8, arrivalDeltaMs: 9, arrivalMs: 113 });
  assert.equal(ia.push(1, 200, 100), undefined, 'reordered packet ignored');
});

test('trendline: growing delay gives a positive slope, constant delay zero', () => {
  const grow = new TrendlineFilter();
  const flat = new TrendlineFilter();
  for (let i = 1; i <= 40; i++) {
    grow.update({ sendDeltaMs: 10, arrivalDeltaMs: 12, arrivalMs: i * 12 });
    flat.update({ sendDeltaMs: 10, arrivalDeltaMs: 10, arrivalMs: i * 10 });
  }
  assert.ok(grow.trend > 0.1, `slope ${grow.trend}`);
  assert.ok(Math.abs(flat.trend) < 1e-9);
});

test('overuse detector: sustained input over threshold → overusing; threshold adapts and stays in [6, 600]', () => {
  const d = new OveruseDetector();
  let state = d.detect(50, 10, 60, 0);
  state = d.detect(60, 10, 60, 10);
  assert.equal(state, 'overusing');
  assert.equal(d.detect(-50, 10, 60, 20), 'underusing');
  assert.equal(d.detect(0, 10, 60, 30), 'normal');
  fc.assert(
    fc.property(fc.array(fc.double({ min: -1000, max: 1000, noNaN: true }), { maxLength: 300 }), (xs) => {
      const det = new OveruseDetector();
      xs.forEach((x, i) => det.detect(x, 5, 60, i * 5));
      return det.threshold >= 6 && det.threshold <= 600;
    }),
  );
});

test('AIMD: overuse drops to 0.85 × acked; increase is multiplicative ~8 %/s far from capacity', () => {
  const a = new AimdRateControl({ initialBps: 1_000_000 });
  a.update('normal', undefined, 0);
  a.update('normal', undefined, 1000);
  assert.ok(Math.abs(a.estimate - 1_080_000) < 2000, `${a.estimate}`);
  a.update('overusing', 900_000, 1100);
  assert.equal(a.estimate, 765_000);
  assert.ok(a.linkCapacity !== undefined);
  // Near the capacity the step is additive: far less than 8 % per second.
  a.update('normal', 800_000, 1200);
  const before = a.estimate;
  a.update('normal', 800_000, 2200);
  assert.ok(a.estimate - before < 0.05 * before && a.estimate > before, `${before} → ${a.estimate}`);
});

test('loss-based: < 2 % grows (capped by delay-based), 2..10 % holds, > 10 % cuts by (1 − loss/2)', () => {
  const l = new LossBasedBwe({ initialBps: 1_000_000 });
  l.onFeedback(100, 0, 5_000_000, 0);
  assert.equal(l.estimate, 1_081_000);
  l.onFeedback(95, 5, 5_000_000, 1000);
  assert.equal(l.estimate, 1_081_000);
  l.onFeedback(80, 20, 5_000_000, 2000);
  assert.equal(l.estimate, Math.round(1_081_000 * 0.9));
  l.onFeedback(100, 0, 500_000, 3000);
  assert.equal(l.estimate, 500_000);
});

test('probe controller: 3× and 6× at start, then allocator-driven probes rate-limited', () => {
  const p = new ProbeController();
  p.start(300_000, 0);
  assert.deepEqual(p.process(0).map((c) => c.targetBps), [900_000, 1_800_000]);
  p.start(300_000, 0);
  assert.deepEqual(p.process(1), []);
  p.setEstimate(1_000_000);
  p.setDesiredBitrate(3_000_000);
  assert.deepEqual(p.process(4000), []);
  assert.deepEqual(p.process(5000).map((c) => c.targetBps), [2_000_000]);
  assert.deepEqual(p.process(6000), []);
  p.setDesiredBitrate(0);
  p.setAlr(true);
  assert.deepEqual(p.process(10_000).map((c) => c.targetBps), [2_000_000]);
});

test('probe result: delivered at the send rate → that rate; squeezed → the receive rate', () => {
  const ok = new ProbeResultEstimator();
  const sq = new ProbeResultEstimator();
  let a: number | undefined;
  let b: number | undefined;
  for (let i = 0; i < 5; i++) {
    // 1200 B every 4.8 ms = 2 Mbps; the squeezed path delivers every 9.6 ms (1 Mbps).
    a = ok.push({ transportSeq: i, size: 1200, sendMs: i * 4.8, probeClusterId: 1, arrivalMs: 50 + i * 4.8 }) ?? a;
    b = sq.push({ transportSeq: i, size: 1200, sendMs: i * 4.8, probeClusterId: 1, arrivalMs: 50 + i * 9.6 }) ?? b;
  }
  assert.ok(a !== undefined && Math.abs(a - 2_000_000) < 1000, `${String(a)}`);
  assert.ok(b !== undefined && b < 1_000_000 && b > 900_000, `${String(b)}`);
});

test('TWCC feedback → results: arrival from reference time + 250 µs deltas, lost as null, seq wraps', () => {
  const r = twccToFeedback({ baseSeq: 65534, referenceTime: 10, status: Uint8Array.from([1, 0, 2, 1]), deltas: Int32Array.from([4, -8, 400]) });
  assert.deepEqual(r, [
    { transportSeq: 65534, arrivalMs: 641 },
    { transportSeq: 65535, arrivalMs: null },
    { transportSeq: 0, arrivalMs: 639 },
    { transportSeq: 1, arrivalMs: 739 },
  ]);
  assert.equal(twccToFeedback({ baseSeq: 0, referenceTime: 0, status: [1, 1], deltas: [1] }).length, 1, 'missing delta ends the list');
});

test('REMB fallback: grows on an uncongested path, drops (and reports at once) when the queue builds', () => {
  const r = new RembEstimator({ initialBps: 500_000 });
  let sent = 0;
  let first: number | undefined;
  // 1 Mbps offered over a clean path: 1200 B every 9.6 ms, constant 30 ms transit.
  for (let t = 0; t < 5000; t += 10) {
    for (; sent * 9.6 < t; sent++) r.onPacket(sent * 9.6, sent * 9.6 + 30, 1200);
    first = r.process(t) ?? first;
  }
  const grown = r.estimate;
  assert.ok(grown > 600_000, `${grown}`);
  assert.ok(first !== undefined);
  // Now the path's queue grows 2 ms per packet (arrivals spaced 19.2 ms, 500 kbps delivered): overuse.
  let remb: number | undefined;
  const base = sent;
  for (let t = 5000; t < 7000; t += 10) {
    for (; sent * 9.6 < t; sent++) r.onPacket(sent * 9.6, base * 9.6 + 30 + (sent - base) * 19.2, 1200);
    const v = r.process(t);
    if (v !== undefined && v < grown) remb ??= v;
  }
  assert.ok(r.estimate < 0.9 * 500_000, `${r.estimate} vs ${grown}`);
  assert.ok(remb !== undefined && remb < grown);
});
