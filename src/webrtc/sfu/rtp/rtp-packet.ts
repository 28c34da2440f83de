/**
 * RTP packets without copies (RFC 3550 §5.1, header extensions RFC 8285): a reusable view that
 * validates a packet once and then reads its fields straight from the buffer, helpers that write
 * the forwarded copy with another SSRC / sequence / timestamp / payload type, decoders of the header
 * extensions an SFU reads, and RTX (RFC 4588) wrapping.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           timestamp                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           synchronization source (SSRC) identifier            |
 *    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *    |            contributing source (CSRC) identifiers             |
 *    |                             ....                              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  profile (0xBEDE / 0x100X)    |  extension length (32-bit words)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                 extension elements ....                       |
 *
 * Why a view and not an object per packet: the forwarding budget is ~12 µs per packet, and the
 * fan-out reads a handful of fields. `RtpView.parse` validates everything once (so later reads
 * and extension lookups cannot run out of bounds) and allocates nothing; one view per receive
 * path is reused for every packet. Extension values are returned as offsets into the buffer.
 */
import { RtpDecodeError } from './errors.ts';

/** Largest RTP packet accepted by default (a 1500-byte MTU path). */
export const DEFAULT_MAX_RTP = 1500;
/** RFC 8285 §4.2 one-byte header extension profile. */
export const EXT_ONE_BYTE = 0xbede;
/** RFC 8285 §4.3 two-byte header extension profile (low 4 bits "appbits"). */
export const EXT_TWO_BYTE = 0x1000;

/** Options of {@link RtpView.parse}. */
export interface RtpParseOptions {
  /** Packets longer than this are refused. @default 1500 */
  maxLength?: number;
}

/** Extension header form of a parsed packet. */
export const ExtForm = {
  None: 0,
  OneByte: 1,
  TwoByte: 2,
  /** An extension with another profile: carried, never interpreted. */
  Other: 3,
} as const;
export type ExtForm = (typeof ExtForm)[keyof typeof ExtForm];

/**
 * A validated RTP packet in `buf[0, length)`. Reuse one view: `parse` overwrites it. The buffer is
 * referenced, not copied — the view is only meaningful while the buffer is not reused.
 */
export class RtpView {
  buf: Buffer = Buffer.alloc(0);
  /** Packet length in `buf` (from offset 0). */
  length = 0;
  /** Where the payload starts (after CSRCs and the extension). */
  payloadOffset = 0;
  /** Payload bytes, padding excluded. */
  payloadLength = 0;
  /** Padding bytes at the end (0 when P is clear). */
  paddingLength = 0;
  /** Extension form, profile (the 16 bits before the length) and data range. */
  extForm: ExtForm = ExtForm.None;
  extProfile = 0;
  /** Offset of the first extension element (after the 4-byte extension header); 0 if none. */
  extOffset = 0;
  /** Bytes of extension elements (the length field × 4). */
  extLength = 0;
  /** Length of the value found by the last successful {@link findExtension}. */
  extValueLength = 0;

