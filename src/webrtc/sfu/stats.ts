/**
 * Receive/send statistics: a sliding-window rate counter, RFC 3550 receiver statistics per SSRC
 * (Appendix A.1 sequence tracking, A.3 loss, A.8 jitter) that fill an RR report block, and RTT
 * from a returned report block (RFC 3550 §6.4.1: RTT = now − LSR − DLSR).
 */

/** Options of {@link RateStatistics}. */
export interface RateStatisticsOptions {
  /** Window length (ms). @default 1000 */
  windowMs?: number;
  /** Bucket length (ms); the window is windowMs / bucketMs buckets. @default 100 */
  bucketMs?: number;
}

/** Bitrate and packet rate over a sliding window of fixed buckets (bounded memory). */
export class RateStatistics {
  private readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly bytes: number[];
  private readonly packets: number[];
  private readonly stamp: number[];

  constructor(options: RateStatisticsOptions = {}) {
    this.windowMs = options.windowMs ?? 1000;
    this.bucketMs = options.bucketMs ?? 100;
    const n = Math.max(1, Math.ceil(this.windowMs / this.bucketMs));
    this.bytes = new Array<number>(n).fill(0);
    this.packets = new Array<number>(n).fill(0);
    this.stamp = new Array<number>(n).fill(-1);
  }

  /** Counts one packet of `bytes` at nowMs. */
  update(bytes: number, nowMs: number): void {
    const slot = Math.floor(nowMs / this.bucketMs);
    const i = slot % this.bytes.length;
    if (this.stamp[i] !== slot) {
      this.stamp[i] = slot;
      this.bytes[i] = 0;
      this.packets[i] = 0;
    }
    this.bytes[i] = (this.bytes[i] ?? 0) + bytes;
    this.packets[i] = (this.packets[i] ?? 0) + 1;
  }

  private sum(arr: readonly number[], nowMs: number): number {
    const slot = Math.floor(nowMs / this.bucketMs);
    let total = 0;
    for (let i = 0; i < arr.length; i++) {
      const s = this.stamp[i] ?? -1;
      if (s >= 0 && s > slot - arr.length && s <= slot) total += arr[i] ?? 0;
    }
    return total;
  }

  /** Bits per second over the window ending at nowMs. */
  bitrate(nowMs: number): number {
    return (this.sum(this.bytes, nowMs) * 8 * 1000) / (this.bytes.length * this.bucketMs);
  }

  /** Packets per second over the window ending at nowMs. */
  packetRate(nowMs: number): number {
    return (this.sum(this.packets, nowMs) * 1000) / (this.packets.length * this.bucketMs);
  }
}

/** The fields of one RTCP RR report block (RFC 3550 §6.4.1). */
export interface ReportBlockData {
  ssrc: number;
  /** Fraction lost since the last report, 0..255 (8-bit fixed point). */
  fractionLost: number;
  /** Cumulative packets lost, clamped to the signed 24-bit range. */
  packetsLost: number;
  /** Extended highest sequence number received (cycles << 16 | seq). */
  highestSeq: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the last SR's NTP timestamp (0 if none). */
  lsr: number;
  /** Delay since that SR in 1/65536 s (0 if none). */
  dlsr: number;
}

const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const SEQ_MOD = 0x10000;

/** RFC 3550 receiver statistics for one SSRC. */
export class ReceiverStatistics {
  readonly ssrc: number;
  private readonly clockRate: number;
  private initialized = false;
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = SEQ_MOD + 1;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private transit: number | undefined;
  private jitterValue = 0;
  private lastSr: { lsr: number; atMs: number } | undefined;

  /** @param clockRate RTP clock rate of the stream (Hz), e.g. 90000 for video, 48000 for Opus */
  constructor(ssrc: number, clockRate: number) {
    this.ssrc = ssrc >>> 0;
    this.clockRate = clockRate;
  }

  /** Packets received (duplicates included, as RFC 3550 counts them). */
  get packetsReceived(): number {
    return this.received;
  }

  /** Interarrival jitter in RTP timestamp units. */
  get jitter(): number {
    return this.jitterValue;
  }

  /** Extended highest sequence number. */
  get extendedHighestSeq(): number {
    return this.cycles + this.maxSeq;
  }

