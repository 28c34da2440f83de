/**
 * Receive-side NACK generation for one RTP stream (RFC 4585 §6.2.1 generic NACK; one instance per
 * SSRC — issue 12: werift shares one generator between simulcast SSRCs and compares sequence
 * numbers without wrap, and NACKed 11 times on a lossless loopback).
 *
 * A sequence number becomes missing when a newer one arrives past it. It is NACKed first once it
 * is clearly lost rather than reordered — `reorderWindow` newer packets arrived after it, or it
 * has been missing for `reorderDelayMs` — then again every max(RTT, `minRetryMs`) until it
 * arrives, `maxRetries` NACKs were sent, it falls `maxAge` sequence numbers behind the newest,
 * or a keyframe makes it useless. The list is bounded (`maxMissing`); overflowing it, or a jump
 * larger than `maxAge`, drops the oldest entries and asks for a keyframe instead
 * ({@link NackGenerator.takeKeyframeRequest}).
 *
 * Pure: times are passed in (ms, monotonic), the caller sends what {@link NackGenerator.poll}
 * returns (buildNack in rtcp.ts) every ~10–20 ms or after each packet.
 */
import { seqDiff, SeqUnwrapper } from './seq.ts';

/** Options of {@link NackGenerator}. */
export interface NackGeneratorOptions {
  /** Newer packets that must arrive after a missing one before it is NACKed (reordering tolerance). @default 3 */
  reorderWindow?: number;
  /** …or the time it must have been missing. @default 10 */
  reorderDelayMs?: number;
  /** NACKs per sequence number. @default 10 */
  maxRetries?: number;
  /** Shortest spacing between NACKs of one sequence number (the RTT is used when larger). @default 20 */
  minRetryMs?: number;
  /** RTT before {@link NackGenerator.setRtt} is called. @default 100 */
  initialRttMs?: number;
  /** A missing packet this many sequence numbers behind the newest is given up. @default 1000 */
  maxAge?: number;
  /** Most sequence numbers tracked as missing. @default 500 */
  maxMissing?: number;
}

interface Missing {
  createdMs: number;
  sentMs: number;
  retries: number;
}

export class NackGenerator {
  private readonly reorderWindow: number;
  private readonly reorderDelayMs: number;
  private readonly maxRetries: number;
  private readonly minRetryMs: number;
  private readonly maxAge: number;
  private readonly maxMissing: number;
  private rttMs: number;
  private readonly unwrapper = new SeqUnwrapper();
  /** Unwrapped seq → state; insertion order is increasing seq (gaps are added oldest first). */
  private readonly missing = new Map<number, Missing>();
  private newest = -1;
  private keyframeWanted = false;
  /** NACK entries sent (one per sequence number per NACK). */
  nacksSent = 0;
  /** Missing packets that arrived later (reordered or retransmitted). */
  recovered = 0;
  /** Missing packets given up: retries exhausted, too old, overflow, or before a keyframe. */
  givenUp = 0;

  constructor(options: NackGeneratorOptions = {}) {
    this.reorderWindow = options.reorderWindow ?? 3;
    this.reorderDelayMs = options.reorderDelayMs ?? 10;
    this.maxRetries = options.maxRetries ?? 10;
    this.minRetryMs = options.minRetryMs ?? 20;
    this.rttMs = options.initialRttMs ?? 100;
    this.maxAge = options.maxAge ?? 1000;
    this.maxMissing = options.maxMissing ?? 500;
    if (this.maxAge >= 0x8000) throw new RangeError(`maxAge ${this.maxAge} must be < 32768 (half the sequence space)`);
  }

  /** The round-trip time to space retries by (from RTCP: RR LSR/DLSR or XR). */
  setRtt(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.rttMs = ms;
  }

  /**
   * A packet arrived (media or its RTX repair, unwrapped to the original sequence number).
   * `keyframe`: it starts a keyframe, so anything missing before it is no longer needed.
   * Returns true when it was missing (a recovery).
   */
  onPacket(seq: number, nowMs: number, keyframe = false): boolean {
    const u = this.unwrapper.unwrap(seq & 0xffff);
    if (this.newest < 0) {
      this.newest = u;
      return false;
    }
    if (u <= this.newest) {
      if (keyframe) this.dropBefore(u);
      if (this.missing.delete(u)) {
        this.recovered++;
        return true;
      }
      return false;
    }
    const gap = u - this.newest - 1;
    if (gap > this.maxAge) {
      // A jump too long to repair by retransmission: start over from here with a keyframe.
      this.givenUp += this.missing.size;
      this.missing.clear();
      this.keyframeWanted = true;
    } else {
      for (let s = this.newest + 1; s < u; s++) this.missing.set(s, { createdMs: nowMs, sentMs: -Infinity, retries: 0 });
      if (this.missing.size > this.maxMissing) {
        for (const s of this.missing.keys()) {
          if (this.missing.size <= this.maxMissing) break;
          this.missing.delete(s);
          this.givenUp++;
        }
        this.keyframeWanted = true;
      }
    }
    this.newest = u;
    if (keyframe) this.dropBefore(u);
    return false;
  }

  private dropBefore(u: number): void {
    for (const s of this.missing.keys()) {
      if (s >= u) break;
      this.missing.delete(s);
      this.givenUp++;
    }
  }

  /** Whether `seq` is one of the sequence numbers tracked as missing (no state changes). */
  isMissing(seq: number): boolean {
    if (this.newest < 0 || this.missing.size === 0) return false;
    return this.missing.has(this.newest + seqDiff(seq & 0xffff, this.newest & 0xffff));
  }

  /** The 16-bit sequence numbers to NACK now (oldest first; empty most of the time). */
  poll(nowMs: number): number[] {
    const out: number[] = [];
    if (this.missing.size === 0) return out;
    const spacing = Math.max(this.rttMs, this.minRetryMs);
    for (const [s, m] of this.missing) {
      if (this.newest - s > this.maxAge) {
        this.missing.delete(s);
        this.givenUp++;
        continue;
      }
      const due = m.retries === 0 ? this.newest - s >= this.reorderWindow || nowMs - m.createdMs >= this.reorderDelayMs : nowMs - m.sentMs >= spacing;
      if (!due) continue;
      if (m.retries >= this.maxRetries) {
        this.missing.delete(s);
        this.givenUp++;
        continue;
      }
      m.retries++;
      m.sentMs = nowMs;
      out.push(s & 0xffff);
    }
    this.nacksSent += out.length;
    return out;
  }

  /** True once (then reset) when losses could not be repaired by NACK and a keyframe should be asked for. */
  takeKeyframeRequest(): boolean {
    const k = this.keyframeWanted;
    this.keyframeWanted = false;
    return k;
  }

  /** Sequence numbers currently tracked as missing. */
  get missingCount(): number {
    return this.missing.size;
  }
}
