/**
 * Compound RTCP (RFC 3550 §6) for the SFU: parse and serialize SR, RR, SDES (CNAME), BYE, generic
 * NACK (RFC 4585 §6.2.1), PLI (RFC 4585 §6.3.1), FIR (RFC 5104 §4.3.1), REMB
 * (draft-alvestrand-rmcat-remb-03) and transport-wide congestion control feedback
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
 *
 * Every packet of a compound starts with the same 4 bytes:
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P| RC/FMT  |      PT       |   length (32-bit words − 1)   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Strict where it matters (a length that does not fit, a body shorter than its counts say, a
 * reserved TWCC symbol: {@link RtpDecodeError}, the whole compound is dropped — RFC 3550 §A.2's
 * validity check); lenient where RFC 3550 says to be: packet types and feedback formats this
 * module does not know (APP, XR, other FMTs) are skipped. Reduced-size RTCP (RFC 5506) is accepted:
 * the first packet need not be SR/RR. RTCP is ~1 % of packets, so parsed packets are plain
 * objects; the per-RTP-packet path (rtp-packet.ts) is the one that avoids allocation.
 */
import { RtpDecodeError } from './errors.ts';
import { seqDiff } from './seq.ts';

export const RtcpType = { SR: 200, RR: 201, SDES: 202, BYE: 203, APP: 204, RTPFB: 205, PSFB: 206, XR: 207 } as const;
/** RTPFB FMTs (RFC 4585 §6.2, draft-holmer §3.1) and PSFB FMTs (RFC 4585 §6.3, RFC 5104 §4.3). */
export const FeedbackFmt = { NACK: 1, TWCC: 15, PLI: 1, FIR: 4, AFB: 15 } as const;

/** RFC 5761 §4: RTP and RTCP on one port are told apart by the second byte (RTCP PT 192–223). */
export function isRtcp(buf: Buffer): boolean {
  return buf.length >= 2 && buf[1]! >= 192 && buf[1]! <= 223;
}

/** RFC 3550 §6.4.1 report block. */
export interface ReportBlock {
  ssrc: number;
  /** Fraction lost since the last report, /256. */
  fractionLost: number;
  /** Cumulative packets lost (signed 24 bits: duplicates can make it negative). */
  packetsLost: number;
  /** Extended highest sequence number received. */
  highestSeq: number;
  jitter: number;
  /** Middle 32 bits of the last SR's NTP time (0: none yet). */
  lsr: number;
  /** Delay since that SR, 1/65536 s. */
  dlsr: number;
}

export interface SenderReport {
  type: 'sr';
  ssrc: number;
  ntpSec: number;
  ntpFrac: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  reports: ReportBlock[];
}
export interface ReceiverReport {
  type: 'rr';
  ssrc: number;
  reports: ReportBlock[];
}
/** SDES (RFC 3550 §6.5): only CNAME (item 1) is kept; other items are skipped. */
export interface Sdes {
  type: 'sdes';
  chunks: Array<{ ssrc: number; cname?: string }>;
}
export interface Bye {
  type: 'bye';
  ssrcs: number[];
  reason?: string;
}
/** Generic NACK, expanded to the list of lost sequence numbers. */
export interface Nack {
  type: 'nack';
  senderSsrc: number;
  mediaSsrc: number;
  lost: number[];
}
export interface Pli {
  type: 'pli';
  senderSsrc: number;
  mediaSsrc: number;
}
export interface Fir {
  type: 'fir';
  senderSsrc: number;
  entries: Array<{ ssrc: number; seqNr: number }>;
}
export interface Remb {
  type: 'remb';
  senderSsrc: number;
  /** bits/s (mantissa × 2^exp). */
  bitrate: number;
  ssrcs: number[];
}
/** Packet status symbols of TWCC (draft-holmer §3.1.1). */
export const TwccStatus = { NotReceived: 0, SmallDelta: 1, LargeDelta: 2 } as const;
export interface TransportCc {
  type: 'twcc';
  senderSsrc: number;
  mediaSsrc: number;
  /** Transport-wide sequence number of the first status. */
  baseSeq: number;
  /** 24-bit reference time, 64 ms units. */
  referenceTime: number;
  /** Feedback packet count, mod 256. */
  fbPktCount: number;
  /** One {@link TwccStatus} per sequence number from baseSeq. */
  status: Uint8Array;
  /** One receive delta per received packet, 250 µs ticks (first relative to the reference time). */
  deltas: Int16Array;
}
export type RtcpPacket = SenderReport | ReceiverReport | Sdes | Bye | Nack | Pli | Fir | Remb | TransportCc;