  /** Cumulative lost = expected − received (negative with duplicates, as the RFC allows). */
  get cumulativeLost(): number {
    return this.extendedHighestSeq - this.baseSeq + 1 - this.received;
  }

  /**
   * Counts one RTP packet (RFC 3550 A.1 update_seq, A.8 jitter).
   * @returns false when the packet was rejected as a jump beyond MAX_DROPOUT (a second packet
   *   continuing the jump resynchronises, as the RFC does for a restarted sender)
   */
  onPacket(seq: number, rtpTimestamp: number, arrivalMs: number): boolean {
    seq &= 0xffff;
    if (!this.initialized) {
      this.reset(seq);
      this.initialized = true;
    } else {
      const delta = (seq - this.maxSeq + SEQ_MOD) % SEQ_MOD;
      if (delta < MAX_DROPOUT) {
        if (seq < this.maxSeq) this.cycles += SEQ_MOD;
        this.maxSeq = seq;
      } else if (delta <= SEQ_MOD - MAX_MISORDER) {
        if (seq === this.badSeq) {
          this.reset(seq);
        } else {
          this.badSeq = (seq + 1) & 0xffff;
          return false;
        }
      }
      // else: duplicate or reordered within MAX_MISORDER: counted, no state change
    }
    this.received += 1;
    // A.8: jitter from the difference in relative transit times, in timestamp units.
    const arrivalTs = (arrivalMs * this.clockRate) / 1000;
    const transit = arrivalTs - (rtpTimestamp >>> 0);
    if (this.transit !== undefined) {
      let d = Math.abs(transit - this.transit);
      if (d > 0x80000000) d = Math.abs(d - 0x100000000); // timestamp wrap
      this.jitterValue += (d - this.jitterValue) / 16;
    }
    this.transit = transit;
    return true;
  }

  private reset(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.expectedPrior = 0;
    this.receivedPrior = 0;
  }

  /** Records a Sender Report (NTP seconds and fraction as in the SR) received at nowMs. */
  onSenderReport(ntpSeconds: number, ntpFraction: number, nowMs: number): void {
    const lsr = (((ntpSeconds & 0xffff) << 16) | (ntpFraction >>> 16)) >>> 0;
    this.lastSr = { lsr, atMs: nowMs };
  }

  /**
   * Builds the report block for an RR sent at nowMs and starts a new fraction-lost interval
   * (RFC 3550 A.3).
   */
  report(nowMs: number): ReportBlockData {
    const expected = this.extendedHighestSeq - this.baseSeq + 1;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval << 8) / expectedInterval));
    const packetsLost = Math.max(-0x800000, Math.min(0x7fffff, this.cumulativeLost));
    const dlsr = this.lastSr === undefined ? 0 : Math.min(0xffffffff, Math.round(((nowMs - this.lastSr.atMs) * 65536) / 1000)) >>> 0;
    return {
      ssrc: this.ssrc,
      fractionLost,
      packetsLost,
      highestSeq: this.extendedHighestSeq >>> 0,
      jitter: Math.floor(this.jitterValue) >>> 0,
      lsr: this.lastSr?.lsr ?? 0,
      dlsr,
    };
  }
}

/** The middle 32 bits of an NTP timestamp for a time in ms since the Unix epoch. */
export function ntpMiddle32(unixMs: number): number {
  const ntpSeconds = Math.floor(unixMs / 1000) + 2_208_988_800;
  const fraction = Math.floor(((unixMs % 1000) / 1000) * 0x100000000);
  return (((ntpSeconds & 0xffff) << 16) | (fraction >>> 16)) >>> 0;
}

/**
 * RTT (ms) from a report block that came back to the sender of the SR: now − LSR − DLSR, all in
 * 1/65536 s of the middle-32 NTP clock (wrap-safe). Undefined when the block carries no LSR or the
 * result is negative (clock trouble) — callers keep their previous RTT then.
 */
export function rttFromReportBlock(lsr: number, dlsr: number, nowUnixMs: number): number | undefined {
  if (lsr === 0) return undefined;
  const now = ntpMiddle32(nowUnixMs);
  const rtt = (now - lsr - dlsr) >>> 0;
  if (rtt > 0x7fffffff) return undefined;
  return (rtt * 1000) / 65536;
}
