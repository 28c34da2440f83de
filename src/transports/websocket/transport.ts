/**
 * WebSocket transport: adapts an upgraded TCP socket to the Session's Transport. Our own RFC 6455
 * implementation rather than `ws`: server frames are pre-built once per publication and written
 * as-is to every subscriber, and an idle connection carries nothing but the socket and two small
 * objects (see docs/benchmarks.md for the memory per connection this buys).
 */
import type { Socket } from 'node:net';
import type { Disconnect } from '../../protocol/codes.ts';
import type { Format } from '../../server/format.ts';
import type { Transport, TransportHandler } from '../../server/transport.ts';
import { closeFrame, frame, Opcode } from './frame.ts';
import { Receiver } from './receiver.ts';

/** Concatenate a batch into one buffer below this size (one copy beats a writev of many small chunks). */
const CONCAT_LIMIT = 256 * 1024;
/** Socket buffer size past which write() reports backpressure. */
const HIGH_WATERMARK = 64 * 1024;
/** A close frame without a status code (the echo of a close that carried none, §5.5.1). */
const CLOSE_EMPTY = frame(Opcode.close, Buffer.alloc(0));

/**
 * The last batch concatenated, and the result. In a fan-out every subscriber of a channel gets
 * the same pre-framed publications in the same turn, and the node flushes them one after the
 * other: the second and later sessions find the same chunks (by reference) and write the buffer
 * already built, so a turn's publications are copied once per distinct batch instead of once per
 * subscriber. Chunks are never mutated after they are queued (Envelope caches them), so equal
 * references mean equal bytes. Holds at most one joined buffer (≤ CONCAT_LIMIT).
 */
let lastChunks: readonly Buffer[] = [];
let lastJoined: Buffer | null = null;

function joined(chunks: readonly Buffer[], total: number): Buffer {
  if (lastJoined !== null && lastChunks.length === chunks.length && lastJoined.length === total) {
    let same = true;
    for (let i = 0; i < chunks.length; i++) {
      if (chunks[i] !== lastChunks[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastJoined;
  }
  lastChunks = chunks;
  return (lastJoined = Buffer.concat(chunks as Buffer[], total));
}

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;
  readonly remoteAddress: string;
  private handler: TransportHandler | null = null;
  private readonly receiver: Receiver;
  private closing = false;
  private done = false;
  private peerCode = 1006;
  private peerReason = '';

  constructor(
    private readonly socket: Socket,
    readonly format: Format,
    maxMessageBytes: number,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.receiver = new Receiver(maxMessageBytes, this);
  }

  /** Starts reading. `head` is whatever arrived with the upgrade request after its headers. */
  attach(handler: TransportHandler, head: Buffer): void {
    this.handler = handler;
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receiver.write(chunk));
    socket.on('drain', () => this.handler?.onDrain());
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.end());
    socket.on('close', () => this.finish());
    if (head.length > 0) this.receiver.write(head);
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  write(chunks: readonly Buffer[]): boolean {
    if (this.closing || chunks.length === 0) return false;
    const socket = this.socket;
    if (chunks.length === 1) return socket.write(chunks[0]!) && socket.writableLength < HIGH_WATERMARK;
    let total = 0;
    for (const c of chunks) total += c.length;
    if (total <= CONCAT_LIMIT) socket.write(joined(chunks, total));
    else {
      socket.cork();
      for (const c of chunks) socket.write(c);
      socket.uncork();
    }
    return socket.writableLength < HIGH_WATERMARK;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(d: Disconnect): void {
    if (this.closing) return;
    this.closing = true;
    this.endWith(closeFrame(d.code, d.reason));
  }

  // ---- receiver callbacks ----------------------------------------------------------------------

  onMessage(data: Buffer): void {
    if (!this.closing) this.handler?.onMessage(data);
  }

  /**
   * §5.5.2: answer a ping with a pong carrying the same payload. The pong goes on the session's
   * outbound queue, not straight to the socket: it counts against `maxQueueBytes` like any other
   * frame, so a peer that pings and never reads meets the slow-consumer policy instead of growing
   * the socket's buffer without bound.
   */
  onPing(data: Buffer): void {
    if (!this.closing) this.handler?.enqueue(frame(Opcode.pong, data));
  }

  onPong(): void {}

  onClose(code: number, reason: string): void {
    this.peerCode = code;
    this.peerReason = reason;
    if (!this.closing) {
      this.closing = true;
      // Echo the close with the peer's code (RFC 6455 §5.5.1; none when it sent none), then
      // half-close; the socket's 'close' finishes us. One frame of at most 4 bytes, once.
      this.endWith(code === 1005 ? CLOSE_EMPTY : closeFrame(code, ''));
    }
  }

  /**
   * The peer broke RFC 6455 (§7.1.7 "Fail the WebSocket Connection"): close with the RFC code
   * (1002, 1007, 1009) and nothing else — no `disconnect` data message, which belongs to the
   * application protocol and would be one more frame the peer did not ask for. The session is
   * released at once, with that code, as after any close.
   */
  onError(closeCode: number, message: string): void {
    if (this.closing) return;
    this.closing = true;
    this.peerCode = closeCode;
    this.peerReason = message;
    this.endWith(closeFrame(closeCode, message.slice(0, 100)));
    this.finish();
  }

  /** Writes the close frame (the last frame), half-closes, and bounds how long the peer may take. */
  private endWith(close: Buffer): void {
    const socket = this.socket;
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(close);
    // A peer that never answers the close (or never reads) must not pin the socket.
    socket.setTimeout(3000, () => socket.destroy());
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.closing = true;
    this.handler?.onClose(this.peerCode, this.peerReason);
  }
}