  /**
   * Validates `buf[0, length)` as an RTP packet and points this view at it. Throws
   * {@link RtpDecodeError} (codes `short`, `tooLarge`, `version`, `padding`, `extension`).
   */
  parse(buf: Buffer, length: number = buf.length, options?: RtpParseOptions): this {
    const max = options?.maxLength ?? DEFAULT_MAX_RTP;
    if (length > buf.length) throw new RtpDecodeError('short', `length ${length} beyond a ${buf.length}-byte buffer`);
    if (length > max) throw new RtpDecodeError('tooLarge', `${length} bytes > ${max}`);
    if (length < 12) throw new RtpDecodeError('short', `${length} bytes, the fixed header is 12`);
    const b0 = buf[0]!;
    if (b0 >> 6 !== 2) throw new RtpDecodeError('version', `version ${b0 >> 6}`);
    let off = 12 + (b0 & 0x0f) * 4;
    if (off > length) throw new RtpDecodeError('short', `${b0 & 0x0f} CSRCs do not fit in ${length} bytes`);
    let padding = 0;
    if (b0 & 0x20) {
      // RFC 3550 §5.1: the last octet counts the padding octets, itself included.
      padding = buf[length - 1]!;
      if (padding === 0) throw new RtpDecodeError('padding', 'padding count 0');
    }
    this.extForm = ExtForm.None;
    this.extProfile = 0;
    this.extOffset = 0;
    this.extLength = 0;
    if (b0 & 0x10) {
      if (off + 4 > length) throw new RtpDecodeError('short', 'extension header cut off');
      const profile = (buf[off]! << 8) | buf[off + 1]!;
      const words = (buf[off + 2]! << 8) | buf[off + 3]!;
      const start = off + 4;
      const end = start + words * 4;
      if (end > length) throw new RtpDecodeError('short', `extension of ${words * 4} bytes does not fit`);
      this.extProfile = profile;
      this.extOffset = start;
      this.extLength = words * 4;
      if (profile === EXT_ONE_BYTE) {
        this.extForm = ExtForm.OneByte;
        validateOneByte(buf, start, end);
      } else if ((profile & 0xfff0) === EXT_TWO_BYTE) {
        this.extForm = ExtForm.TwoByte;
        validateTwoByte(buf, start, end);
      } else this.extForm = ExtForm.Other;
      off = end;
    }
    if (off + padding > length) throw new RtpDecodeError('padding', `${padding} padding bytes after a ${off}-byte header in ${length}`);
    this.buf = buf;
    this.length = length;
    this.payloadOffset = off;
    this.paddingLength = padding;
    this.payloadLength = length - off - padding;
    this.extValueLength = 0;
    return this;
  }

  get marker(): boolean {
    return (this.buf[1]! & 0x80) !== 0;
  }
  get payloadType(): number {
    return this.buf[1]! & 0x7f;
  }
  get sequenceNumber(): number {
    return (this.buf[2]! << 8) | this.buf[3]!;
  }
  get timestamp(): number {
    return this.buf.readUInt32BE(4);
  }
  get ssrc(): number {
    return this.buf.readUInt32BE(8);
  }
  get csrcCount(): number {
    return this.buf[0]! & 0x0f;
  }
  csrc(i: number): number {
    return this.buf.readUInt32BE(12 + 4 * i);
  }
  /** Bytes before the payload (fixed header, CSRCs, extension). */
  get headerLength(): number {
    return this.payloadOffset;
  }
  /** A view of the payload (a subarray, no copy). */
  payload(): Buffer {
    return this.buf.subarray(this.payloadOffset, this.payloadOffset + this.payloadLength);
  }

  /**
   * Offset in `buf` of the value of extension `id` (1–14 one-byte, 1–255 two-byte), its length in
   * {@link extValueLength}; −1 when absent (or the packet has no RFC 8285 extension).
   */
  findExtension(id: number): number {
    const buf = this.buf;
    let i = this.extOffset;
    const end = i + this.extLength;
    if (this.extForm === ExtForm.OneByte) {
      while (i < end) {
        const h = buf[i]!;
        if (h === 0) {
          i++;
          continue;
        }
        const eid = h >> 4;
        if (eid === 15) return -1;
        const len = (h & 0x0f) + 1;
        if (eid === id) {
          this.extValueLength = len;
          return i + 1;
        }
        i += 1 + len;
      }
    } else if (this.extForm === ExtForm.TwoByte) {
      while (i < end) {
        const eid = buf[i]!;
        if (eid === 0) {
          i++;
          continue;
        }
        const len = buf[i + 1]!;
        if (eid === id) {
          this.extValueLength = len;
          return i + 2;
        }
        i += 2 + len;
      }
    }
    return -1;
  }

  /** The transport-wide sequence number in extension `id`, or −1 when absent or not 2 bytes. */
  transportSeq(id: number): number {
    const off = this.findExtension(id);
    return off >= 0 && this.extValueLength >= 2 ? readTransportSeq(this.buf, off) : -1;
  }
}

