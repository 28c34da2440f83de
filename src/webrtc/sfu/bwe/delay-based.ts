/**
 * The delay-based half of Google Congestion Control (draft-ietf-rmcat-gcc-02 §5, structured as
 * libwebrtc's goog_cc): packets are grouped by send time (5 ms bursts), each pair of consecutive
 * groups gives an inter-arrival minus inter-departure delay variation, a trendline (least-squares
 * slope over a window of smoothed accumulated delay) says whether queues are growing, an overuse
 * detector with an adaptive threshold turns the slope into overusing/normal/underusing, and an
 * AIMD controller turns that into a rate.
 */
import type { BandwidthUsage, PacketResult } from './types.ts';

/** Send-time span of one packet group (GCC §5.2: burst_time 5 ms). */
export const GROUP_SPAN_MS = 5;

interface Group {
  firstSendMs: number;
  lastSendMs: number;
  firstArrivalMs: number;
  lastArrivalMs: number;
  size: number;
}

/** The per-group deltas one completed group pair yields. */
export interface GroupDelta {
  sendDeltaMs: number;
  arrivalDeltaMs: number;
  /** Arrival time of the later group (ms, receiver clock). */
  arrivalMs: number;
}

/**
 * Groups received packets (in send order) into 5 ms send-time groups and emits the delta between
 * each newly completed group and the one before it. Reordered packets (send time before the
 * current group) are ignored, as libwebrtc's InterArrival does.
 */
export class InterArrival {
  private current: Group | undefined;
  private previous: Group | undefined;

  /** Feeds one received packet; returns a delta when it closes a group that has a predecessor. */
  push(sendMs: number, arrivalMs: number, size: number): GroupDelta | undefined {
    const cur = this.current;
    if (cur === undefined) {
      this.current = { firstSendMs: sendMs, lastSendMs: sendMs, firstArrivalMs: arrivalMs, lastArrivalMs: arrivalMs, size };
      return undefined;
    }
    if (sendMs < cur.firstSendMs) return undefined; // reordered into an old group
    // A packet belongs to the current group when sent within the span, or when it arrives in the
    // same burst (arrival gap < span while its send gap is larger: the queue drained a burst).
    const inBurst = arrivalMs - cur.lastArrivalMs < GROUP_SPAN_MS && arrivalMs - cur.lastArrivalMs - (sendMs - cur.lastSendMs) < 0;
    if (sendMs - cur.firstSendMs <= GROUP_SPAN_MS || inBurst) {
      cur.lastSendMs = Math.max(cur.lastSendMs, sendMs);
      cur.lastArrivalMs = Math.max(cur.lastArrivalMs, arrivalMs);
      cur.size += size;
      return undefined;
    }
    let delta: GroupDelta | undefined;
    const prev = this.previous;
    if (prev !== undefined) {
      delta = { sendDeltaMs: cur.lastSendMs - prev.lastSendMs, arrivalDeltaMs: cur.lastArrivalMs - prev.lastArrivalMs, arrivalMs: cur.lastArrivalMs };
    }
    this.previous = cur;
    this.current = { firstSendMs: sendMs, lastSendMs: sendMs, firstArrivalMs: arrivalMs, lastArrivalMs: arrivalMs, size };
    return delta;
  }
}

/** Trendline filter parameters (libwebrtc TrendlineEstimator defaults). */
export interface TrendlineOptions {
  /** Number of (time, smoothed delay) points in the regression. @default 20 */
  windowSize?: number;
  /** Exponential smoothing of the accumulated delay. @default 0.9 */
  smoothing?: number;
  /** Gain from slope to the detector's input. @default 4 */
  thresholdGain?: number;
}

/**
 * Least-squares slope of smoothed accumulated one-way delay variation against arrival time: a
 * positive slope means the bottleneck queue is growing.
 */
export class TrendlineFilter {
  private readonly windowSize: number;
  private readonly smoothing: number;
  readonly thresholdGain: number;
  private accumulated = 0;
  private smoothed = 0;
  private firstArrivalMs: number | undefined;
  private readonly points: { x: number; y: number }[] = [];
  private numDeltas = 0;
  private slope = 0;

