/**
 * VP8 RTP payload descriptor (RFC 7741 §4.2) read in place, keyframe detection (§4.3), and the
 * per-consumer rewriting of picture ID / TL0PICIDX / KEYIDX that keeps them continuous across
 * simulcast layer switches (what LiveKit's VP8 munger does; issue 12: werift's replaceTrack does
 * not, and the receiver's decoder then sees picture IDs jump backwards and freezes).
 *
 *          0 1 2 3 4 5 6 7
 *         +-+-+-+-+-+-+-+-+
 *         |X|R|N|S|R| PID |  (required)
 *         +-+-+-+-+-+-+-+-+
 *    X:   |I|L|T|K| RSV   |  (optional)
 *         +-+-+-+-+-+-+-+-+
 *    I:   |M| PictureID   |  (optional; M = 15-bit picture ID, second byte follows)
 *         +-+-+-+-+-+-+-+-+
 *         |   PictureID   |
 *         +-+-+-+-+-+-+-+-+
 *    L:   |   TL0PICIDX   |  (optional)
 *         +-+-+-+-+-+-+-+-+
 *    T/K: |TID|Y| KEYIDX  |  (optional)
 *         +-+-+-+-+-+-+-+-+
 *
 * The descriptor is parsed once per received packet (one reusable {@link Vp8Descriptor} per
 * producer); each consumer's {@link Vp8Munger} then writes its own values into its own copy at
 * the offsets the descriptor recorded — the copy has the same payload bytes at its own payload
 * offset, so nothing is parsed twice.
 */
import { RtpDecodeError } from './errors.ts';

/** A parsed VP8 payload descriptor; offsets are relative to the start of the RTP payload. */
export class Vp8Descriptor {
  /** N: this frame is not used as a reference. */
  nonReference = false;
  /** S: the first packet of a VP8 partition. */
  start = false;
  /** PID: partition index (0–7). */
  partitionId = 0;
  /** Picture ID, −1 when absent. */
  pictureId = -1;
  /** 7 or 15 (M bit), 0 when absent. */
  pictureIdBits = 0;
  pictureIdOffset = -1;
  /** TL0PICIDX, −1 when absent. */
  tl0PicIdx = -1;
  tl0PicIdxOffset = -1;
  /** Temporal layer index, −1 when absent (T clear). */
  tid = -1;
  /** Y: layer sync. */
  layerSync = false;
  /** KEYIDX, −1 when absent (K clear). */
  keyIdx = -1;
  /** Offset of the TID/Y/KEYIDX byte, −1 when absent. */
  tkOffset = -1;
  /** Descriptor bytes: the VP8 payload header starts here. */
  length = 0;
  /** Keyframe start (§4.3): S = 1, PID = 0, and the VP8 payload header's P (inverse key frame) bit 0. */
  keyframe = false;

  /**
   * Parses the descriptor at `buf[off, off + len)` (the RTP payload). Throws {@link RtpDecodeError}
   * `short` when the descriptor does not fit, or when it leaves no VP8 payload byte.
   */
  parse(buf: Buffer, off: number, len: number): this {
    if (len < 1) throw new RtpDecodeError('short', 'empty VP8 payload');
    const b0 = buf[off]!;
    this.nonReference = (b0 & 0x20) !== 0;
    this.start = (b0 & 0x10) !== 0;
    this.partitionId = b0 & 0x07;
    this.pictureId = -1;
    this.pictureIdBits = 0;
    this.pictureIdOffset = -1;
    this.tl0PicIdx = -1;
    this.tl0PicIdxOffset = -1;
    this.tid = -1;
    this.layerSync = false;
    this.keyIdx = -1;
    this.tkOffset = -1;
    let i = 1;
    if (b0 & 0x80) {
      if (len < 2) throw new RtpDecodeError('short', 'VP8 extension byte missing');
      const x = buf[off + 1]!;
      i = 2;
      if (x & 0x80) {
        if (len < i + 1) throw new RtpDecodeError('short', 'VP8 picture ID missing');
        const p0 = buf[off + i]!;
        this.pictureIdOffset = i;
        if (p0 & 0x80) {
          if (len < i + 2) throw new RtpDecodeError('short', 'VP8 15-bit picture ID cut off');
          this.pictureId = ((p0 & 0x7f) << 8) | buf[off + i + 1]!;
          this.pictureIdBits = 15;
          i += 2;
        } else {
          this.pictureId = p0;
          this.pictureIdBits = 7;
          i += 1;
        }
      }
      if (x & 0x40) {
        if (len < i + 1) throw new RtpDecodeError('short', 'VP8 TL0PICIDX missing');
        this.tl0PicIdx = buf[off + i]!;
        this.tl0PicIdxOffset = i;
        i++;
      }
      if (x & 0x30) {
        if (len < i + 1) throw new RtpDecodeError('short', 'VP8 TID/KEYIDX missing');
        const tk = buf[off + i]!;
        this.tkOffset = i;
        if (x & 0x20) {
          this.tid = tk >> 6;
          this.layerSync = (tk & 0x20) !== 0;
        }
        if (x & 0x10) this.keyIdx = tk & 0x1f;
        i++;
      }
    }
    if (len <= i) throw new RtpDecodeError('short', 'VP8 descriptor with no payload after it');
    this.length = i;
    this.keyframe = this.start && this.partitionId === 0 && (buf[off + i]! & 0x01) === 0;
    return this;
  }
}

