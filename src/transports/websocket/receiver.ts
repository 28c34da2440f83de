/**
 * Parses the client→server byte stream into WebSocket messages (RFC 6455 §5). A small state
 * machine fed with whatever chunks TCP delivers. It validates before it buffers: a frame header is
 * judged as soon as it is complete (an oversize length, a continuation with nothing to continue, a
 * data frame inside a fragmented message), so a hostile peer cannot make it allocate or wait.
 *
 * Payload bytes are unmasked in place as they arrive, and text payloads go through an incremental
 * UTF-8 validator at the same time (fail fast, §8.1): an invalid byte in the second fragment, or in
 * the second TCP chunk of one frame, fails the connection then, not when the message ends.
 *
 * Errors are reported as a WebSocket close code — 1002 protocol error, 1007 invalid UTF-8 (§7.4.1),
 * 1009 too big (the message, or its fragment count) — and the receiver stops; the owner closes the
 * connection with that code. After a close frame nothing more is read (§5.5.1).
 */
import { isUtf8 } from 'node:buffer';
import { Opcode } from './frame.ts';
import { Utf8Validator } from './utf8.ts';

export interface ReceiverHandler {
  onMessage(data: Buffer, binary: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  /** A valid close frame arrived (1005 when it carried no code). Nothing after it is read. */
  onClose(code: number, reason: string): void;
  /** The peer broke RFC 6455; `closeCode` is 1002, 1007 or 1009. Called at most once. */
  onError(closeCode: number, message: string): void;
}

/**
 * Default cap on frames per message. Each fragment costs a Buffer view while the message is
 * reassembled, and an empty one costs that for no payload at all, so the byte limit alone does not
 * bound memory: without a count, 100,000 empty continuation frames would all be held.
 */
export const DEFAULT_MAX_FRAGMENTS = 1024;

const EMPTY = Buffer.alloc(0);
/** Scratch mask key for the unmask loop (parse() is synchronous, so one per process suffices). */
const MASK = new Uint8Array(4);

/**
 * Close codes a peer may send (§7.4.1, §7.4.2 and the IANA registry): 1000–1003, 1007–1014,
 * 3000–4999. 1004 is reserved, 1005/1006/1015 must never be sent, 0–999 and 1016–2999 are unused,
 * 5000+ is out of range.
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export class Receiver {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed = false;

  // The frame being read (its header and mask key already consumed).
  private inFrame = false;
  private opcode = 0;
  private fin = false;
  private len = 0;
  private mask = 0;
  /** Payload bytes already unmasked (and UTF-8 checked), and where they end in `chunks`. */
  private done = 0;
  private at = 0;
  private atOff = 0;
  /** The payload arrived whole: its UTF-8 is checked after consume(), in one call. */
  private checkWhole = false;

  // The message being reassembled from fragments.
  private fragments: Buffer[] | null = null;
  private fragmentsBytes = 0;
  private fragmentBinary = false;
  private readonly utf8 = new Utf8Validator();

