/**
 * 16-bit sequence number arithmetic (RFC 3550 §A.1, RFC 1982 serial numbers): comparisons that
 * survive the wrap from 65535 to 0, and an unwrapper to a monotonic integer.
 */

/** a − b as a signed distance in [−32768, 32767] (positive: a is newer). */
export function seqDiff(a: number, b: number): number {
  return (((a - b) & 0xffff) << 16) >> 16;
}

/** a is newer than b (RFC 1982; exactly half a cycle apart counts as newer when a > b numerically). */
export function seqNewer(a: number, b: number): boolean {
  const d = (a - b) & 0xffff;
  return d !== 0 && (d < 0x8000 || (d === 0x8000 && a > b));
}

/**
 * Maps 16-bit sequence numbers to integers that keep increasing across wraps: each value is
 * placed at the distance from the last one that is smallest (|d| < 2^15), so a reordered old
 * packet maps below the newest instead of a cycle ahead. Starts at 2^16 + first so that a packet
 * a little older than the first still maps to a non-negative integer.
 */
export class SeqUnwrapper {
  private last = -1;

  unwrap(seq: number): number {
    if (this.last < 0) {
      this.last = 0x10000 + (seq & 0xffff);
      return this.last;
    }
    const u = this.last + seqDiff(seq, this.last & 0xffff);
    if (u > this.last) this.last = u;
    return u;
  }

  /** The newest unwrapped value so far (−1 before the first). */
  get newest(): number {
    return this.last;
  }

  reset(): void {
    this.last = -1;
  }
}
