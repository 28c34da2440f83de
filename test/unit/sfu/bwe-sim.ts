/**
 * A virtual-time bottleneck link for the bandwidth-estimator tests: drop-tail FIFO of capacity C
 * bps, a one-way propagation delay each way, optional random loss (seeded), a sender that paces
 * at the estimate and sends the probe clusters the controller asks for, and a receiver that sends
 * TWCC-style feedback every 50 ms. Pure arithmetic on a 1 ms step; no timers.
 */
import { SendSideBwe, type PacketFeedback, type SendSideBweOptions } from '../../../src/webrtc/sfu/bwe/index.ts';

export interface LinkPhase {
  /** Phase start (ms of virtual time). */
  atMs: number;
  capacityBps: number;
  lossRate?: number;
}

export interface SimOptions {
  phases: LinkPhase[];
  durationMs: number;
  propagationMs?: number;
  /** Drop-tail buffer (bytes). @default 60_000 */
  bufferBytes?: number;
  /** What the allocator would use (bps) — drives "allocator needs more" probes. */
  desiredBps?: number;
  seed?: number;
  bwe?: SendSideBweOptions;
}

/** Estimate samples, one per 100 ms. */
export interface SimTrace {
  samples: { t: number; bps: number; capacity: number }[];
  bwe: SendSideBwe;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

export function simulate(o: SimOptions): SimTrace {
  const prop = o.propagationMs ?? 25;
  const buffer = o.bufferBytes ?? 60_000;
  const rand = rng(o.seed ?? 7);
  const bwe = new SendSideBwe({ initialBps: 300_000, ...o.bwe });
  bwe.setRtt(2 * prop);
  bwe.probes.setDesiredBitrate(o.desiredBps ?? 0);
  const size = 1200;
  let seq = 0;
  let linkFreeAt = 0;
  let credit = 0;
  // Receiver side: packets that reached (or were dropped before) the receiver, by report time.
  let pendingReport: { reportAt: number; fb: PacketFeedback }[] = [];
  const inFlightFeedback: { deliverAt: number; fb: PacketFeedback[] }[] = [];
  let probeQueue: { at: number; cluster: number }[] = [];
  const samples: SimTrace['samples'] = [];
  let nextReport = 50;
  const phaseAt = (t: number): LinkPhase => {
    let p = o.phases[0];
    for (const ph of o.phases) if (ph.atMs <= t) p = ph;
    if (p === undefined) throw new Error('no phases');
    return p;
  };
  const send = (t: number, cluster?: number): void => {
    const s = seq++;
    bwe.onSent(s, size, t, cluster);
    const ph = phaseAt(t);
    const backlogBytes = Math.max(0, linkFreeAt - t) * ph.capacityBps / 8000;
    let arrivalMs: number | null;
    if (backlogBytes + size > buffer || rand() < (ph.lossRate ?? 0)) {
      arrivalMs = null;
    } else {
      const depart = Math.max(t, linkFreeAt) + (size * 8000) / ph.capacityBps;
      linkFreeAt = depart;
      arrivalMs = depart + prop;
    }
    pendingReport.push({ reportAt: arrivalMs ?? t + prop, fb: { transportSeq: s, arrivalMs } });
  };
  bwe.probes.start(300_000, 0);
  for (let t = 0; t < o.durationMs; t += 1) {
    for (const c of bwe.probes.process(t)) {
      const gap = (size * 8000) / c.targetBps;
      for (let i = 0; i < Math.max(c.minPackets, Math.ceil((c.targetBps * c.durationMs) / 8000 / size)); i++) {
        probeQueue.push({ at: t + i * gap, cluster: c.id });
      }
    }
    const due = probeQueue.filter((p) => p.at <= t);
    probeQueue = probeQueue.filter((p) => p.at > t);
    for (const p of due) send(t + (p.at % 1), p.cluster);
    credit += bwe.estimate / 8000;
    while (credit >= size) {
      send(t);
      credit -= size;
    }
    if (credit > 5 * size) credit = 5 * size;
    if (t >= nextReport) {
      const ready = pendingReport.filter((p) => p.reportAt <= t);
      pendingReport = pendingReport.filter((p) => p.reportAt > t);
      if (ready.length > 0) inFlightFeedback.push({ deliverAt: t + prop, fb: ready.map((r) => r.fb) });
      nextReport += 50;
    }
    while (inFlightFeedback.length > 0 && (inFlightFeedback[0]?.deliverAt ?? Infinity) <= t) {
      const f = inFlightFeedback.shift();
      if (f !== undefined) bwe.onFeedback(f.fb, t);
    }
    if (t % 100 === 0) samples.push({ t, bps: bwe.estimate, capacity: phaseAt(t).capacityBps });
  }
  return { samples, bwe };
}

/** Mean estimate over [fromMs, toMs). */
export function meanBetween(trace: SimTrace, fromMs: number, toMs: number): number {
  const xs = trace.samples.filter((s) => s.t >= fromMs && s.t < toMs).map((s) => s.bps);
  return xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
}

/** First time at or after `fromMs` when the estimate is within [lo, hi]. */
export function firstWithin(trace: SimTrace, fromMs: number, lo: number, hi: number): number | undefined {
  return trace.samples.find((s) => s.t >= fromMs && s.bps >= lo && s.bps <= hi)?.t;
}
