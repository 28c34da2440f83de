/**
 * Minimal WebSocket framing for the load generator (RFC 6455 §5.2), kept free of sockets and timers.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-------+-+-------------+-------------------------------+
 *  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *  |     Extended payload length continued, if payload len == 127  |
 *  + - - - - - - - - - - - - - - - +-------------------------------+
 *  |                               |Masking-key, if MASK set to 1  |
 *  +-------------------------------+-------------------------------+
 *
 * Why not the `ws` client: the receive side of a fan-out benchmark must be much cheaper than the
 * server it measures. {@link FrameReader} only reads headers and hands out payload slices of the
 * chunk it was given (zero copy unless a frame straddles two reads), so counting a delivery costs a
 * few comparisons instead of a UTF-8 decode, an event emit and a Buffer per message.
 */
import { randomFillSync } from 'node:crypto';

export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Receives one complete frame: `data[start, end)` is its payload (server frames are unmasked). */
export type FrameHandler = (opcode: number, data: Buffer, start: number, end: number) => void;

/** Thrown for input a server may not send (masked frames, 64-bit lengths past 2^53). */
export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/** Largest header: 2 bytes + 8 bytes extended length + 4 bytes mask. */
const MAX_HEADER = 14;

/**
 * Parses the header at `buf[pos, limit)`. Returns the header length, or 0 when more bytes are needed.
 * The payload length is left in {@link lastPayloadLength} to avoid allocating a result object.
 */
let lastPayloadLength = 0;
function parseHeader(buf: Buffer, pos: number, limit: number): number {
  if (limit - pos < 2) return 0;
  const b1 = buf[pos + 1]!;
  if (b1 & 0x80) throw new FrameError('server sent a masked frame (RFC 6455 §5.1 forbids it)');
  const len7 = b1 & 0x7f;
  if (len7 < 126) {
    lastPayloadLength = len7;
    return 2;
  }
  if (len7 === 126) {
    if (limit - pos < 4) return 0;
    lastPayloadLength = buf.readUInt16BE(pos + 2);
    return 4;
  }
  if (limit - pos < 10) return 0;
  const hi = buf.readUInt32BE(pos + 2);
  if (hi > 0x1fffff) throw new FrameError(`frame length too large (high word ${hi})`);
  lastPayloadLength = hi * 2 ** 32 + buf.readUInt32BE(pos + 6);
  return 10;
}

/**
 * Incremental parser of server-to-client frames. Feed it every chunk read from the socket, in order.
 * Fragmented messages are reported frame by frame (opcode 0 for continuations).
 */
export class FrameReader {
  private readonly head = Buffer.alloc(MAX_HEADER);
  private headLen = 0;
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private bodyOpcode = 0;

  constructor(private readonly onFrame: FrameHandler) {}

  /**
   * Parses `chunk[0, length)`. The chunk may be reused by the caller afterwards: frames are handed
   * out synchronously and partial ones are copied.
   */
  push(chunk: Buffer, length: number = chunk.length): void {
    const n = length;
    let pos = 0;
    if (this.body !== null) pos = this.fillBody(chunk, 0, n);
    if (pos < n && this.headLen > 0) pos = this.fillHead(chunk, pos, n);
    while (pos < n) {
      const hlen = parseHeader(chunk, pos, n);
      if (hlen === 0) {
        chunk.copy(this.head, 0, pos, n);
        this.headLen = n - pos;
        return;
      }
      const opcode = chunk[pos]! & 0x0f;
      const start = pos + hlen;
      const end = start + lastPayloadLength;
      if (end <= n) {
        this.onFrame(opcode, chunk, start, end);
        pos = end;
      } else {
        this.startBody(opcode, lastPayloadLength);
        pos = this.fillBody(chunk, start, n);
      }
    }
  }

  /** Completes a header split across reads; returns the position after what it consumed. */
  private fillHead(chunk: Buffer, pos: number, n: number): number {
    const take = Math.min(MAX_HEADER - this.headLen, n - pos);
    chunk.copy(this.head, this.headLen, pos, pos + take);
    const avail = this.headLen + take;
    const hlen = parseHeader(this.head, 0, avail);
    if (hlen === 0) {
      this.headLen = avail;
      return n;
    }
    const consumed = hlen - this.headLen; // header bytes that came from this chunk
    const opcode = this.head[0]! & 0x0f;
    this.headLen = 0;
    this.startBody(opcode, lastPayloadLength);
    return this.fillBody(chunk, pos + consumed, n);
  }

  private startBody(opcode: number, length: number): void {
    this.body = Buffer.allocUnsafe(length);
    this.bodyFilled = 0;
    this.bodyOpcode = opcode;
  }

  private fillBody(chunk: Buffer, pos: number, n: number): number {
    const body = this.body!;
    const take = Math.min(body.length - this.bodyFilled, n - pos);
    chunk.copy(body, this.bodyFilled, pos, pos + take);
    this.bodyFilled += take;
    if (this.bodyFilled === body.length) {
      this.body = null;
      this.onFrame(this.bodyOpcode, body, 0, body.length);
    }
    return pos + take;
  }
}

/**
 * Encodes one final client frame. Client frames must be masked (RFC 6455 §5.3); the key is random
 * so the bench exercises the same unmasking path a real client would.
 */
export function encodeClientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + len);
  out[0] = 0x80 | opcode;
  if (ext === 0) out[1] = 0x80 | len;
  else if (ext === 2) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const maskAt = 2 + ext;
  randomFillSync(out, maskAt, 4);
  for (let i = 0; i < len; i++) out[maskAt + 4 + i] = payload[i]! ^ out[maskAt + (i & 3)]!;
  return out;
}

/** A masked text frame. */
export function textFrame(text: string): Buffer {
  return encodeClientFrame(Opcode.text, Buffer.from(text, 'utf8'));
}
