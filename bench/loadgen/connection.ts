/**
 * One WebSocket client over a raw TCP socket: an HTTP/1.1 upgrade written by hand, then frames
 * through {@link FrameReader}. No per-message objects on the receive path; text payloads are handed
 * to the caller as slices of the read chunk.
 */
import { connect, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { FrameReader, Opcode, encodeClientFrame, textFrame } from './frame.ts';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');
/** Upgrade responses larger than this are refused (the server is misbehaving). */
const MAX_RESPONSE_HEAD = 16 * 1024;
/**
 * One read buffer shared by every connection of the process (net's `onread` option): reads are
 * handled synchronously, so no connection needs the bytes after its callback returns. This skips
 * the per-read Buffer allocation and the stream machinery behind 'data' events, which together cost
 * more than the frame counting itself.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export interface RawWebSocketOptions {
  host: string;
  port: number;
  /** Request target, e.g. `/connection/websocket`. */
  path: string;
  /** Offered in `Sec-WebSocket-Protocol`, when set. */
  subprotocol?: string;
  /** Source address, to spread many connections over several loopback addresses. */
  localAddress?: string;
  /** Milliseconds allowed for TCP connect + upgrade. @default 10000 */
  timeoutMs?: number;
}

export interface RawWebSocketHandlers {
  /** Called once per socket read, before the frames it contains (lets callers timestamp reads). */
  onChunk?(): void;
  /** One text (or continuation) frame's payload: `data[start, end)`. */
  onText(data: Buffer, start: number, end: number): void;
  /** The connection ended; `expected` is true when {@link RawWebSocket.close} caused it. */
  onClose?(reason: string, expected: boolean): void;
}

export class RawWebSocket {
  private socket: Socket | null = null;
  private closing = false;
  private closed = false;

  constructor(
    private readonly options: RawWebSocketOptions,
    private readonly handlers: RawWebSocketHandlers,
  ) {}

  /** Connects and upgrades; resolves once the 101 response is verified. */
  open(): Promise<void> {
    const { host, port, path, subprotocol, localAddress, timeoutMs = 10_000 } = this.options;
    const key = randomBytes(16).toString('base64');
    const expectedAccept = createHash('sha1').update(key + WS_GUID).digest('base64');
    return new Promise<void>((resolve, reject) => {
      let head: Buffer | null = Buffer.alloc(0);
      const onRead = (n: number, buf: Uint8Array): boolean => {
        const chunk = buf as Buffer;
        if (head === null) {
          this.handlers.onChunk?.();
          reader.push(chunk, n);
        } else {
          readHead(Buffer.from(chunk.subarray(0, n)));
        }
        return true;
      };
      const socket = connect({
        host,
        port,
        ...(localAddress ? { localAddress } : {}),
        onread: { buffer: READ_BUFFER, callback: onRead },
      });
      this.socket = socket;
      socket.setNoDelay(true);
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`upgrade to ${host}:${port}${path} timed out`)), timeoutMs);
      const reader = new FrameReader((opcode, data, start, end) => this.onFrame(opcode, data, start, end));
      socket.on('connect', () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
            (subprotocol ? `Sec-WebSocket-Protocol: ${subprotocol}\r\n` : '') +
            '\r\n',
        );
      });
      const readHead = (chunk: Buffer): void => {
        head = Buffer.concat([head!, chunk]);
        const end = head.indexOf(HEADER_END);
        if (end < 0) {
          if (head.length > MAX_RESPONSE_HEAD) fail(new Error('upgrade response head too large'));
          return;
        }
        const text = head.subarray(0, end).toString('latin1');
        const rest = head.subarray(end + HEADER_END.length);
        head = null;
        const status = text.slice(0, text.indexOf('\r\n'));
        if (!/^HTTP\/1\.1 101 /.test(status)) return fail(new Error(`upgrade refused: ${status}`));
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
        if (accept !== expectedAccept) return fail(new Error('bad Sec-WebSocket-Accept'));
        settled = true;
        clearTimeout(timer);
        resolve();
        if (rest.length > 0) {
          this.handlers.onChunk?.();
          reader.push(rest);
        }
      };
      socket.on('error', (err) => fail(err));
      socket.on('close', () => {
        fail(new Error('connection closed during upgrade'));
        this.ended('socket closed');
      });
    });
  }

  get isOpen(): boolean {
    return this.socket !== null && !this.closed;
  }

  /** Sends one masked text frame. */
  send(text: string): void {
    this.socket?.write(textFrame(text));
  }

  /** Writes already-encoded frames in one syscall; returns false when the socket buffer is full. */
  sendFrames(frames: Buffer[]): boolean {
    if (!this.socket) return false;
    return this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /** Closes without the closing handshake (the bench does not need it); idempotent. */
  close(): void {
    this.closing = true;
    this.socket?.destroy();
  }

  private ended(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose?.(reason, this.closing);
  }

  private onFrame(opcode: number, data: Buffer, start: number, end: number): void {
    switch (opcode) {
      case Opcode.text:
      case Opcode.continuation:
        this.handlers.onText(data, start, end);
        return;
      case Opcode.ping:
        this.socket?.write(encodeClientFrame(Opcode.pong, Buffer.from(data.subarray(start, end))));
        return;
      case Opcode.close: {
        const code = end - start >= 2 ? data.readUInt16BE(start) : 1005;
        const reason = data.toString('utf8', Math.min(start + 2, end), end);
        this.ended(`close frame ${code} ${reason}`);
        this.socket?.destroy();
        return;
      }
      default:
        return; // binary and pong frames are not used by any dialect
    }
  }
}