  /**
   * @param maxMessageBytes largest message (all fragments together) accepted; above it: 1009
   * @param handler receives messages and control frames
   * @param maxFragments most frames one message may span; above it: 1009. @default DEFAULT_MAX_FRAGMENTS
   */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly handler: ReceiverHandler,
    private readonly maxFragments = DEFAULT_MAX_FRAGMENTS,
  ) {}

  /** Feeds bytes from the socket. The chunk's payload bytes are unmasked in place. */
  write(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    if (this.buffered === 0) this.chunks = [chunk];
    else this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.parse();
  }

  private fail(code: number, message: string): void {
    this.failed = true;
    this.chunks = [];
    this.buffered = 0;
    this.fragments = null;
    this.handler.onError(code, message);
  }

  /** Removes `n` bytes from the head of the buffered chunks (n ≤ buffered), copying only when they span chunks. */
  private consume(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const take = Math.min(c.length, n - at);
      c.copy(out, at, 0, take);
      at += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    this.buffered -= n;
    return out;
  }

  /** Reads byte `i` of the buffered stream without consuming. */
  private peek(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    return 0;
  }

  private parse(): void {
    while (!this.failed) {
      if (!this.inFrame && !this.header()) return;
      if (this.failed || !this.payload()) return;
      this.inFrame = false;
      const payload = this.consume(this.len);
      if (this.checkWhole) {
        this.checkWhole = false;
        if (!this.utf8.write(payload)) return this.fail(1007, 'text message is not valid UTF-8');
      }
      if (this.opcode >= 0x8) this.control(this.opcode, payload);
      else this.data(payload);
    }
  }

  /** Reads and judges one frame header (§5.2). False when more bytes are needed or it failed. */
  private header(): boolean {
    if (this.buffered < 2) return false;
    const b0 = this.peek(0);
    const b1 = this.peek(1);
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let len = b1 & 0x7f;
    // §5.2: RSV1-3 MUST be 0 unless an extension defining them was negotiated (we offer none).
    if ((b0 & 0x70) !== 0) return this.failed0(1002, 'RSV bits set without a negotiated extension');
    // §5.1: a server MUST close the connection upon receiving a frame that is not masked.
    if ((b1 & 0x80) === 0) return this.failed0(1002, 'client frames must be masked');
    const control = opcode >= 0x8;
    if (control) {
      if (opcode !== Opcode.close && opcode !== Opcode.ping && opcode !== Opcode.pong) return this.failed0(1002, `reserved opcode ${opcode}`);
      // §5.5: control frames MUST have a payload of 125 bytes or less and MUST NOT be fragmented.
      if (!fin) return this.failed0(1002, 'fragmented control frame');
      if (len > 125) return this.failed0(1002, 'control frame payload over 125 bytes');
    } else if (opcode === Opcode.continuation) {
      if (this.fragments === null) return this.failed0(1002, 'continuation frame without a message');
    } else if (opcode === Opcode.text || opcode === Opcode.binary) {
      // §5.4: fragments of one message are not interleaved with another message's frames.
      if (this.fragments !== null) return this.failed0(1002, 'new message before the previous one ended');
    } else return this.failed0(1002, `reserved opcode ${opcode}`);
    let headerLen = 2;
    if (len === 126) {
      if (this.buffered < 4) return false;
      len = (this.peek(2) << 8) | this.peek(3);
      headerLen = 4;
    } else if (len === 127) {
      if (this.buffered < 10) return false;
      const hi = (this.peek(2) << 24) | (this.peek(3) << 16) | (this.peek(4) << 8) | this.peek(5);
      // §5.2: "the most significant bit MUST be 0" in a 64-bit length.
      if (hi < 0) return this.failed0(1002, '64-bit payload length with the most significant bit set');
      if (hi !== 0) return this.failed0(1009, `message over ${this.maxMessageBytes} bytes`);
      len = ((this.peek(6) << 24) >>> 0) + ((this.peek(7) << 16) | (this.peek(8) << 8) | this.peek(9));
      headerLen = 10;
    }
    if (!control) {
      const count = this.fragments === null ? 0 : this.fragments.length;
      if (this.fragmentsBytes + len > this.maxMessageBytes) return this.failed0(1009, `message over ${this.maxMessageBytes} bytes`);
      if (count + 1 > this.maxFragments) return this.failed0(1009, `message of more than ${this.maxFragments} fragments`);
    }
    if (this.buffered < headerLen + 4) return false;
    this.consume(headerLen);
    const m = this.consume(4);
    this.mask = ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | m[3]!) >>> 0;
    this.inFrame = true;
    this.opcode = opcode;
    this.fin = fin;
    this.len = len;
    this.done = 0;
    this.at = 0;
    this.atOff = 0;
    if (opcode === Opcode.text) this.utf8.reset();
    return true;
  }

  private failed0(code: number, message: string): false {
    this.fail(code, message);
    return false;
  }

  /**
   * Unmasks (in place) the payload bytes that arrived since the last call and checks text bytes
   * as UTF-8. True once the whole payload is buffered.
   *
   * In place is safe: the chunks are the socket's 'data' Buffers, which are ours alone (Node hands
   * each to one listener) and are not read again; the mask key was consumed before the payload.
   */
  private payload(): boolean {
    const avail = Math.min(this.buffered, this.len);
    if (avail > this.done) {
      const text = this.opcode === Opcode.text || (this.opcode === Opcode.continuation && !this.fragmentBinary);
      // The whole payload at once (the common case): check its UTF-8 in one call once consumed,
      // rather than piece by piece here. Only a payload that arrives in parts is checked as it comes.
      this.checkWhole = text && this.done === 0 && avail === this.len;
      const progressive = text && !this.checkWhole;
      MASK[0] = this.mask >>> 24;
      MASK[1] = (this.mask >>> 16) & 0xff;
      MASK[2] = (this.mask >>> 8) & 0xff;
      MASK[3] = this.mask & 0xff;
      let p = this.done;
      while (p < avail) {
        const c = this.chunks[this.at]!;
        const from = this.atOff;
        const n = Math.min(c.length - from, avail - p);
        const m = MASK;
        for (let j = from, end = from + n, k = p & 3; j < end; j++, k = (k + 1) & 3) c[j]! ^= m[k]!;
        if (progressive && !this.utf8.write(c, from, from + n)) {
          this.fail(1007, 'text message is not valid UTF-8');
          return false;
        }
        p += n;
        this.atOff += n;
        if (this.atOff === c.length) {
          this.at++;
          this.atOff = 0;
        }
      }
      this.done = p;
    }
    return this.done === this.len;
  }

  private data(payload: Buffer): void {
    if (this.fragments === null) {
      // A text or binary frame: a whole message, or the first fragment of one.
      if (this.fin) return this.deliver(payload, this.opcode === Opcode.binary);
      this.fragments = [payload];
      this.fragmentsBytes = payload.length;
      this.fragmentBinary = this.opcode === Opcode.binary;
      return;
    }
    this.fragments.push(payload);
    this.fragmentsBytes += payload.length;
    if (this.fin) this.deliver(Buffer.concat(this.fragments, this.fragmentsBytes), this.fragmentBinary);
  }

  private deliver(data: Buffer, binary: boolean): void {
    this.fragments = null;
    this.fragmentsBytes = 0;
    if (!binary && !this.utf8.complete) return this.fail(1007, 'text message ends inside a UTF-8 sequence');
    this.handler.onMessage(data, binary);
  }

  private control(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.ping) return this.handler.onPing(payload);
    if (opcode === Opcode.pong) return this.handler.onPong(payload);
    // close (§5.5.1): optional 2-byte code then UTF-8 reason
    if (payload.length === 1) return this.fail(1002, 'close frame with a 1-byte payload');
    let code = 1005;
    let reason = '';
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) return this.fail(1002, `invalid close code ${code}`);
      const r = payload.subarray(2);
      if (!isUtf8(r)) return this.fail(1007, 'close reason is not valid UTF-8');
      reason = r.toString('utf8');
    }
    this.failed = true; // nothing after a close frame is read
    this.chunks = [];
    this.buffered = 0;
    this.handler.onClose(code, reason);
  }
}
