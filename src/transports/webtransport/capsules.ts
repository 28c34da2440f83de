/**
 * The Capsule Protocol (RFC 9297 §3.2) on a WebTransport session's CONNECT stream:
 *
 *   Capsule { Capsule Type (i), Capsule Length (i), Capsule Value (..) }
 *
 * §3.2: "An intermediary or endpoint that receives a capsule of an unknown type MUST ... silently
 * drop" it — CapsuleReader skips unknown types (GREASE included) without buffering them. Known
 * capsules are buffered up to `maxCapsuleBytes`.
 */
import { H3Error } from './errors.ts';
import { readVarint, varintSize, writeVarint } from './varint.ts';

export const CapsuleType = {
  datagram: 0x00,
  /** draft-ietf-webtrans-http3 §5: CLOSE_WEBTRANSPORT_SESSION { Application Error Code (32), Application Error Message (..8192) }. */
  closeWebTransportSession: 0x2843,
  /** draft-ietf-webtrans-http3: DRAIN_WEBTRANSPORT_SESSION, empty. */
  drainWebTransportSession: 0x78ae,
} as const;

/** The close reason is at most 1024 bytes of UTF-8 (draft-ietf-webtrans-http3 §5). */
export const MAX_CLOSE_REASON = 1024;

export type Capsule =
  | { type: 'close'; code: number; reason: string }
  | { type: 'drain' };

export class CapsuleReader {
  private pending: Buffer = Buffer.alloc(0);
  private skip = 0;

  constructor(private readonly maxCapsuleBytes = 4096) {}

  push(chunk: Buffer): Capsule[] {
    const out: Capsule[] = [];
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length - at);
        at += n;
        this.skip -= n;
        if (this.skip > 0) break;
      }
      const type = readVarint(buf, at);
      if (type === null) break;
      const len = readVarint(buf, at + type.length);
      if (len === null) break;
      const known = type.value === CapsuleType.closeWebTransportSession || type.value === CapsuleType.drainWebTransportSession;
      if (!known) {
        at += type.length + len.length;
        this.skip = len.value;
        continue;
      }
      if (len.value > this.maxCapsuleBytes) throw new H3Error('messageError', `capsule of ${len.value} bytes (limit ${this.maxCapsuleBytes})`);
      const start = at + type.length + len.length;
      if (buf.length - start < len.value) break;
      out.push(decodeCapsule(type.value, buf.subarray(start, start + len.value)));
      at = start + len.value;
    }
    buf = buf.subarray(at);
    this.pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
    return out;
  }

  /** The stream may end here (not inside a capsule). */
  get atBoundary(): boolean {
    return this.skip === 0 && this.pending.length === 0;
  }
}

function decodeCapsule(type: number, value: Buffer): Capsule {
  if (type === CapsuleType.drainWebTransportSession) {
    if (value.length !== 0) throw new H3Error('messageError', 'DRAIN_WEBTRANSPORT_SESSION must be empty');
    return { type: 'drain' };
  }
  if (value.length < 4) throw new H3Error('messageError', 'CLOSE_WEBTRANSPORT_SESSION shorter than its error code');
  const reasonBytes = value.subarray(4);
  if (reasonBytes.length > MAX_CLOSE_REASON) throw new H3Error('messageError', `close reason longer than ${MAX_CLOSE_REASON} bytes`);
  let reason: string;
  try {
    reason = new TextDecoder('utf-8', { fatal: true }).decode(reasonBytes);
  } catch {
    throw new H3Error('messageError', 'close reason is not UTF-8');
  }
  return { type: 'close', code: value.readUInt32BE(0), reason };
}

export function encodeCapsule(type: number, value: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(varintSize(type) + varintSize(value.length) + value.length);
  let at = writeVarint(out, 0, type);
  at = writeVarint(out, at, value.length);
  out.set(value, at);
  return out;
}

export function encodeCloseCapsule(code: number, reason: string): Buffer {
  let r = Buffer.from(reason, 'utf8');
  if (r.length > MAX_CLOSE_REASON) r = Buffer.from(new TextDecoder().decode(r.subarray(0, MAX_CLOSE_REASON)).replace(/\uFFFD+$/, ''), 'utf8');
  const v = Buffer.allocUnsafe(4 + r.length);
  v.writeUInt32BE(code >>> 0, 0);
  r.copy(v, 4);
  return encodeCapsule(CapsuleType.closeWebTransportSession, v);
}
