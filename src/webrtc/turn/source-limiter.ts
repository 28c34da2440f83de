/**
 * A token bucket per source IP address, for the answers the server sends without authentication
 * over UDP (challenges, Binding, early errors). Over UDP the source address can be spoofed, so
 * those answers make the server a reflector; capping them per address caps what one victim can
 * be sent, whatever the attacker's rate. Beyond the rate requests are dropped silently (a client
 * retransmits, RFC 8489 §6.2.1). TCP needs none of this: its handshake proves the address.
 *
 * Memory is bounded: at most `maxSources` buckets, least recently used evicted first (an evicted
 * source just starts again with a full bucket, so eviction can only make the limit laxer, never
 * refuse a legitimate client).
 */
import type { Clock } from '../../util/clock.ts';

interface Bucket {
  tokens: number;
  last: number;
}

export class SourceLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param perSecond answers per second per source; the burst is one second's worth. 0: no limit.
   * @param maxSources buckets kept at most.
   */
  constructor(
    private readonly clock: Clock,
    private readonly perSecond: number,
    private readonly maxSources = 65_536,
  ) {}

  /** Takes one token for `source`; false means do not answer. */
  take(source: string): boolean {
    if (this.perSecond <= 0) return true;
    const now = this.clock.now();
    let b = this.buckets.get(source);
    if (b) {
      this.buckets.delete(source); // re-inserted below: Map order is the LRU order
      b.tokens = Math.min(this.perSecond, b.tokens + ((now - b.last) * this.perSecond) / 1000);
      b.last = now;
    } else {
      if (this.buckets.size >= this.maxSources) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
      b = { tokens: this.perSecond, last: now };
    }
    this.buckets.set(source, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Sources tracked now (for tests). */
  get size(): number {
    return this.buckets.size;
  }
}
