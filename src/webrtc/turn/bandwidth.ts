/**
 * A byte token bucket for the per-allocation bandwidth limit. Refilled lazily from the Clock on
 * each take, so it needs no timer; the burst is one second's worth.
 */
import type { Clock } from '../../util/clock.ts';

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    private readonly bytesPerSecond: number,
  ) {
    this.tokens = bytesPerSecond;
    this.last = clock.now();
  }

  /** Takes `bytes` if available; false means drop the packet. */
  take(bytes: number): boolean {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) * this.bytesPerSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }
}