  constructor(options: TrendlineOptions = {}) {
    this.windowSize = options.windowSize ?? 20;
    this.smoothing = options.smoothing ?? 0.9;
    this.thresholdGain = options.thresholdGain ?? 4;
  }

  /** Adds one group delta; returns the detector input (slope × min(deltas, 60) × gain). */
  update(delta: GroupDelta): number {
    const variation = delta.arrivalDeltaMs - delta.sendDeltaMs;
    this.numDeltas = Math.min(this.numDeltas + 1, 1000);
    this.firstArrivalMs ??= delta.arrivalMs;
    this.accumulated += variation;
    this.smoothed = this.smoothing * this.smoothed + (1 - this.smoothing) * this.accumulated;
    this.points.push({ x: delta.arrivalMs - this.firstArrivalMs, y: this.smoothed });
    if (this.points.length > this.windowSize) this.points.shift();
    if (this.points.length === this.windowSize) this.slope = linearFitSlope(this.points) ?? this.slope;
    return this.modifiedTrend();
  }

  /** The current slope (ms of queueing per ms). */
  get trend(): number {
    return this.slope;
  }

  /** Count of deltas seen (capped), which scales the detector input as in libwebrtc. */
  get deltas(): number {
    return this.numDeltas;
  }

  private modifiedTrend(): number {
    return Math.min(this.numDeltas, 60) * this.slope * this.thresholdGain;
  }
}

function linearFitSlope(points: readonly { x: number; y: number }[]): number | undefined {
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / points.length;
  const my = sy / points.length;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) * (p.x - mx);
  }
  return den === 0 ? undefined : num / den;
}

/** Adaptive-threshold overuse detector parameters (GCC §5.4, libwebrtc OveruseDetector). */
export interface OveruseDetectorOptions {
  /** Threshold adaptation gain when the input exceeds the threshold. @default 0.0087 */
  kUp?: number;
  /** Threshold adaptation gain when the input is under the threshold. @default 0.039 */
  kDown?: number;
  /** Initial threshold. @default 12.5 */
  initialThreshold?: number;
  /** How long the input must stay above the threshold to signal overuse (ms). @default 10 */
  overuseTimeMs?: number;
}

/**
 * Compares the trendline output with a threshold that adapts towards the input (slowly up,
 * faster down), so the detector is neither starved by competing TCP flows nor triggered by jitter.
 */
export class OveruseDetector {
  private readonly kUp: number;
  private readonly kDown: number;
  private readonly overuseTimeMs: number;
  private thresholdValue: number;
  private lastUpdateMs: number | undefined;
  private timeOverUsing = -1;
  private overuseCounter = 0;
  private prevTrend = 0;
  private hypothesis: BandwidthUsage = 'normal';

  constructor(options: OveruseDetectorOptions = {}) {
    this.kUp = options.kUp ?? 0.0087;
    this.kDown = options.kDown ?? 0.039;
    this.thresholdValue = options.initialThreshold ?? 12.5;
    this.overuseTimeMs = options.overuseTimeMs ?? 10;
  }

  /** The current adaptive threshold. */
  get threshold(): number {
    return this.thresholdValue;
  }

  /** The current verdict. */
  get state(): BandwidthUsage {
    return this.hypothesis;
  }

  /**
   * Feeds one modified trend value.
   * @param modifiedTrend slope × min(deltas, 60) × gain
   * @param sendDeltaMs the send-time delta of the group pair (time the condition has held)
   * @param nowMs arrival time, for the threshold adaptation step
   */
  detect(modifiedTrend: number, sendDeltaMs: number, numDeltas: number, nowMs: number): BandwidthUsage {
    if (numDeltas < 2) return 'normal';
    if (modifiedTrend > this.thresholdValue) {
      this.timeOverUsing = this.timeOverUsing === -1 ? sendDeltaMs / 2 : this.timeOverUsing + sendDeltaMs;
      this.overuseCounter += 1;
      if (this.timeOverUsing > this.overuseTimeMs && this.overuseCounter > 1 && modifiedTrend >= this.prevTrend) {
        this.timeOverUsing = 0;
        this.overuseCounter = 0;
        this.hypothesis = 'overusing';
      }
    } else if (modifiedTrend < -this.thresholdValue) {
      this.timeOverUsing = -1;
      this.overuseCounter = 0;
      this.hypothesis = 'underusing';
    } else {
      this.timeOverUsing = -1;
      this.overuseCounter = 0;
      this.hypothesis = 'normal';
    }
    this.prevTrend = modifiedTrend;
    this.updateThreshold(modifiedTrend, nowMs);
    return this.hypothesis;
  }