/** RFC 8285 §4.2: ID 0 is a padding byte, ID 15 ends processing; each element must fit. */
function validateOneByte(buf: Buffer, i: number, end: number): void {
  while (i < end) {
    const h = buf[i]!;
    if (h === 0) {
      i++;
      continue;
    }
    if (h >> 4 === 15) return;
    const len = (h & 0x0f) + 1;
    if (i + 1 + len > end) throw new RtpDecodeError('extension', `one-byte element ${h >> 4} of ${len} bytes overruns the extension`);
    i += 1 + len;
  }
}

/** RFC 8285 §4.3: ID 0 is a padding byte; length may be 0; each element must fit. */
function validateTwoByte(buf: Buffer, i: number, end: number): void {
  while (i < end) {
    const id = buf[i]!;
    if (id === 0) {
      i++;
      continue;
    }
    if (i + 2 > end) throw new RtpDecodeError('extension', `two-byte element ${id} header cut off`);
    const len = buf[i + 1]!;
    if (i + 2 + len > end) throw new RtpDecodeError('extension', `two-byte element ${id} of ${len} bytes overruns the extension`);
    i += 2 + len;
  }
}

/** Parses into a fresh view (convenience; the hot path reuses one view). */
export function parseRtp(buf: Buffer, length: number = buf.length, options?: RtpParseOptions): RtpView {
  return new RtpView().parse(buf, length, options);
}

// --- in-place field writers (on a buffer the caller owns: the consumer's copy) ---

export function setSsrc(buf: Buffer, ssrc: number): void {
  buf.writeUInt32BE(ssrc >>> 0, 8);
}
export function setSequenceNumber(buf: Buffer, seq: number): void {
  buf[2] = (seq >> 8) & 0xff;
  buf[3] = seq & 0xff;
}
export function setTimestamp(buf: Buffer, ts: number): void {
  buf.writeUInt32BE(ts >>> 0, 4);
}
export function setPayloadType(buf: Buffer, pt: number): void {
  buf[1] = (buf[1]! & 0x80) | (pt & 0x7f);
}
export function setMarker(buf: Buffer, marker: boolean): void {
  buf[1] = marker ? buf[1]! | 0x80 : buf[1]! & 0x7f;
}

/**
 * Copies `src[0, length)` into `dst` at `dstOffset` with SSRC, sequence number, timestamp and
 * payload type replaced (marker, CSRCs, extensions, payload and padding kept). Returns the bytes
 * written. The one copy a consumer needs: its packet must not alias the producer's (issue 12:
 * werift's fan-out mutating one shared packet leaked offsets between consumers).
 */
export function rewriteInto(src: Buffer, length: number, dst: Buffer, dstOffset: number, ssrc: number, seq: number, timestamp: number, payloadType: number): number {
  if (dstOffset + length > dst.length) throw new RangeError(`rewriteInto: ${length} bytes do not fit at ${dstOffset} of ${dst.length}`);
  src.copy(dst, dstOffset, 0, length);
  dst[dstOffset + 1] = (src[1]! & 0x80) | (payloadType & 0x7f);
  dst[dstOffset + 2] = (seq >> 8) & 0xff;
  dst[dstOffset + 3] = seq & 0xff;
  dst.writeUInt32BE(timestamp >>> 0, dstOffset + 4);
  dst.writeUInt32BE(ssrc >>> 0, dstOffset + 8);
  return length;
}

/** {@link rewriteInto} a fresh buffer of `length + reserve` bytes (reserve: room for the SRTP tag). */
export function rewriteCopy(src: Buffer, length: number, ssrc: number, seq: number, timestamp: number, payloadType: number, reserve = 0): Buffer {
  const out = Buffer.allocUnsafe(length + reserve);
  rewriteInto(src, length, out, 0, ssrc, seq, timestamp, payloadType);
  return out;
}

// --- header extension values (offset/length from RtpView.findExtension) ---

