/**
 * H.264 RTP payloads (RFC 6184): what an SFU needs to know about a packet — does it start a
 * keyframe (an IDR slice, or the SPS that precedes one) — for single NAL unit packets (§5.6),
 * STAP-A aggregates (§5.7.1) and FU-A fragments (§5.8), with the packetization mode (§6.2: mode 0
 * allows single NAL units only, mode 1 adds STAP-A and FU-A; mode 2's interleaved STAP-B, MTAPs
 * and FU-B are not forwarded by this SFU).
 *
 *    NAL unit header (every form starts with one):   FU header (FU-A's second byte):
 *    +---------------+                                +---------------+
 *    |F|NRI|  Type   |                                |S|E|R|  Type   |
 *    +---------------+                                +---------------+
 */
import { RtpDecodeError } from './errors.ts';

/** NAL unit types used here (H.264 Table 7-1, RFC 6184 Table 1). */
export const NalType = { IDR: 5, SEI: 6, SPS: 7, PPS: 8, STAP_A: 24, STAP_B: 25, MTAP16: 26, MTAP24: 27, FU_A: 28, FU_B: 29 } as const;

/** Bits of {@link h264PacketInfo}'s result. */
export const H264Info = {
  /** The packet starts a keyframe: it carries an SPS or the first fragment of an IDR slice. */
  keyframe: 1,
  /** It carries (part of) an IDR slice. */
  idr: 2,
  sps: 4,
  pps: 8,
  /** It starts a NAL unit (single NAL, STAP-A, or an FU-A with S = 1). */
  nalStart: 16,
} as const;

function nalFlags(type: number): number {
  if (type === NalType.IDR) return H264Info.idr | H264Info.keyframe;
  if (type === NalType.SPS) return H264Info.sps | H264Info.keyframe;
  if (type === NalType.PPS) return H264Info.pps;
  return 0;
}

/**
 * Describes the H.264 payload `buf[off, off + len)` as {@link H264Info} bits. Throws
 * {@link RtpDecodeError}: `short` on a truncated aggregate or fragment, `codec` on the forbidden
 * bit, a reserved type, or a packetization the mode does not allow (STAP-A/FU-A in mode 0,
 * interleaved-mode types in any mode).
 */
export function h264PacketInfo(buf: Buffer, off: number, len: number, packetizationMode: 0 | 1 = 1): number {
  if (len < 1) throw new RtpDecodeError('short', 'empty H.264 payload');
  const h = buf[off]!;
  if (h & 0x80) throw new RtpDecodeError('codec', 'H.264 forbidden_zero_bit set');
  const type = h & 0x1f;
  if (type >= 1 && type <= 23) return H264Info.nalStart | nalFlags(type);
  if (type === NalType.STAP_A) {
    if (packetizationMode === 0) throw new RtpDecodeError('codec', 'STAP-A in packetization mode 0');
    let flags = H264Info.nalStart;
    let i = off + 1;
    const end = off + len;
    if (i >= end) throw new RtpDecodeError('short', 'STAP-A with no NAL unit');
    while (i < end) {
      if (i + 2 > end) throw new RtpDecodeError('short', 'STAP-A NAL unit size cut off');
      const size = (buf[i]! << 8) | buf[i + 1]!;
      if (size === 0 || i + 2 + size > end) throw new RtpDecodeError('short', `STAP-A NAL unit of ${size} bytes`);
      flags |= nalFlags(buf[i + 2]! & 0x1f);
      i += 2 + size;
    }
    return flags;
  }
  if (type === NalType.FU_A) {
    if (packetizationMode === 0) throw new RtpDecodeError('codec', 'FU-A in packetization mode 0');
    if (len < 3) throw new RtpDecodeError('short', 'FU-A without FU header and payload');
    const fu = buf[off + 1]!;
    const start = (fu & 0x80) !== 0;
    if (start && fu & 0x40) throw new RtpDecodeError('codec', 'FU-A with both S and E set');
    const inner = fu & 0x1f;
    const f = nalFlags(inner);
    // Only the first fragment starts the NAL unit (and so can be a switching point).
    return start ? H264Info.nalStart | f : f & ~H264Info.keyframe;
  }
  throw new RtpDecodeError('codec', `H.264 NAL type ${type} not forwarded (${type === 0 || type >= 30 ? 'reserved' : 'interleaved mode'})`);
}

/** Keyframe test without the details (false on a malformed payload). */
export function isH264Keyframe(buf: Buffer, off = 0, len = buf.length - off, packetizationMode: 0 | 1 = 1): boolean {
  try {
    return (h264PacketInfo(buf, off, len, packetizationMode) & H264Info.keyframe) !== 0;
  } catch {
    return false;
  }
}

/** The packetization-mode fmtp parameter (RFC 6184 §8.1), default 0; null for mode 2 (not supported). */
export function packetizationModeOf(fmtp: string): 0 | 1 | null {
  const m = /(?:^|;)\s*packetization-mode=(\d+)/.exec(fmtp);
  const v = m ? Number(m[1]) : 0;
  return v === 0 || v === 1 ? v : null;
}
