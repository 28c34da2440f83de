/**
 * HTTP/3 frames (RFC 9114 §7): every frame is
 *
 *   HTTP/3 Frame Format {
 *     Type (i),
 *     Length (i),
 *     Frame Payload (..),
 *   }
 *
 * FrameReader is an incremental parser for one stream: it buffers a frame only when its payload
 * is needed whole (HEADERS, SETTINGS, GOAWAY, …, each bounded by `maxFrameBytes`), hands DATA
 * payload through in pieces as it arrives, and skips unknown and reserved (GREASE) types without
 * buffering them (§9: "implementations MUST ignore unknown or unsupported values in all
 * extensible protocol elements").
 */
import { H3Error } from './errors.ts';
import { readVarint, varintSize, writeVarint } from './varint.ts';

export const FrameType = {
  data: 0x00,
  headers: 0x01,
  cancelPush: 0x03,
  settings: 0x04,
  pushPromise: 0x05,
  goaway: 0x07,
  maxPushId: 0x0d,
  /**
   * draft-ietf-webtrans-http3 §4.2: WEBTRANSPORT_STREAM. Not a real frame: on a client bidi
   * stream it is the signal that the stream belongs to a WebTransport session (then the session
   * ID, then raw application data). FrameReader reports it and stops parsing frames.
   */
  webtransportStream: 0x41,
} as const;

/**
 * RFC 9114 §7.2.8: frame types used in HTTP/2 that have no HTTP/3 meaning (PRIORITY, PING,
 * WINDOW_UPDATE, CONTINUATION). "Receipt of these frame types MUST be treated as a connection
 * error of type H3_FRAME_UNEXPECTED."
 */
const HTTP2_ONLY = new Set([0x02, 0x06, 0x08, 0x09]);

/** Frame types FrameReader buffers whole and returns as `frame`. */
const BUFFERED = new Set<number>([FrameType.headers, FrameType.cancelPush, FrameType.settings, FrameType.pushPromise, FrameType.goaway, FrameType.maxPushId]);

/** What FrameReader found. */
export type FrameEvent =
  | { kind: 'frame'; type: number; payload: Buffer }
  /** A piece of a DATA frame's payload (never empty); `end` on the last piece of that frame. */
  | { kind: 'data'; chunk: Buffer; end: boolean }
  /** A WEBTRANSPORT_STREAM signal: `rest` is everything after the signal type, raw. */
  | { kind: 'webtransport'; rest: Buffer };

export interface FrameReaderOptions {
  /** Largest payload of a buffered frame (HEADERS, SETTINGS …). @default 16384 */
  maxFrameBytes?: number;
  /** Accept the WEBTRANSPORT_STREAM signal as the first thing on the stream. @default false */
  allowWebTransportSignal?: boolean;
}

/**
 * Incremental parser for the frames of one stream. `push()` returns the events the bytes
 * complete; it throws H3Error (FRAME_UNEXPECTED for HTTP/2-only types, EXCESSIVE_LOAD past the
 * size limit). Which frames are allowed on which stream is the caller's rule (control.ts).
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Inside a payload: bytes of it still to come, and how to treat them. */
  private remaining = 0;
  private mode: 'header' | 'data' | 'skip' | 'buffer' | 'raw' = 'header';
  private bufType = 0;
  private readonly maxFrameBytes: number;
  private signalAllowed: boolean;

  constructor(opts: FrameReaderOptions = {}) {
    this.maxFrameBytes = opts.maxFrameBytes ?? 16384;
    this.signalAllowed = opts.allowWebTransportSignal ?? false;
  }

  /** True once the stream turned into raw WebTransport data (every later push is `webtransport`). */
  get raw(): boolean {
    return this.mode === 'raw';
  }

  push(chunk: Buffer): FrameEvent[] {
    const out: FrameEvent[] = [];
    if (this.mode === 'raw') {
      if (chunk.length > 0) out.push({ kind: 'webtransport', rest: chunk });
      return out;
    }
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      if (this.mode === 'header') {
        const type = readVarint(buf, at);
        if (type === null) break;
        if (this.signalAllowed && type.value === FrameType.webtransportStream) {
          this.mode = 'raw';
          const rest = buf.subarray(at + type.length);
          if (rest.length > 0) out.push({ kind: 'webtransport', rest });
          at = buf.length;
          break;
        }
        const len = readVarint(buf, at + type.length);
        if (len === null) break;
        this.signalAllowed = false;
        at += type.length + len.length;
        if (HTTP2_ONLY.has(type.value)) throw new H3Error('frameUnexpected', `HTTP/2 frame type 0x${type.value.toString(16)} is not allowed in HTTP/3`);
        this.remaining = len.value;
        if (type.value === FrameType.data) {
          this.mode = 'data';
          if (len.value === 0) {
            this.mode = 'header';
          }
        } else if (BUFFERED.has(type.value)) {
          if (len.value > this.maxFrameBytes) throw new H3Error('excessiveLoad', `frame type 0x${type.value.toString(16)} of ${len.value} bytes (limit ${this.maxFrameBytes})`);
          this.mode = 'buffer';
          this.bufType = type.value;
        } else {
          this.mode = len.value === 0 ? 'header' : 'skip';
        }
        continue;
      }
      if (this.mode === 'buffer') {
        if (buf.length - at < this.remaining) break;
        out.push({ kind: 'frame', type: this.bufType, payload: Buffer.from(buf.subarray(at, at + this.remaining)) });
        at += this.remaining;
        this.remaining = 0;
        this.mode = 'header';
        continue;
      }
      // data or skip: consume what is here, no buffering.
      const avail = buf.length - at;
      if (avail === 0) break;
      const n = Math.min(avail, this.remaining);
      if (this.mode === 'data') out.push({ kind: 'data', chunk: buf.subarray(at, at + n), end: n === this.remaining });
      at += n;
      this.remaining -= n;
      if (this.remaining === 0) this.mode = 'header';
    }
    buf = buf.subarray(at);
    // Only a partial header or a partial buffered frame stays (bounded: ≤ 16 header bytes or maxFrameBytes).
    this.pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
    return out;
  }

  /** Whether the stream ended on a frame boundary (RFC 9114 §7.1: a truncated frame is H3_FRAME_ERROR). */
  get atBoundary(): boolean {
    return this.mode === 'raw' || (this.mode === 'header' && this.pending.length === 0);
  }
}

/** One frame: type, length, payload. */
export function encodeFrame(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(varintSize(type) + varintSize(payload.length) + payload.length);
  let at = writeVarint(out, 0, type);
  at = writeVarint(out, at, payload.length);
  out.set(payload, at);
  return out;
}

/** GOAWAY (§7.2.6): the payload is one varint, a stream ID (or push ID). */
export function decodeGoaway(payload: Buffer): number {
  const v = readVarint(payload, 0);
  if (v === null || v.length !== payload.length) throw new H3Error('frameError', 'GOAWAY payload must be exactly one varint');
  return v.value;
}

export function encodeGoaway(id: number): Buffer {
  const p = Buffer.allocUnsafe(varintSize(id));
  writeVarint(p, 0, id);
  return encodeFrame(FrameType.goaway, p);
}