/** Parses into a fresh descriptor (convenience; the hot path reuses one). */
export function parseVp8Descriptor(buf: Buffer, off = 0, len = buf.length - off): Vp8Descriptor {
  return new Vp8Descriptor().parse(buf, off, len);
}

/** Keyframe test without keeping the descriptor (false on a malformed one). */
export function isVp8Keyframe(buf: Buffer, off = 0, len = buf.length - off): boolean {
  const b0 = buf[off];
  // Fast path: not a partition-0 start is never a keyframe.
  if (len < 1 || b0 === undefined || (b0 & 0x17) !== 0x10) return false;
  try {
    return scratch.parse(buf, off, len).keyframe;
  } catch {
    return false;
  }
}
const scratch = new Vp8Descriptor();

/** Writes a picture ID at `payloadOffset` in the field width the descriptor has (7 or 15 bits). */
export function writePictureId(buf: Buffer, payloadOffset: number, d: Vp8Descriptor, pictureId: number): void {
  const o = payloadOffset + d.pictureIdOffset;
  if (d.pictureIdBits === 15) {
    buf[o] = 0x80 | ((pictureId >> 8) & 0x7f);
    buf[o + 1] = pictureId & 0xff;
  } else if (d.pictureIdBits === 7) buf[o] = pictureId & 0x7f;
}

/** `a` newer than `b` in a `bits`-bit counter. */
function newer(a: number, b: number, mask: number): boolean {
  const d = (a - b) & mask;
  return d !== 0 && d <= mask >> 1;
}

/**
 * One consumer's VP8 rewriter. Output picture IDs (15-bit counter), TL0PICIDX (8-bit) and KEYIDX
 * (5-bit) are the input's plus per-consumer offsets; on a layer switch (which happens on a
 * keyframe) the offsets are re-based so the first switched-to picture follows the last one sent.
 * A 7-bit picture ID field stays 7 bits (the low bits of the same counter), so the packet size
 * never changes.
 */
export class Vp8Munger {
  private started = false;
  private pidOffset = 0;
  private tl0Offset = 0;
  private keyIdxOffset = 0;
  private lastPid = -1;
  private lastTl0 = -1;
  private lastKeyIdx = -1;
  /** Input picture ID of the newest picture rewritten or skipped (−1 before the first). */
  private lastInPid = -1;

  /**
   * Rewrites the descriptor of the consumer's copy: `buf` holds the packet, its payload at
   * `payloadOffset`, `d` the descriptor parsed from the producer's packet. `switching`: this is
   * the first packet forwarded from a new source (layer switch or resume) — it should be a
   * keyframe start.
   */
  rewrite(buf: Buffer, payloadOffset: number, d: Vp8Descriptor, switching = false): void {
    if (!this.started || switching) this.rebase(d);
    if (d.pictureIdBits) {
      if (this.lastInPid < 0 || newer(d.pictureId, this.lastInPid, 0x7fff)) this.lastInPid = d.pictureId;
      const out = (d.pictureId + this.pidOffset) & 0x7fff;
      writePictureId(buf, payloadOffset, d, out);
      if (this.lastPid < 0 || newer(out, this.lastPid, 0x7fff)) this.lastPid = out;
    }
    if (d.tl0PicIdx >= 0) {
      const out = (d.tl0PicIdx + this.tl0Offset) & 0xff;
      buf[payloadOffset + d.tl0PicIdxOffset] = out;
      if (this.lastTl0 < 0 || newer(out, this.lastTl0, 0xff)) this.lastTl0 = out;
    }
    if (d.keyIdx >= 0) {
      const out = (d.keyIdx + this.keyIdxOffset) & 0x1f;
      const o = payloadOffset + d.tkOffset;
      buf[o] = (buf[o]! & 0xe0) | out;
      if (this.lastKeyIdx < 0 || newer(out, this.lastKeyIdx, 0x1f)) this.lastKeyIdx = out;
    }
  }

  /**
   * A packet of this source the consumer does not forward (a temporal layer above its target).
   * The first packet of a newer skipped picture shifts later picture IDs down by one, so the
   * receiver sees no gap: its VP8 reference finder would otherwise wait for the missing pictures.
   * Limit: a packet of a forwarded picture older than the skipped one that arrives after it
   * (reordering across pictures) is written with the shifted offset.
   */
  skip(d: Vp8Descriptor): void {
    if (!this.started || !d.pictureIdBits) return;
    if (this.lastInPid >= 0 && !newer(d.pictureId, this.lastInPid, 0x7fff)) return;
    this.lastInPid = d.pictureId;
    this.pidOffset = (this.pidOffset - 1) & 0x7fff;
  }

  private rebase(d: Vp8Descriptor): void {
    if (this.started) {
      if (d.pictureIdBits && this.lastPid >= 0) this.pidOffset = (this.lastPid + 1 - d.pictureId) & 0x7fff;
      this.lastInPid = -1;
      if (d.tl0PicIdx >= 0 && this.lastTl0 >= 0) this.tl0Offset = (this.lastTl0 + 1 - d.tl0PicIdx) & 0xff;
      if (d.keyIdx >= 0 && this.lastKeyIdx >= 0) this.keyIdxOffset = (this.lastKeyIdx + 1 - d.keyIdx) & 0x1f;
    }
    this.started = true;
  }

  /** Last picture ID written (−1 before the first). */
  get lastPictureId(): number {
    return this.lastPid;
  }
  /** Last TL0PICIDX written (−1 before the first). */
  get lastTl0PicIdx(): number {
    return this.lastTl0;
  }
}