  private updateThreshold(modifiedTrend: number, nowMs: number): void {
    this.lastUpdateMs ??= nowMs;
    const abs = Math.abs(modifiedTrend);
    // A spike far above the threshold (a route change, a burst) must not drag the threshold up.
    if (abs > this.thresholdValue + 15) {
      this.lastUpdateMs = nowMs;
      return;
    }
    const k = abs < this.thresholdValue ? this.kDown : this.kUp;
    const dt = Math.min(Math.max(nowMs - this.lastUpdateMs, 0), 100);
    this.thresholdValue += k * (abs - this.thresholdValue) * dt;
    this.thresholdValue = Math.min(Math.max(this.thresholdValue, 6), 600);
    this.lastUpdateMs = nowMs;
  }
}

/** AIMD rate controller parameters (GCC §5.5, libwebrtc AimdRateControl). */
export interface AimdOptions {
  /** Start rate (bps). @default 300_000 */
  initialBps?: number;
  minBps?: number;
  maxBps?: number;
  /** Decrease target as a fraction of the acknowledged bitrate. @default 0.85 */
  beta?: number;
  /** Multiplicative increase per second far from convergence. @default 0.08 */
  increasePerSecond?: number;
}

/**
 * Additive-increase / multiplicative-decrease on the detector's verdict. Far from the last known
 * link capacity it grows 8 %/s; within three standard deviations of it, by about one packet per
 * response time. On overuse it drops to beta × acknowledged bitrate and remembers that rate as a
 * link capacity sample.
 */
export class AimdRateControl {
  private readonly minBps: number;
  private readonly maxBps: number;
  private readonly beta: number;
  private readonly increasePerSecond: number;
  private current: number;
  private state: 'hold' | 'increase' | 'decrease' = 'increase';
  private lastChangeMs: number | undefined;
  private capacityMean: number | undefined;
  private capacityVar = 0.4;
  private rttMs = 200;

  constructor(options: AimdOptions = {}) {
    this.minBps = options.minBps ?? 30_000;
    this.maxBps = options.maxBps ?? 30_000_000;
    this.beta = options.beta ?? 0.85;
    this.increasePerSecond = options.increasePerSecond ?? 0.08;
    this.current = clamp(options.initialBps ?? 300_000, this.minBps, this.maxBps);
  }

  /** The rate (bps). */
  get estimate(): number {
    return this.current;
  }

  /** The link capacity estimate (bps) from past decreases, if any. */
  get linkCapacity(): number | undefined {
    return this.capacityMean;
  }

  /** Round-trip time used for the additive step and the reduce-again interval. */
  setRtt(rttMs: number): void {
    this.rttMs = rttMs;
  }

  /** Sets the rate directly (a probe result, or a loss-based cap feeding back). */
  setEstimate(bps: number, nowMs: number): void {
    this.current = clamp(bps, this.minBps, this.maxBps);
    this.lastChangeMs = nowMs;
  }

  /**
   * Whether another decrease is due while overuse persists: once per RTT (10..200 ms), or at once
   * when the acknowledged rate fell below half the estimate.
   */
  timeToReduceFurther(nowMs: number, ackedBps: number | undefined): boolean {
    const interval = clamp(this.rttMs, 10, 200);
    if (this.lastChangeMs === undefined || nowMs - this.lastChangeMs >= interval) return true;
    return ackedBps !== undefined && ackedBps < this.current / 2;
  }

