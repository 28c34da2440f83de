/**
 * The send-side bandwidth estimator one transport runs: a send history (what we sent, when, how
 * big), TWCC feedback joined against it, then delay-based and loss-based estimates, probe results
 * and the acknowledged bitrate combined into one target: min(delay, loss) clamped to [min, max].
 */
import { AckedBitrateEstimator } from './acked-bitrate.ts';
import { DelayBasedBwe, type DelayBasedOptions } from './delay-based.ts';
import { LossBasedBwe } from './loss-based.ts';
import { ProbeController, ProbeResultEstimator, type ProbeControllerOptions } from './probe.ts';
import type { PacketFeedback, PacketResult } from './types.ts';

/** Options of {@link SendSideBwe}. */
export interface SendSideBweOptions extends DelayBasedOptions {
  /** @default 300_000 */
  initialBps?: number;
  /** @default 30_000 */
  minBps?: number;
  /** @default 30_000_000 */
  maxBps?: number;
  /** Send records kept for feedback matching. @default 8192 */
  historySize?: number;
  probe?: ProbeControllerOptions;
}

/** The per-transport estimator: `onSent` for each packet, `onFeedback` for each TWCC report. */
export class SendSideBwe {
  private readonly minBps: number;
  private readonly maxBps: number;
  private readonly historySize: number;
  private readonly history = new Map<number, PacketResult>();
  readonly delay: DelayBasedBwe;
  readonly loss: LossBasedBwe;
  readonly acked = new AckedBitrateEstimator();
  readonly probes: ProbeController;
  private readonly probeResults = new ProbeResultEstimator();
  private current: number;

  constructor(options: SendSideBweOptions = {}) {
    this.minBps = options.minBps ?? 30_000;
    this.maxBps = options.maxBps ?? 30_000_000;
    this.historySize = options.historySize ?? 8192;
    const initialBps = options.initialBps ?? 300_000;
    const bounds = { initialBps, minBps: this.minBps, maxBps: this.maxBps };
    this.delay = new DelayBasedBwe({ ...options, ...bounds });
    this.loss = new LossBasedBwe(bounds);
    this.probes = new ProbeController({ maxBps: this.maxBps, ...options.probe });
    this.current = initialBps;
  }

  /** The target bitrate (bps) for this transport. */
  get estimate(): number {
    return this.current;
  }

  /** Records a sent packet (the feedback only carries sequence numbers and arrival times). */
  onSent(transportSeq: number, size: number, sendMs: number, probeClusterId?: number): void {
    this.history.delete(transportSeq); // a wrapped 16-bit number replaces its old record
    this.history.set(transportSeq, { transportSeq, size, sendMs, probeClusterId, arrivalMs: null });
    if (this.history.size > this.historySize) {
      const oldest = this.history.keys().next().value;
      if (oldest !== undefined) this.history.delete(oldest);
    }
  }

  /** RTT from RTCP (ms): paces AIMD's additive step and the loss controller's decrease interval. */
  setRtt(rttMs: number): void {
    this.delay.rateControl.setRtt(rttMs);
    this.loss.setRtt(rttMs);
  }

  /**
   * Applies one TWCC feedback. Unknown sequence numbers (never sent, or aged out) are ignored;
   * each known one is consumed, so a duplicated report does not count twice.
   * @returns the new estimate (bps)
   */
  onFeedback(feedback: readonly PacketFeedback[], nowMs: number): number {
    const results: PacketResult[] = [];
    let lost = 0;
    for (const f of feedback) {
      const sent = this.history.get(f.transportSeq);
      if (sent === undefined) continue;
      this.history.delete(f.transportSeq);
      if (f.arrivalMs === null || !Number.isFinite(f.arrivalMs)) {
        lost += 1;
        continue;
      }
      results.push({ ...sent, arrivalMs: f.arrivalMs });
    }
    results.sort((a, b) => a.sendMs - b.sendMs);
    let probeBps: number | undefined;
    for (const r of results) {
      if (r.arrivalMs !== null) this.acked.push(r.arrivalMs, r.size);
      const p = this.probeResults.push(r);
      if (p !== undefined) probeBps = Math.max(probeBps ?? 0, p);
    }
    const ackedBps = this.acked.bitrate;
    let delayBps = this.delay.onResults(results, ackedBps, nowMs);
    if (probeBps !== undefined && probeBps > delayBps && this.delay.usage !== 'overusing') {
      this.delay.rateControl.setEstimate(probeBps, nowMs);
      this.loss.setEstimate(Math.max(this.loss.estimate, probeBps));
      delayBps = this.delay.estimate;
    }
    const lossBps = this.loss.onFeedback(results.length, lost, delayBps, nowMs);
    this.current = Math.min(Math.max(Math.min(delayBps, lossBps), this.minBps), this.maxBps);
    this.probes.setEstimate(this.current);
    return this.current;
  }
}
