/**
 * The loss-based controller of GCC (draft-ietf-rmcat-gcc-02 §6; libwebrtc
 * SendSideBandwidthEstimation's classic mode): below 2 % loss it may grow 8 % per update, above
 * 10 % it cuts by (1 − 0.5 × loss), in between it holds. It never runs above the delay-based
 * estimate (the caller passes it as the cap), so the final estimate is the minimum of both.
 */
export interface LossBasedOptions {
  initialBps?: number;
  minBps?: number;
  maxBps?: number;
  /** Loss below which the rate may increase. @default 0.02 */
  lowLoss?: number;
  /** Loss above which the rate decreases. @default 0.1 */
  highLoss?: number;
  /** Packets needed before a loss fraction is evaluated. @default 20 */
  minPackets?: number;
  /** Minimum time between increases (ms). @default 100 */
  increaseIntervalMs?: number;
  /** Minimum time between decreases, added to the RTT (ms). @default 300 */
  decreaseIntervalMs?: number;
}

/** Loss-driven rate with the GCC thresholds. */
export class LossBasedBwe {
  private readonly o: Required<LossBasedOptions>;
  private current: number;
  private expected = 0;
  private lost = 0;
  private lastLoss = 0;
  private lastIncreaseMs = -Infinity;
  private lastDecreaseMs = -Infinity;
  private rttMs = 200;

  constructor(options: LossBasedOptions = {}) {
    this.o = {
      initialBps: 300_000, minBps: 30_000, maxBps: 30_000_000, lowLoss: 0.02, highLoss: 0.1,
      minPackets: 20, increaseIntervalMs: 100, decreaseIntervalMs: 300, ...options,
    };
    this.current = this.o.initialBps;
  }

  /** The loss-based rate (bps). */
  get estimate(): number {
    return this.current;
  }

  /** The last evaluated loss fraction (0..1). */
  get lossFraction(): number {
    return this.lastLoss;
  }

  setRtt(rttMs: number): void {
    this.rttMs = rttMs;
  }

  /** Sets the rate (a probe result measured real delivery, so it is safe to jump to). */
  setEstimate(bps: number): void {
    this.current = Math.min(Math.max(bps, this.o.minBps), this.o.maxBps);
  }

  /**
   * Counts one feedback batch and, once enough packets are in, updates the rate.
   * @param capBps the delay-based estimate: the loss-based rate never exceeds it
   */
  onFeedback(received: number, lost: number, capBps: number, nowMs: number): number {
    this.expected += received + lost;
    this.lost += lost;
    if (this.expected >= this.o.minPackets) {
      const loss = this.lost / this.expected;
      this.lastLoss = loss;
      this.expected = 0;
      this.lost = 0;
      if (loss < this.o.lowLoss) {
        if (nowMs - this.lastIncreaseMs >= this.o.increaseIntervalMs) {
          this.current = this.current * 1.08 + 1000;
          this.lastIncreaseMs = nowMs;
        }
      } else if (loss > this.o.highLoss) {
        if (nowMs - this.lastDecreaseMs >= this.o.decreaseIntervalMs + this.rttMs) {
          this.current = this.current * (1 - 0.5 * loss);
          this.lastDecreaseMs = nowMs;
        }
      }
    }
    this.current = Math.min(Math.max(Math.min(this.current, capBps), this.o.minBps), this.o.maxBps);
    return this.current;
  }
}