/** Options of {@link parseRtcp}. */
export interface RtcpParseOptions {
  /** Compounds longer than this are refused. @default 1500 */
  maxLength?: number;
}

/**
 * Parses a compound RTCP packet (already SRTCP-decrypted). Unknown packet types and feedback
 * formats are skipped; malformed known ones throw {@link RtpDecodeError}.
 */
export function parseRtcp(buf: Buffer, options?: RtcpParseOptions): RtcpPacket[] {
  const max = options?.maxLength ?? 1500;
  if (buf.length > max) throw new RtpDecodeError('tooLarge', `RTCP compound of ${buf.length} bytes > ${max}`);
  if (buf.length < 4) throw new RtpDecodeError('short', `RTCP of ${buf.length} bytes`);
  const out: RtcpPacket[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 4) throw new RtpDecodeError('short', `${buf.length - off} trailing bytes after RTCP packets`);
    const b0 = buf[off]!;
    if (b0 >> 6 !== 2) throw new RtpDecodeError('version', `RTCP version ${b0 >> 6} at ${off}`);
    const pt = buf[off + 1]!;
    const size = (buf.readUInt16BE(off + 2) + 1) * 4;
    if (off + size > buf.length) throw new RtpDecodeError('length', `RTCP packet of ${size} bytes at ${off} in ${buf.length}`);
    let end = off + size;
    if (b0 & 0x20) {
      const pad = buf[end - 1]!;
      if (pad === 0 || pad > size - 4) throw new RtpDecodeError('padding', `RTCP padding ${pad} in a ${size}-byte packet`);
      end -= pad;
    }
    const p = parseOne(buf, off, end, b0 & 0x1f, pt);
    if (p) out.push(p);
    off += size;
  }
  return out;
}

function need(end: number, at: number, what: string): void {
  if (at > end) throw new RtpDecodeError('short', `${what} cut off`);
}

function reportBlocks(buf: Buffer, at: number, end: number, count: number): ReportBlock[] {
  need(end, at + count * 24, `${count} report blocks`);
  const r: ReportBlock[] = [];
  for (let i = 0; i < count; i++, at += 24) {
    r.push({
      ssrc: buf.readUInt32BE(at),
      fractionLost: buf[at + 4]!,
      packetsLost: buf.readIntBE(at + 5, 3),
      highestSeq: buf.readUInt32BE(at + 8),
      jitter: buf.readUInt32BE(at + 12),
      lsr: buf.readUInt32BE(at + 16),
      dlsr: buf.readUInt32BE(at + 20),
    });
  }
  return r;
}

