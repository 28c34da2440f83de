/**
 * Parses the client→server byte stream into WebSocket messages (RFC 6455 §5). A small state
 * machine fed with whatever chunks TCP delivers. It validates before it buffers: an oversize
 * length is refused from the header alone, so a hostile peer cannot make it allocate.
 *
 * Errors are reported as a WebSocket close code (1002 protocol error, 1007 invalid UTF-8,
 * 1009 too big) and the receiver stops; the owner closes the connection.
 */
import { isUtf8 } from 'node:buffer';
import { Opcode } from './frame.ts';

export interface ReceiverHandler {
  onMessage(data: Buffer, binary: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  onClose(code: number, reason: string): void;
  onError(closeCode: number, message: string): void;
}

const EMPTY = Buffer.alloc(0);

export class Receiver {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Message being reassembled from fragments. */
  private fragments: Buffer[] | null = null;
  private fragmentsBytes = 0;
  private fragmentBinary = false;
  private failed = false;

  /**
   * @param maxMessageBytes largest message (all fragments together) accepted
   * @param handler receives messages and control frames
   */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly handler: ReceiverHandler,
  ) {}

  /** Feeds bytes from the socket. */
  write(chunk: Buffer): void {
    if (this.failed) return;
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

  /** Copies `n` bytes from the head of the buffered chunks (n ≤ buffered). */
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
    while (!this.failed && this.buffered >= 2) {
      const b0 = this.peek(0);
      const b1 = this.peek(1);
      const fin = (b0 & 0x80) !== 0;
      const rsv = b0 & 0x70;
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      if (rsv !== 0) return this.fail(1002, 'RSV bits set without a negotiated extension');
      if (!masked) return this.fail(1002, 'client frames must be masked');
      const control = opcode >= 0x8;
      if (control) {
        if (!fin) return this.fail(1002, 'fragmented control frame');
        if (len > 125) return this.fail(1002, 'control frame payload over 125 bytes');
        if (opcode !== Opcode.close && opcode !== Opcode.ping && opcode !== Opcode.pong) {
          return this.fail(1002, `reserved opcode ${opcode}`);
        }
      } else if (opcode !== Opcode.continuation && opcode !== Opcode.text && opcode !== Opcode.binary) {
        return this.fail(1002, `reserved opcode ${opcode}`);
      }
      let headerLen = 2;
      if (len === 126) {
        if (this.buffered < 4) return;
        len = (this.peek(2) << 8) | this.peek(3);
        headerLen = 4;
      } else if (len === 127) {
        if (this.buffered < 10) return;
        const hi = (this.peek(2) << 24) | (this.peek(3) << 16) | (this.peek(4) << 8) | this.peek(5);
        if (hi !== 0) return this.fail(1009, 'message too big');
        len = ((this.peek(6) << 24) >>> 0) + ((this.peek(7) << 16) | (this.peek(8) << 8) | this.peek(9));
        headerLen = 10;
      }
      if (!control && this.fragmentsBytes + len > this.maxMessageBytes) {
        return this.fail(1009, `message over ${this.maxMessageBytes} bytes`);
      }
      if (this.buffered < headerLen + 4 + len) return;
      this.consume(headerLen);
      const mask = this.consume(4);
      const payload = this.consume(len);
      // Unmask in place: consume() may return a view into the socket's chunk, which is ours alone
      // (Node hands each 'data' Buffer to one listener) and is not read again. The mask bytes
      // precede the payload, so they are never overwritten before use.
      for (let i = 0; i < len; i++) payload[i]! ^= mask[i & 3]!;
      if (control) {
        this.control(opcode, payload);
        continue;
      }
      if (opcode === Opcode.continuation) {
        if (this.fragments === null) return this.fail(1002, 'continuation frame without a message');
        this.fragments.push(payload);
        this.fragmentsBytes += len;
        if (fin) this.deliver(Buffer.concat(this.fragments, this.fragmentsBytes), this.fragmentBinary);
        continue;
      }
      if (this.fragments !== null) return this.fail(1002, 'new message before the previous one ended');
      if (fin) {
        this.deliver(payload, opcode === Opcode.binary);
      } else {
        this.fragments = [payload];
        this.fragmentsBytes = len;
        this.fragmentBinary = opcode === Opcode.binary;
      }
    }
  }

  private deliver(data: Buffer, binary: boolean): void {
    this.fragments = null;
    this.fragmentsBytes = 0;
    if (!binary && !isUtf8(data)) return this.fail(1007, 'text message is not valid UTF-8');
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
      const valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
      if (!valid) return this.fail(1002, `invalid close code ${code}`);
      const r = payload.subarray(2);
      if (!isUtf8(r)) return this.fail(1007, 'close reason is not valid UTF-8');
      reason = r.toString('utf8');
    }
    this.failed = true; // nothing after a close frame is read
    this.handler.onClose(code, reason);
  }
}