/** Well-known extension URIs (negotiated with a=extmap; ids are per session). */
export const ExtUri = {
  transportCc: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  absSendTime: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  mid: 'urn:ietf:params:rtp-hdrext:sdes:mid',
  rid: 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
  repairedRid: 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  audioLevel: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
} as const;

/** Transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2): 16 bits. */
export function readTransportSeq(buf: Buffer, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}
export function writeTransportSeq(buf: Buffer, off: number, seq: number): void {
  buf[off] = (seq >> 8) & 0xff;
  buf[off + 1] = seq & 0xff;
}

/** abs-send-time: 24-bit 6.18 fixed-point seconds (wraps every 64 s). */
export function readAbsSendTime(buf: Buffer, off: number): number {
  return (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
}
/** abs-send-time value in µs within its 64 s cycle. */
export function absSendTimeToUs(v: number): number {
  return (v * 1_000_000) / 0x40000;
}
export function writeAbsSendTime(buf: Buffer, off: number, us: number): void {
  const v = Math.round((us * 0x40000) / 1_000_000) & 0xffffff;
  buf[off] = v >> 16;
  buf[off + 1] = (v >> 8) & 0xff;
  buf[off + 2] = v & 0xff;
}

/**
 * sdes:mid, rtp-stream-id and repaired-rtp-stream-id (RFC 9143 §15, RFC 8852 §3): an SDES item
 * value as text. RFC 8851 §10: rid-id = 1*(ALPHA / DIGIT / "-" / "_") — MID tokens are looser but
 * browsers use the same alphabet. Trailing NUL bytes (some senders pad) are dropped. Throws
 * `field` on another character or an empty value: the value becomes a map key.
 */
export function readSdesId(buf: Buffer, off: number, len: number): string {
  let end = off + len;
  while (end > off && buf[end - 1] === 0) end--;
  if (end === off) throw new RtpDecodeError('field', 'empty MID/RID');
  for (let i = off; i < end; i++) {
    const c = buf[i]!;
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f;
    if (!ok) throw new RtpDecodeError('field', `byte 0x${c.toString(16)} in a MID/RID`);
  }
  return buf.toString('latin1', off, end);
}

/** Compares an SDES id in the packet with a known one, without making a string. */
export function sdesIdEquals(buf: Buffer, off: number, len: number, id: string): boolean {
  let end = off + len;
  while (end > off && buf[end - 1] === 0) end--;
  if (end - off !== id.length) return false;
  for (let i = 0; i < id.length; i++) if (buf[off + i] !== id.charCodeAt(i)) return false;
  return true;
}

/** RFC 6464 §3 audio level: −dBov 0 (loudest) … 127 (silence). */
export function readAudioLevel(buf: Buffer, off: number): number {
  return buf[off]! & 0x7f;
}
/** RFC 6464 §3 V bit: the sender's voice activity flag. */
export function readVoiceActivity(buf: Buffer, off: number): boolean {
  return (buf[off]! & 0x80) !== 0;
}

// --- RTX (RFC 4588 §4) ---

/**
 * The original packet from an RTX packet (RFC 4588 §4: the payload starts with the original
 * sequence number, OSN). Header (CSRCs, extensions) kept, SSRC and payload type replaced by the
 * original stream's, sequence number = OSN, padding dropped. One allocation: the result.
 * Throws `short` when the RTX payload has no OSN.
 */
export function unwrapRtx(rtx: RtpView, ssrc: number, payloadType: number): Buffer {
  if (rtx.payloadLength < 2) throw new RtpDecodeError('short', `RTX payload of ${rtx.payloadLength} bytes has no OSN`);
  const src = rtx.buf;
  const h = rtx.payloadOffset;
  const osn = (src[h]! << 8) | src[h + 1]!;
  const out = Buffer.allocUnsafe(h + rtx.payloadLength - 2);
  src.copy(out, 0, 0, h);
  src.copy(out, h, h + 2, h + rtx.payloadLength);
  out[0] = src[0]! & ~0x20;
  out[1] = (src[1]! & 0x80) | (payloadType & 0x7f);
  out[2] = osn >> 8;
  out[3] = osn & 0xff;
  out.writeUInt32BE(ssrc >>> 0, 8);
  return out;
}

/**
 * The RTX packet carrying `orig` (RFC 4588 §4): header kept, SSRC / payload type / sequence
 * number of the RTX stream, OSN = the original sequence number before the payload, padding
 * dropped. `reserve` extra bytes at the end (room for the SRTP tag).
 */
export function wrapRtx(orig: RtpView, rtxSsrc: number, rtxPayloadType: number, rtxSeq: number, reserve = 0): Buffer {
  const src = orig.buf;
  const h = orig.payloadOffset;
  const out = Buffer.allocUnsafe(h + 2 + orig.payloadLength + reserve);
  src.copy(out, 0, 0, h);
  out[h] = src[2]!;
  out[h + 1] = src[3]!;
  src.copy(out, h + 2, h, h + orig.payloadLength);
  out[0] = src[0]! & ~0x20;
  out[1] = (src[1]! & 0x80) | (rtxPayloadType & 0x7f);
  out[2] = (rtxSeq >> 8) & 0xff;
  out[3] = rtxSeq & 0xff;
  out.writeUInt32BE(rtxSsrc >>> 0, 8);
  return out;
}

// --- building (tests, probes, the SFU's own packets) ---

/** Fields of {@link buildRtp}. */
export interface RtpInit {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker?: boolean;
  csrcs?: readonly number[];
  /** Header extensions as (id, value); the one-byte form when every id ≤ 14 and value 1–16 bytes. */
  extensions?: ReadonlyArray<readonly [number, Buffer]>;
  payload?: Buffer;
  /** Padding bytes to append (1–255; 0 = none). @default 0 */
  padding?: number;
}

/** Serializes an RTP packet (allocates; for tests, probes and packets the SFU originates). */
export function buildRtp(p: RtpInit): Buffer {
  const csrcs = p.csrcs ?? [];
  if (csrcs.length > 15) throw new RangeError('at most 15 CSRCs');
  const exts = p.extensions ?? [];
  const oneByte = exts.every(([id, v]) => id >= 1 && id <= 14 && v.length >= 1 && v.length <= 16);
  let extBytes = 0;
  for (const [id, v] of exts) {
    if (!oneByte && (id < 1 || id > 255 || v.length > 255)) throw new RangeError(`extension ${id} of ${v.length} bytes`);
    extBytes += (oneByte ? 1 : 2) + v.length;
  }
  const extWords = Math.ceil(extBytes / 4);
  const payload = p.payload ?? Buffer.alloc(0);
  const padding = p.padding ?? 0;
  if (padding < 0 || padding > 255) throw new RangeError('padding 0–255');
  const head = 12 + csrcs.length * 4 + (exts.length ? 4 + extWords * 4 : 0);
  const out = Buffer.alloc(head + payload.length + padding);
  out[0] = 0x80 | (padding ? 0x20 : 0) | (exts.length ? 0x10 : 0) | csrcs.length;
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  out.writeUInt16BE(p.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(p.timestamp >>> 0, 4);
  out.writeUInt32BE(p.ssrc >>> 0, 8);
  let o = 12;
  for (const c of csrcs) o = out.writeUInt32BE(c >>> 0, o);
  if (exts.length) {
    out.writeUInt16BE(oneByte ? EXT_ONE_BYTE : EXT_TWO_BYTE, o);
    out.writeUInt16BE(extWords, o + 2);
    o += 4;
    for (const [id, v] of exts) {
      if (oneByte) out[o++] = (id << 4) | (v.length - 1);
      else {
        out[o++] = id;
        out[o++] = v.length;
      }
      o += v.copy(out, o);
    }
    o = head;
  }
  payload.copy(out, o);
  if (padding) out[out.length - 1] = padding;
  return out;
}

// --- per-consumer header extensions ---

/**
 * The header extensions a consumer's packet carries, in the subscriber's own extmap ids (which
 * need not match the publisher's): a reusable one-byte-form block (RFC 8285 §4.2, ids 1–14,
 * values 1–16 bytes). Fill it once per packet with `clear()` + `set()`, then
 * {@link rewriteWithExtensions}. No allocation after construction.
 */
export class ExtensionBlock {
  /** Element bytes (header byte + value), unpadded. */
  readonly bytes = Buffer.alloc(255);
  length = 0;

  clear(): this {
    this.length = 0;
    return this;
  }

  /** Appends element `id` with `len` bytes of `src` from `srcOffset`; returns the value's offset in {@link bytes}. */
  set(id: number, src: Buffer, srcOffset: number, len: number): number {
    if (id < 1 || id > 14 || len < 1 || len > 16) throw new RangeError(`one-byte extension ${id} of ${len} bytes`);
    if (this.length + 1 + len > 252) throw new RangeError('extension block full');
    const b = this.bytes;
    b[this.length] = (id << 4) | (len - 1);
    // A byte loop: Buffer.copy's call overhead dominates for values of 1–16 bytes.
    for (let i = 0; i < len; i++) b[this.length + 1 + i] = src[srcOffset + i]!;
    this.length += 1 + len;
    return this.length - len;
  }

  /** Appends a 16-bit value (a transport-wide sequence number). */
  setU16(id: number, v: number): void {
    if (id < 1 || id > 14) throw new RangeError(`one-byte extension ${id}`);
    if (this.length + 3 > 252) throw new RangeError('extension block full');
    this.bytes[this.length] = (id << 4) | 1;
    this.bytes[this.length + 1] = (v >> 8) & 0xff;
    this.bytes[this.length + 2] = v & 0xff;
    this.length += 3;
  }

  /** Bytes this block adds to a packet (4-byte extension header + elements padded to 32 bits; 0 when empty). */
  get wireLength(): number {
    return this.length === 0 ? 0 : 4 + ((this.length + 3) & ~3);
  }
}

/**
 * Writes the consumer's copy of `src` into `dst` at `dstOffset`: fixed header with the given SSRC,
 * sequence number, timestamp and payload type (marker and CSRCs kept), the publisher's
 * extensions replaced by `ext` (none when empty), the payload, padding dropped. Returns the
 * bytes written. Throws RangeError when `dst` is too small.
 */
export function rewriteWithExtensions(src: RtpView, dst: Buffer, dstOffset: number, ssrc: number, seq: number, timestamp: number, payloadType: number, ext: ExtensionBlock): number {
  const s = src.buf;
  const csrcBytes = (s[0]! & 0x0f) * 4;
  const extBytes = ext.wireLength;
  const total = 12 + csrcBytes + extBytes + src.payloadLength;
  if (dstOffset + total > dst.length) throw new RangeError(`rewriteWithExtensions: ${total} bytes do not fit at ${dstOffset} of ${dst.length}`);
  let o = dstOffset;
  dst[o] = (s[0]! & 0xcf) | (extBytes ? 0x10 : 0);
  dst[o + 1] = (s[1]! & 0x80) | (payloadType & 0x7f);
  dst[o + 2] = (seq >> 8) & 0xff;
  dst[o + 3] = seq & 0xff;
  dst.writeUInt32BE(timestamp >>> 0, o + 4);
  dst.writeUInt32BE(ssrc >>> 0, o + 8);
  o += 12;
  if (csrcBytes) o += s.copy(dst, o, 12, 12 + csrcBytes);
  if (extBytes) {
    dst[o] = EXT_ONE_BYTE >> 8;
    dst[o + 1] = EXT_ONE_BYTE & 0xff;
    dst[o + 2] = 0;
    dst[o + 3] = (extBytes - 4) >> 2;
    o += 4;
    const eb = ext.bytes;
    for (let i = 0; i < ext.length; i++) dst[o++] = eb[i]!;
    const end = dstOffset + 12 + csrcBytes + extBytes;
    while (o < end) dst[o++] = 0;
  }
  s.copy(dst, o, src.payloadOffset, src.payloadOffset + src.payloadLength);
  return total;
}
