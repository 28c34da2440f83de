/**
 * Receive-side fallback estimator for senders without transport-wide CC (the REMB scheme of
 * draft-alvestrand-rmcat-remb and libwebrtc's RemoteBitrateEstimatorAbsSendTime): the same
 * delay-based pipeline runs on the receiver, with send times from the abs-send-time header
 * extension and the incoming bitrate standing in for the acknowledged bitrate. The caller sends a
 * REMB when `process()` returns a value.
 */
import { DelayBasedBwe, type DelayBasedOptions } from './delay-based.ts';
import { AckedBitrateEstimator } from './acked-bitrate.ts';

/** Options of {@link RembEstimator}. */
export interface RembOptions extends DelayBasedOptions {
  /** Send a REMB at least this often (ms). @default 1000 */
  intervalMs?: number;
  /** ...and at once when the estimate fell by more than this fraction. @default 0.03 */
  dropFraction?: number;
}

/** Per-incoming-transport receive-side estimator. */
export class RembEstimator {
  private readonly delay: DelayBasedBwe;
  private readonly incoming = new AckedBitrateEstimator();
  private readonly intervalMs: number;
  private readonly dropFraction: number;
  private batch: { transportSeq: number; size: number; sendMs: number; arrivalMs: number }[] = [];
  private lastSentBps: number | undefined;
  private lastSentMs = -Infinity;
  private seq = 0;

  constructor(options: RembOptions = {}) {
    this.delay = new DelayBasedBwe(options);
    this.intervalMs = options.intervalMs ?? 1000;
    this.dropFraction = options.dropFraction ?? 0.03;
  }

  /** The current estimate (bps). */
  get estimate(): number {
    return this.delay.estimate;
  }

  /**
   * Counts one received packet.
   * @param sendMs send time from abs-send-time (unwrapped by the caller; any offset)
   */
  onPacket(sendMs: number, arrivalMs: number, size: number): void {
    this.batch.push({ transportSeq: this.seq++, size, sendMs, arrivalMs });
    this.incoming.push(arrivalMs, size);
    if (this.batch.length > 1000) this.batch.shift();
  }

  /** Runs the estimator on what arrived since the last call; returns a REMB bitrate when one is due. */
  process(nowMs: number): number | undefined {
    const b = this.batch;
    this.batch = [];
    b.sort((x, y) => x.sendMs - y.sendMs);
    const bps = this.delay.onResults(b, this.incoming.bitrate, nowMs);
    const dropped = this.lastSentBps !== undefined && bps < this.lastSentBps * (1 - this.dropFraction);
    if (dropped || nowMs - this.lastSentMs >= this.intervalMs) {
      this.lastSentBps = bps;
      this.lastSentMs = nowMs;
      return bps;
    }
    return undefined;
  }
}
