/**
 * Bandwidth probing (libwebrtc ProbeController / ProbeBitrateEstimator): short clusters of packets
 * paced at a target rate; if the receiver got them at that rate, the path carries at least that
 * much and the estimate may jump there instead of creeping up at 8 %/s.
 */
import type { PacketResult } from './types.ts';

/** One probe the pacer should send: `minPackets` packets over about `durationMs` at `targetBps`. */
export interface ProbeCluster {
  id: number;
  targetBps: number;
  minPackets: number;
  durationMs: number;
}

/** Options of {@link ProbeController}. */
export interface ProbeControllerOptions {
  /** Multipliers of the initial estimate probed at start. @default [3, 6] */
  initialMultipliers?: number[];
  /** Upper bound of any probe (bps). @default 30_000_000 */
  maxBps?: number;
  /** Minimum time between probes that are not at start (ms). @default 5000 */
  probeIntervalMs?: number;
  /** A probe asks for this much more than the current estimate at most. @default 2 */
  maxProbeMultiplier?: number;
  /** Packets per cluster. @default 5 */
  minPackets?: number;
  /** Cluster duration (ms). @default 15 */
  durationMs?: number;
}

/**
 * Decides when to probe: twice at start (3× and 6× the initial rate), when the allocator wants
 * more than the estimate (up to 2× it, rate-limited), and periodically while the sender is
 * application-limited (ALR) and the estimate has been flat, so an idle link's estimate does not go
 * stale. Pure: the caller asks with `process(nowMs)` and sends what it returns.
 */
export class ProbeController {
  private readonly o: Required<ProbeControllerOptions>;
  private nextId = 1;
  private pending: ProbeCluster[] = [];
  private started = false;
  private lastProbeMs = -Infinity;
  private estimateBps = 0;
  private desiredBps = 0;
  private alr = false;

  constructor(options: ProbeControllerOptions = {}) {
    this.o = { initialMultipliers: [3, 6], maxBps: 30_000_000, probeIntervalMs: 5000, maxProbeMultiplier: 2, minPackets: 5, durationMs: 15, ...options };
  }

  /** Starts: queues the initial probes relative to `initialBps`. Idempotent. */
  start(initialBps: number, nowMs: number): void {
    if (this.started) return;
    this.started = true;
    this.estimateBps = initialBps;
    for (const m of this.o.initialMultipliers) this.enqueue(initialBps * m);
    this.lastProbeMs = nowMs;
  }

  /** Tells the controller the current estimate. */
  setEstimate(bps: number): void {
    this.estimateBps = bps;
  }

  /** The total the allocator would spend if it could (bps). */
  setDesiredBitrate(bps: number): void {
    this.desiredBps = bps;
  }

  /** Whether the sender is application-limited (sending well below the estimate). */
  setAlr(inAlr: boolean): void {
    this.alr = inAlr;
  }

  /** Clusters to send now (each returned once). */
  process(nowMs: number): ProbeCluster[] {
    if (this.started && this.pending.length === 0 && nowMs - this.lastProbeMs >= this.o.probeIntervalMs) {
      if (this.desiredBps > this.estimateBps * 1.2) {
        this.enqueue(Math.min(this.desiredBps, this.estimateBps * this.o.maxProbeMultiplier));
        this.lastProbeMs = nowMs;
      } else if (this.alr) {
        this.enqueue(this.estimateBps * this.o.maxProbeMultiplier);
        this.lastProbeMs = nowMs;
      }
    }
    const out = this.pending;
    this.pending = [];
    return out;
  }

  private enqueue(bps: number): void {
    const targetBps = Math.min(Math.round(bps), this.o.maxBps);
    if (targetBps <= 0) return;
    this.pending.push({ id: this.nextId++, targetBps, minPackets: this.o.minPackets, durationMs: this.o.durationMs });
  }
}

interface ClusterAcc {
  firstSendMs: number;
  lastSendMs: number;
  lastSendSize: number;
  firstArrivalMs: number;
  firstArrivalSize: number;
  lastArrivalMs: number;
  sentBytes: number;
  receivedBytes: number;
  received: number;
}

/**
 * Turns probe-cluster feedback into a rate. Send rate = bytes (without the last packet) over the
 * send span; receive rate = bytes (without the first) over the arrival span. If the receive rate
 * is clearly below the send rate, the path is saturated at about the receive rate; otherwise the
 * probe proved min(send, receive).
 */
export class ProbeResultEstimator {
  private readonly clusters = new Map<number, ClusterAcc>();
  private readonly minPackets: number;

  /** @param minPackets received probe packets needed for a result (default 4, 80 % of 5). */
  constructor(minPackets = 4) {
    this.minPackets = minPackets;
  }

  /** Feeds one result; returns a rate (bps) when this cluster now has enough to judge. */
  push(r: PacketResult): number | undefined {
    if (r.probeClusterId === undefined || r.arrivalMs === null) return undefined;
    let c = this.clusters.get(r.probeClusterId);
    if (c === undefined) {
      if (this.clusters.size >= 16) {
        const oldest = this.clusters.keys().next().value;
        if (oldest !== undefined) this.clusters.delete(oldest);
      }
      c = { firstSendMs: r.sendMs, lastSendMs: r.sendMs, lastSendSize: r.size, firstArrivalMs: r.arrivalMs, firstArrivalSize: r.size, lastArrivalMs: r.arrivalMs, sentBytes: 0, receivedBytes: 0, received: 0 };
      this.clusters.set(r.probeClusterId, c);
    }
    if (r.sendMs < c.firstSendMs) c.firstSendMs = r.sendMs;
    if (r.sendMs >= c.lastSendMs) {
      c.lastSendMs = r.sendMs;
      c.lastSendSize = r.size;
    }
    if (r.arrivalMs < c.firstArrivalMs) {
      c.firstArrivalMs = r.arrivalMs;
      c.firstArrivalSize = r.size;
    }
    if (r.arrivalMs > c.lastArrivalMs) c.lastArrivalMs = r.arrivalMs;
    c.sentBytes += r.size;
    c.receivedBytes += r.size;
    c.received += 1;
    if (c.received < this.minPackets) return undefined;
    const sendSpan = c.lastSendMs - c.firstSendMs;
    const recvSpan = c.lastArrivalMs - c.firstArrivalMs;
    if (sendSpan <= 0 || recvSpan <= 0 || sendSpan > 1000 || recvSpan > 1000) return undefined;
    const sendBps = ((c.sentBytes - c.lastSendSize) * 8000) / sendSpan;
    const recvBps = ((c.receivedBytes - c.firstArrivalSize) * 8000) / recvSpan;
    if (recvBps < 0.9 * sendBps) return recvBps * 0.95;
    return Math.min(sendBps, recvBps);
  }
}
