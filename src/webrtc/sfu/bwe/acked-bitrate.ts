/**
 * Acknowledged bitrate: how fast the receiver actually got our bytes, from TWCC arrival times
 * (libwebrtc's AcknowledgedBitrateEstimator, here a plain sliding window over arrival time).
 * The AIMD decrease aims at a fraction of this, so it must reflect delivery, not what we sent.
 */
export interface AckedBitrateOptions {
  /** Window over arrival time (ms). @default 500 */
  windowMs?: number;
}

/** Sliding-window delivery-rate estimator over receiver arrival times. */
export class AckedBitrateEstimator {
  private readonly windowMs: number;
  private readonly samples: { arrivalMs: number; size: number }[] = [];
  private bytes = 0;
  private lastArrivalMs = -Infinity;

  constructor(options: AckedBitrateOptions = {}) {
    this.windowMs = options.windowMs ?? 500;
  }

  /** Adds one received packet (arrival on the receiver's clock, bytes on the wire). */
  push(arrivalMs: number, size: number): void {
    this.samples.push({ arrivalMs, size });
    this.bytes += size;
    if (arrivalMs > this.lastArrivalMs) this.lastArrivalMs = arrivalMs;
    while (this.samples.length > 0 && (this.samples[0]?.arrivalMs ?? 0) <= this.lastArrivalMs - this.windowMs) {
      const s = this.samples.shift();
      if (s !== undefined) this.bytes -= s.size;
    }
    // Hard bound: never hold more than 10,000 samples (a 100 Mbps burst within the window).
    while (this.samples.length > 10_000) {
      const s = this.samples.shift();
      if (s !== undefined) this.bytes -= s.size;
    }
  }

  /** Delivery rate (bps) over the window, or undefined until the window spans ≥ 100 ms. */
  get bitrate(): number | undefined {
    const first = this.samples[0];
    if (first === undefined) return undefined;
    const span = this.lastArrivalMs - first.arrivalMs;
    if (span < 100) return undefined;
    // The first packet's bytes arrived before the span started.
    return ((this.bytes - first.size) * 8 * 1000) / span;
  }
}