function parseOne(buf: Buffer, off: number, end: number, count: number, pt: number): RtcpPacket | undefined {
  switch (pt) {
    case RtcpType.SR: {
      need(end, off + 28, 'SR sender info');
      return {
        type: 'sr',
        ssrc: buf.readUInt32BE(off + 4),
        ntpSec: buf.readUInt32BE(off + 8),
        ntpFrac: buf.readUInt32BE(off + 12),
        rtpTimestamp: buf.readUInt32BE(off + 16),
        packetCount: buf.readUInt32BE(off + 20),
        octetCount: buf.readUInt32BE(off + 24),
        reports: reportBlocks(buf, off + 28, end, count),
      };
    }
    case RtcpType.RR:
      need(end, off + 8, 'RR');
      return { type: 'rr', ssrc: buf.readUInt32BE(off + 4), reports: reportBlocks(buf, off + 8, end, count) };
    case RtcpType.SDES:
      return parseSdes(buf, off + 4, end, count);
    case RtcpType.BYE: {
      need(end, off + 4 + count * 4, `BYE with ${count} SSRCs`);
      const ssrcs: number[] = [];
      let at = off + 4;
      for (let i = 0; i < count; i++, at += 4) ssrcs.push(buf.readUInt32BE(at));
      if (at < end) {
        const len = buf[at]!;
        need(end, at + 1 + len, 'BYE reason');
        return { type: 'bye', ssrcs, reason: buf.toString('utf8', at + 1, at + 1 + len) };
      }
      return { type: 'bye', ssrcs };
    }
    case RtcpType.RTPFB:
      need(end, off + 12, 'RTPFB header');
      if (count === FeedbackFmt.NACK) return parseNack(buf, off, end);
      if (count === FeedbackFmt.TWCC) return parseTwcc(buf, off, end);
      return undefined;
    case RtcpType.PSFB: {
      need(end, off + 12, 'PSFB header');
      const senderSsrc = buf.readUInt32BE(off + 4);
      if (count === FeedbackFmt.PLI) return { type: 'pli', senderSsrc, mediaSsrc: buf.readUInt32BE(off + 8) };
      if (count === FeedbackFmt.FIR) {
        if ((end - off - 12) % 8 !== 0) throw new RtpDecodeError('length', 'FIR FCI not a multiple of 8 bytes');
        const entries: Fir['entries'] = [];
        for (let at = off + 12; at < end; at += 8) entries.push({ ssrc: buf.readUInt32BE(at), seqNr: buf[at + 4]! });
        return { type: 'fir', senderSsrc, entries };
      }
      // AFB with the "REMB" identifier; other application-layer feedback is skipped.
      if (count === FeedbackFmt.AFB && end - off >= 16 && buf.readUInt32BE(off + 12) === 0x52454d42) {
        need(end, off + 20, 'REMB');
        const n = buf[off + 16]!;
        const exp = buf[off + 17]! >> 2;
        const mantissa = ((buf[off + 17]! & 0x03) << 16) | buf.readUInt16BE(off + 18);
        need(end, off + 20 + n * 4, `REMB with ${n} SSRCs`);
        const ssrcs: number[] = [];
        for (let i = 0; i < n; i++) ssrcs.push(buf.readUInt32BE(off + 20 + i * 4));
        return { type: 'remb', senderSsrc, bitrate: mantissa * 2 ** exp, ssrcs };
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function parseSdes(buf: Buffer, at: number, end: number, count: number): Sdes {
  const chunks: Sdes['chunks'] = [];
  for (let c = 0; c < count; c++) {
    need(end, at + 4, 'SDES chunk');
    const chunk: Sdes['chunks'][number] = { ssrc: buf.readUInt32BE(at) };
    at += 4;
    for (;;) {
      need(end, at + 1, 'SDES item');
      const type = buf[at]!;
      if (type === 0) {
        // RFC 3550 §6.5: the item list ends with a null octet, then padding to a 32-bit boundary.
        at = (at + 4) & ~3;
        break;
      }
      need(end, at + 2, 'SDES item');
      const len = buf[at + 1]!;
      need(end, at + 2 + len, 'SDES item value');
      if (type === 1) chunk.cname = buf.toString('utf8', at + 2, at + 2 + len);
      at += 2 + len;
    }
    chunks.push(chunk);
  }
  return { type: 'sdes', chunks };
}

/** RFC 4585 §6.2.1: each FCI is PID and a bitmask of the 16 following losses. */
function parseNack(buf: Buffer, off: number, end: number): Nack {
  if ((end - off - 12) % 4 !== 0) throw new RtpDecodeError('length', 'NACK FCI not a multiple of 4 bytes');
  const lost: number[] = [];
  for (let at = off + 12; at < end; at += 4) {
    const pid = buf.readUInt16BE(at);
    let blp = buf.readUInt16BE(at + 2);
    lost.push(pid);
    for (let i = 1; blp !== 0; i++, blp >>= 1) if (blp & 1) lost.push((pid + i) & 0xffff);
  }
  return { type: 'nack', senderSsrc: buf.readUInt32BE(off + 4), mediaSsrc: buf.readUInt32BE(off + 8), lost };
}

/**
 * draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1:
 *
 *    | base sequence number          | packet status count           |
 *    | reference time (24 bits)                      | fb pkt count  |
 *    | packet chunk ...              | recv delta ...                |
 *
 * Chunks (§3.1.3, §3.1.4): `0 SS run-length(13)` or `1 0 14×1-bit` or `1 1 7×2-bit`, until the
 * status count is covered; then one delta per received packet, 1 byte unsigned (small) or 2 bytes
 * signed (large), in 250 µs; then zero padding to 32 bits.
 */
function parseTwcc(buf: Buffer, off: number, end: number): TransportCc {
  need(end, off + 20, 'TWCC header');
  const baseSeq = buf.readUInt16BE(off + 12);
  const count = buf.readUInt16BE(off + 14);
  const referenceTime = buf.readUIntBE(off + 16, 3);
  const fbPktCount = buf[off + 19]!;
  // A 2-byte chunk carries at most 8191 statuses (a run), so a count the bytes cannot carry is
  // refused before allocating for it.
  if (count > ((end - off - 20) >> 1) * 0x1fff) throw new RtpDecodeError('length', `${count} statuses in ${end - off} bytes`);
  const status = new Uint8Array(count);
  let at = off + 20;
  let n = 0;
  let received = 0;
  while (n < count) {
    need(end, at + 2, 'TWCC packet chunk');
    const chunk = buf.readUInt16BE(at);
    at += 2;
    if ((chunk & 0x8000) === 0) {
      const sym = (chunk >> 13) & 0x03;
      if (sym === 3) throw new RtpDecodeError('field', 'TWCC run-length chunk with reserved symbol 3');
      const run = Math.min(chunk & 0x1fff, count - n);
      if (sym !== 0) {
        status.fill(sym, n, n + run);
        received += run;
      }
      n += run;
    } else if ((chunk & 0x4000) === 0) {
      for (let i = 13; i >= 0 && n < count; i--, n++) {
        const s = (chunk >> i) & 1;
        status[n] = s;
        received += s;
      }
    } else {
      for (let i = 12; i >= 0 && n < count; i -= 2, n++) {
        const s = (chunk >> i) & 3;
        if (s === 3) throw new RtpDecodeError('field', 'TWCC status vector with reserved symbol 3');
        status[n] = s;
        if (s) received++;
      }
    }
  }
  const deltas = new Int16Array(received);
  let d = 0;
  for (let i = 0; i < count; i++) {
    const s = status[i]!;
    if (s === 1) {
      need(end, at + 1, 'TWCC small delta');
      deltas[d++] = buf[at++]!;
    } else if (s === 2) {
      need(end, at + 2, 'TWCC large delta');
      deltas[d++] = buf.readInt16BE(at);
      at += 2;
    }
  }
  if (end - at > 3) throw new RtpDecodeError('length', `${end - at} bytes after the TWCC deltas`);
  return { type: 'twcc', senderSsrc: buf.readUInt32BE(off + 4), mediaSsrc: buf.readUInt32BE(off + 8), baseSeq, referenceTime, fbPktCount, status, deltas };
}

// --- serialization ---

function header(buf: Buffer, countOrFmt: number, pt: number): void {
  buf[0] = 0x80 | (countOrFmt & 0x1f);
  buf[1] = pt;
  buf.writeUInt16BE(buf.length / 4 - 1, 2);
}

function writeBlocks(buf: Buffer, at: number, reports: readonly ReportBlock[]): void {
  for (const r of reports) {
    buf.writeUInt32BE(r.ssrc >>> 0, at);
    buf[at + 4] = r.fractionLost & 0xff;
    buf.writeIntBE(Math.max(-0x800000, Math.min(0x7fffff, r.packetsLost)), at + 5, 3);
    buf.writeUInt32BE(r.highestSeq >>> 0, at + 8);
    buf.writeUInt32BE(r.jitter >>> 0, at + 12);
    buf.writeUInt32BE(r.lsr >>> 0, at + 16);
    buf.writeUInt32BE(r.dlsr >>> 0, at + 20);
    at += 24;
  }
}

function checkBlocks(reports: readonly ReportBlock[]): void {
  if (reports.length > 31) throw new RangeError(`${reports.length} report blocks (at most 31 per packet)`);
}

export function buildSr(p: Omit<SenderReport, 'type'>): Buffer {
  checkBlocks(p.reports);
  const b = Buffer.alloc(28 + 24 * p.reports.length);
  header(b, p.reports.length, RtcpType.SR);
  b.writeUInt32BE(p.ssrc >>> 0, 4);
  b.writeUInt32BE(p.ntpSec >>> 0, 8);
  b.writeUInt32BE(p.ntpFrac >>> 0, 12);
  b.writeUInt32BE(p.rtpTimestamp >>> 0, 16);
  b.writeUInt32BE(p.packetCount >>> 0, 20);
  b.writeUInt32BE(p.octetCount >>> 0, 24);
  writeBlocks(b, 28, p.reports);
  return b;
}

export function buildRr(p: Omit<ReceiverReport, 'type'>): Buffer {
  checkBlocks(p.reports);
  const b = Buffer.alloc(8 + 24 * p.reports.length);
  header(b, p.reports.length, RtcpType.RR);
  b.writeUInt32BE(p.ssrc >>> 0, 4);
  writeBlocks(b, 8, p.reports);
  return b;
}

export function buildSdes(chunks: ReadonlyArray<{ ssrc: number; cname?: string }>): Buffer {
  if (chunks.length > 31) throw new RangeError('at most 31 SDES chunks');
  const parts = chunks.map((c) => {
    const name = Buffer.from(c.cname ?? '', 'utf8');
    if (name.length > 255) throw new RangeError('CNAME longer than 255 bytes');
    const items = c.cname === undefined ? 0 : 2 + name.length;
    const chunk = Buffer.alloc((4 + items + 1 + 3) & ~3);
    chunk.writeUInt32BE(c.ssrc >>> 0, 0);
    if (c.cname !== undefined) {
      chunk[4] = 1;
      chunk[5] = name.length;
      name.copy(chunk, 6);
    }
    return chunk;
  });
  const b = Buffer.concat([Buffer.alloc(4), ...parts]);
  header(b, chunks.length, RtcpType.SDES);
  return b;
}

export function buildBye(ssrcs: readonly number[], reason?: string): Buffer {
  if (ssrcs.length > 31) throw new RangeError('at most 31 SSRCs in a BYE');
  const r = reason === undefined ? undefined : Buffer.from(reason, 'utf8');
  if (r && r.length > 255) throw new RangeError('BYE reason longer than 255 bytes');
  const b = Buffer.alloc((4 + ssrcs.length * 4 + (r ? 1 + r.length : 0) + 3) & ~3);
  header(b, ssrcs.length, RtcpType.BYE);
  ssrcs.forEach((s, i) => b.writeUInt32BE(s >>> 0, 4 + i * 4));
  if (r) {
    b[4 + ssrcs.length * 4] = r.length;
    r.copy(b, 5 + ssrcs.length * 4);
  }
  return b;
}

/**
 * A generic NACK for `lost` (16-bit sequence numbers, any order, duplicates allowed): sorted in
 * wrap-aware order from the oldest, then packed into PID + BLP items of 17 sequence numbers each.
 */
export function buildNack(senderSsrc: number, mediaSsrc: number, lost: readonly number[]): Buffer {
  if (lost.length === 0) throw new RangeError('a NACK needs at least one sequence number');
  const ref = lost[0]!;
  // Oldest first relative to the first entry (a NACK list spans far less than half the seq space).
  const sorted = [...new Set(lost.map((s) => s & 0xffff))].sort((a, b) => seqDiff(a, ref) - seqDiff(b, ref));
  const items: number[] = [];
  let pid = -1;
  let blp = 0;
  for (const s of sorted) {
    const d = pid < 0 ? 0 : (s - pid) & 0xffff;
    if (pid >= 0 && d >= 1 && d <= 16) blp |= 1 << (d - 1);
    else {
      if (pid >= 0) items.push(pid, blp);
      pid = s;
      blp = 0;
    }
  }
  items.push(pid, blp);
  const b = Buffer.alloc(12 + items.length * 2);
  header(b, FeedbackFmt.NACK, RtcpType.RTPFB);
  b.writeUInt32BE(senderSsrc >>> 0, 4);
  b.writeUInt32BE(mediaSsrc >>> 0, 8);
  items.forEach((v, i) => b.writeUInt16BE(v, 12 + i * 2));
  return b;
}

export function buildPli(senderSsrc: number, mediaSsrc: number): Buffer {
  const b = Buffer.alloc(12);
  header(b, FeedbackFmt.PLI, RtcpType.PSFB);
  b.writeUInt32BE(senderSsrc >>> 0, 4);
  b.writeUInt32BE(mediaSsrc >>> 0, 8);
  return b;
}

/** RFC 5104 §4.3.1: media source SSRC 0, one FCI (SSRC, command sequence number) per target. */
export function buildFir(senderSsrc: number, entries: ReadonlyArray<{ ssrc: number; seqNr: number }>): Buffer {
  const b = Buffer.alloc(12 + entries.length * 8);
  header(b, FeedbackFmt.FIR, RtcpType.PSFB);
  b.writeUInt32BE(senderSsrc >>> 0, 4);
  entries.forEach((e, i) => {
    b.writeUInt32BE(e.ssrc >>> 0, 12 + i * 8);
    b[16 + i * 8] = e.seqNr & 0xff;
  });
  return b;
}

/** REMB: the bitrate as an 18-bit mantissa and 6-bit exponent (rounded down, as libwebrtc does). */
export function buildRemb(senderSsrc: number, bitrate: number, ssrcs: readonly number[]): Buffer {
  if (ssrcs.length > 255) throw new RangeError('at most 255 SSRCs in a REMB');
  let br = Math.max(0, Math.floor(bitrate));
  let exp = 0;
  while (br >= 0x40000 && exp < 63) {
    br = Math.floor(br / 2);
    exp++;
  }
  const b = Buffer.alloc(20 + ssrcs.length * 4);
  header(b, FeedbackFmt.AFB, RtcpType.PSFB);
  b.writeUInt32BE(senderSsrc >>> 0, 4);
  b.writeUInt32BE(0x52454d42, 12);
  b[16] = ssrcs.length;
  b[17] = (exp << 2) | (br >> 16);
  b.writeUInt16BE(br & 0xffff, 18);
  ssrcs.forEach((s, i) => b.writeUInt32BE(s >>> 0, 20 + i * 4));
  return b;
}

/**
 * A TWCC feedback packet. `status` and `deltas` must agree: one delta per status 1 (0–255) or 2
 * (−32768–32767), in order. Chunks are chosen greedily: a run-length chunk for a run of ≥ 14 equal
 * statuses (or the rest of the list), else a 1-bit vector of 14 when none of them is a large
 * delta, else a 2-bit vector of 7.
 */
export function buildTransportCc(p: Omit<TransportCc, 'type' | 'status' | 'deltas'> & { status: ArrayLike<number>; deltas: ArrayLike<number> }): Buffer {
  const { status, deltas } = p;
  const n = status.length;
  if (n > 0xffff) throw new RangeError(`${n} statuses (at most 65535)`);
  const chunks: number[] = [];
  let i = 0;
  while (i < n) {
    const s = status[i]!;
    let run = 1;
    while (i + run < n && status[i + run] === s && run < 0x1fff) run++;
    if (run >= 14 || i + run === n) {
      chunks.push((s << 13) | run);
      i += run;
      continue;
    }
    let oneBit = true;
    for (let j = i; j < Math.min(n, i + 14); j++) if (status[j]! > 1) oneBit = false;
    if (oneBit) {
      let c = 0x8000;
      for (let j = 0; j < 14 && i + j < n; j++) c |= status[i + j]! << (13 - j);
      chunks.push(c);
      i += 14;
    } else {
      let c = 0xc000;
      for (let j = 0; j < 7 && i + j < n; j++) c |= status[i + j]! << (12 - 2 * j);
      chunks.push(c);
      i += 7;
    }
  }
  let deltaBytes = 0;
  let d = 0;
  for (let j = 0; j < n; j++) {
    const s = status[j]!;
    if (s === 0) continue;
    const v = deltas[d++];
    if (v === undefined) throw new RangeError('fewer deltas than received statuses');
    if (s === 1 && (v < 0 || v > 255)) throw new RangeError(`small delta ${v} out of 0–255`);
    if (s === 2 && (v < -0x8000 || v > 0x7fff)) throw new RangeError(`large delta ${v} out of int16`);
    if (s !== 1 && s !== 2) throw new RangeError(`status ${s}`);
    deltaBytes += s;
  }
  if (d !== deltas.length) throw new RangeError('more deltas than received statuses');
  const b = Buffer.alloc((20 + chunks.length * 2 + deltaBytes + 3) & ~3);
  header(b, FeedbackFmt.TWCC, RtcpType.RTPFB);
  b.writeUInt32BE(p.senderSsrc >>> 0, 4);
  b.writeUInt32BE(p.mediaSsrc >>> 0, 8);
  b.writeUInt16BE(p.baseSeq & 0xffff, 12);
  b.writeUInt16BE(n, 14);
  b.writeUIntBE(p.referenceTime & 0xffffff, 16, 3);
  b[19] = p.fbPktCount & 0xff;
  let at = 20;
  for (const c of chunks) at = b.writeUInt16BE(c, at);
  d = 0;
  for (let j = 0; j < n; j++) {
    const s = status[j]!;
    if (s === 1) b[at++] = deltas[d++]!;
    else if (s === 2) at = b.writeInt16BE(deltas[d++]!, at);
  }
  return b;
}

/** Serializes one parsed packet (the inverse of {@link parseRtcp} for the types it keeps). */
export function serializeRtcpPacket(p: RtcpPacket): Buffer {
  switch (p.type) {
    case 'sr':
      return buildSr(p);
    case 'rr':
      return buildRr(p);
    case 'sdes':
      return buildSdes(p.chunks);
    case 'bye':
      return buildBye(p.ssrcs, p.reason);
    case 'nack':
      return buildNack(p.senderSsrc, p.mediaSsrc, p.lost);
    case 'pli':
      return buildPli(p.senderSsrc, p.mediaSsrc);
    case 'fir':
      return buildFir(p.senderSsrc, p.entries);
    case 'remb':
      return buildRemb(p.senderSsrc, p.bitrate, p.ssrcs);
    case 'twcc':
      return buildTransportCc(p);
  }
}

/** A compound packet of these packets, in order (RFC 3550 §6.1: the caller puts SR/RR first). */
export function serializeRtcp(packets: readonly RtcpPacket[]): Buffer {
  return Buffer.concat(packets.map(serializeRtcpPacket));
}

/** The middle 32 bits of an NTP timestamp: an SR's id in later report blocks' LSR (RFC 3550 §6.4.1). */
export function ntpMiddle(ntpSec: number, ntpFrac: number): number {
  return (((ntpSec & 0xffff) << 16) | (ntpFrac >>> 16)) >>> 0;
}
