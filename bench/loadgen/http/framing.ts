/**
 * What the HTTP subscribers parse out of a response body, as pure functions over buffer slices:
 * SSE lines, Switchboard long-polling batches, engine.io v4 polling payloads. Each hands out
 * slices of the buffer it was given (no copies) and looks no further than its `end`: the buffers
 * are often one large read buffer shared by every connection, and `Buffer#indexOf` has no end
 * bound, so every search runs on a view that ends where the data does.
 */
import { MARKER } from '../payload.ts';

const LF = 0x0a, CR = 0x0d;

/**
 * Splits a byte stream into lines (`\n`, an optional `\r` before it dropped), as an SSE stream is
 * read (WHATWG HTML, "event stream interpretation"). Complete lines are handed out in place; a line
 * cut by a read is copied and finished on the next push.
 */
export class LineReader {
  private carry: Buffer | null = null;

  constructor(
    private readonly onLine: (buf: Buffer, start: number, end: number) => void,
    /** Longest line accepted. @default 1 MiB */
    private readonly maxLine = 1 << 20,
  ) {}

  push(buf: Buffer, start: number, end: number): void {
    const view = end < buf.length ? buf.subarray(0, end) : buf;
    let at = start;
    if (this.carry !== null) {
      const lf = view.indexOf(LF, at);
      if (lf < 0) {
        this.append(buf, at, end);
        return;
      }
      this.append(buf, at, lf);
      const line = this.carry;
      this.carry = null;
      this.emit(line, 0, line.length);
      at = lf + 1;
    }
    while (at < end) {
      const lf = view.indexOf(LF, at);
      if (lf < 0) {
        this.append(buf, at, end);
        return;
      }
      this.emit(view, at, lf);
      at = lf + 1;
    }
  }

  private emit(buf: Buffer, start: number, end: number): void {
    this.onLine(buf, start, end > start && buf[end - 1] === CR ? end - 1 : end);
  }

  private append(buf: Buffer, start: number, end: number): void {
    const part = buf.subarray(start, end);
    this.carry = this.carry ? Buffer.concat([this.carry, part]) : Buffer.from(part);
    if (this.carry.length > this.maxLine) throw new RangeError(`line longer than ${this.maxLine} bytes`);
  }
}

const BATCH_HEAD = Buffer.from('{"seq":');
const FRAMES_AT = Buffer.from(',"frames":[');
const FRAME_SEP = Buffer.from(',{"t":"');
const BATCH_TAIL = Buffer.from(']}');

/**
 * A Switchboard long-polling batch `{"seq":N,"frames":[f1,f2,…]}` (docs/protocol.md, "Long
 * polling"): returns N and calls `onFrame` with N and each frame's slice. Frames are JSON objects that
 * start with `{"t":"`, so `,{"t":"` separates them (it cannot occur inside a frame: JSON escapes
 * the quotes of strings, and the bench's payloads are plain ASCII without quotes).
 * Throws RangeError when the body is not a batch.
 */
export function readBatch(buf: Buffer, start: number, end: number, onFrame: (seq: number, buf: Buffer, start: number, end: number) => void): number {
  const view = end < buf.length ? buf.subarray(0, end) : buf;
  if (end - start < BATCH_HEAD.length + FRAMES_AT.length + 3 || !startsWith(view, start, BATCH_HEAD) || !startsWith(view, end - 2, BATCH_TAIL)) {
    throw new RangeError(`not a poll batch: ${preview(view, start, end)}`);
  }
  let at = start + BATCH_HEAD.length;
  let seq = 0;
  for (; at < end; at++) {
    const d = view[at]! - 48;
    if (d < 0 || d > 9) break;
    seq = seq * 10 + d;
  }
  if (at === start + BATCH_HEAD.length || !startsWith(view, at, FRAMES_AT)) throw new RangeError(`not a poll batch: ${preview(view, start, end)}`);
  at += FRAMES_AT.length;
  const framesEnd = end - BATCH_TAIL.length;
  while (at < framesEnd) {
    const sep = view.indexOf(FRAME_SEP, at);
    const frameEnd = sep < 0 || sep >= framesEnd ? framesEnd : sep;
    onFrame(seq, view, at, frameEnd);
    at = frameEnd + 1;
  }
  return seq;
}

/** engine.io v4 separates the packets of a polling payload with the record separator 0x1e. */
export const EIO_SEPARATOR = 0x1e;

/** Calls `onPacket` with each packet of an engine.io v4 polling payload. */
export function forEachEioPacket(buf: Buffer, start: number, end: number, onPacket: (buf: Buffer, start: number, end: number) => void): void {
  const view = end < buf.length ? buf.subarray(0, end) : buf;
  let at = start;
  while (at < end) {
    const sep = view.indexOf(EIO_SEPARATOR, at);
    const packetEnd = sep < 0 ? end : sep;
    onPacket(view, at, packetEnd);
    at = packetEnd + 1;
  }
}

/**
 * Position of the payload marker inside `buf[start, end)`: checked at `usualAt` first (where the
 * system puts the payload), else searched; -1 when absent.
 */
export function findMarker(buf: Buffer, start: number, end: number, usualAt: number): number {
  const u = start + usualAt;
  if (u + 1 < end && buf[u] === MARKER[0] && buf[u + 1] === MARKER[1]) return u;
  const i = (end < buf.length ? buf.subarray(0, end) : buf).indexOf(MARKER, start);
  return i >= 0 && i < end ? i : -1;
}

function startsWith(buf: Buffer, at: number, prefix: Buffer): boolean {
  if (at < 0 || at + prefix.length > buf.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false;
  return true;
}

function preview(buf: Buffer, start: number, end: number): string {
  return JSON.stringify(buf.toString('utf8', start, Math.min(end, start + 120)));
}