  /** Applies one detector verdict at nowMs with the acknowledged bitrate (bps) if known. */
  update(usage: BandwidthUsage, ackedBps: number | undefined, nowMs: number): number {
    if (usage === 'overusing') this.state = 'decrease';
    else if (usage === 'underusing') this.state = 'hold';
    else if (this.state === 'hold' || this.state === 'decrease') this.state = 'increase';
    const last = this.lastChangeMs ?? nowMs;
    const dtMs = Math.min(Math.max(nowMs - last, 0), 1000);
    if (this.state === 'increase') {
      if (this.capacityMean !== undefined && this.current > this.capacityMean + 3 * this.capacityStd()) {
        this.capacityMean = undefined; // the link got better: forget the old capacity
      }
      let next: number;
      if (this.capacityMean !== undefined) {
        // Near convergence: about one 1200-byte packet per response time.
        const responseMs = this.rttMs + 100;
        const perSecond = Math.max(4000, (1200 * 8 * 1000) / responseMs);
        next = this.current + (perSecond * dtMs) / 1000;
      } else {
        next = this.current * Math.pow(1 + this.increasePerSecond, dtMs / 1000);
        next = Math.max(next, this.current + (1000 * dtMs) / 1000);
      }
      // Never run far ahead of what is actually delivered.
      if (ackedBps !== undefined) next = Math.min(next, Math.max(this.current, 1.5 * ackedBps + 10_000));
      this.current = clamp(next, this.minBps, this.maxBps);
      this.lastChangeMs = nowMs;
    } else if (this.state === 'decrease') {
      const base = ackedBps ?? this.current;
      let next = this.beta * base;
      if (next > this.current) next = this.current; // a decrease never raises the rate
      this.updateCapacity(base);
      this.current = clamp(next, this.minBps, this.maxBps);
      this.lastChangeMs = nowMs;
      this.state = 'hold';
    } else {
      this.lastChangeMs = nowMs;
    }
    return this.current;
  }

  private capacityStd(): number {
    const mean = this.capacityMean ?? 0;
    return Math.sqrt(this.capacityVar * mean);
  }

  private updateCapacity(sampleBps: number): void {
    // Running mean/variance of the capacity (kbps-normalised as in libwebrtc LinkCapacityEstimator).
    const sample = sampleBps / 1000;
    const mean = this.capacityMean === undefined ? sample : this.capacityMean / 1000;
    const alpha = 0.05;
    const nextMean = this.capacityMean === undefined ? sample : (1 - alpha) * mean + alpha * sample;
    const norm = Math.max(nextMean, 1);
    const err = nextMean - sample;
    this.capacityVar = clamp((1 - alpha) * this.capacityVar + (alpha * err * err) / norm, 0.4, 2.5);
    this.capacityMean = nextMean * 1000;
  }
}

/** Options of {@link DelayBasedBwe}. */
export interface DelayBasedOptions extends AimdOptions, TrendlineOptions, OveruseDetectorOptions {}

/**
 * The delay-based estimator: inter-arrival grouping → trendline → overuse detector → AIMD.
 * Feed it results in send order.
 */
export class DelayBasedBwe {
  private readonly interArrival = new InterArrival();
  private readonly trendline: TrendlineFilter;
  private readonly detector: OveruseDetector;
  readonly rateControl: AimdRateControl;

  constructor(options: DelayBasedOptions = {}) {
    this.trendline = new TrendlineFilter(options);
    this.detector = new OveruseDetector(options);
    this.rateControl = new AimdRateControl(options);
  }

  /** The detector's current verdict. */
  get usage(): BandwidthUsage {
    return this.detector.state;
  }

  /** The delay-based rate (bps). */
  get estimate(): number {
    return this.rateControl.estimate;
  }

  /**
   * Feeds one feedback batch (received packets only, sorted by send time) and updates the rate.
   * @returns the delay-based estimate after the batch
   */
  onResults(results: readonly PacketResult[], ackedBps: number | undefined, nowMs: number): number {
    let sawOveruse = false;
    let last: BandwidthUsage = this.detector.state;
    for (const r of results) {
      if (r.arrivalMs === null) continue;
      const delta = this.interArrival.push(r.sendMs, r.arrivalMs, r.size);
      if (delta === undefined) continue;
      const trend = this.trendline.update(delta);
      last = this.detector.detect(trend, delta.sendDeltaMs, this.trendline.deltas, delta.arrivalMs);
      if (last === 'overusing') sawOveruse = true;
    }
    if (sawOveruse || last === 'overusing') {
      if (this.rateControl.timeToReduceFurther(nowMs, ackedBps)) this.rateControl.update('overusing', ackedBps, nowMs);
    } else {
      this.rateControl.update(last, ackedBps, nowMs);
    }
    return this.rateControl.estimate;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
