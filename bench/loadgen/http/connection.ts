/**
 * One HTTP/1.1 keep-alive client connection over a raw TCP socket, the HTTP counterpart of
 * ../connection.ts: requests written by hand, responses read by {@link HttpResponseReader} from
 * one read buffer shared by every connection of the process (net's `onread`), body bytes handed
 * out as slices of it. No per-read allocation, no stream machinery, no header objects.
 */
import { connect, type Socket } from 'node:net';
import { HttpResponseError, HttpResponseReader, type ResponseSink } from './response.ts';

/** Shared by every HTTP connection of the process: reads are handled synchronously. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export interface HttpTarget {
  host: string;
  port: number;
  localAddress?: string;
  /** Milliseconds allowed for the TCP connect. @default 10000 */
  timeoutMs?: number;
}

export interface HttpConnectionHandlers {
  /** Called once per socket read, before the responses it contains (lets callers timestamp reads). */
  onChunk?(): void;
  /** The connection ended; `expected` is true when {@link HttpConnection.close} caused it. */
  onClose?(reason: string, expected: boolean): void;
}

export class HttpConnection {
  private socket: Socket | null = null;
  private readonly reader = new HttpResponseReader();
  private closing = false;
  private closed = false;

  constructor(
    private readonly target: HttpTarget,
    private readonly handlers: HttpConnectionHandlers = {},
  ) {}

  /** Opens the TCP connection. */
  open(): Promise<void> {
    const { host, port, localAddress, timeoutMs = 10_000 } = this.target;
    return new Promise<void>((resolve, reject) => {
      const socket = connect({
        host,
        port,
        ...(localAddress ? { localAddress } : {}),
        onread: {
          buffer: READ_BUFFER,
          callback: (n: number, buf: Uint8Array): boolean => {
            this.handlers.onChunk?.();
            try {
              this.reader.push(buf as Buffer, 0, n);
            } catch (err) {
              this.fail(err instanceof HttpResponseError ? err.message : `response handling failed: ${String(err instanceof Error ? (err.stack ?? err.message) : err)}`);
            }
            return true;
          },
        },
      });
      this.socket = socket;
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
        this.ended(`socket error: ${err.message}`);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        reject(new Error('connection closed while connecting'));
        this.ended(this.reader.pending > 0 ? `closed with ${this.reader.pending} responses outstanding` : 'socket closed');
      });
    });
  }

  get isOpen(): boolean {
    return this.socket !== null && !this.closed;
  }

  /** Requests not fully answered yet. */
  get pending(): number {
    return this.reader.pending;
  }

  /** Sends a GET; `sink` gets its response. */
  get(path: string, sink: ResponseSink): void {
    this.send(`GET ${path} HTTP/1.1\r\nHost: ${this.target.host}:${this.target.port}\r\n\r\n`, sink);
  }

  /** Sends a POST with a text body (`text/plain; charset=utf-8`). */
  post(path: string, body: string, sink: ResponseSink): void {
    this.send(
      `POST ${path} HTTP/1.1\r\nHost: ${this.target.host}:${this.target.port}\r\n` +
        `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      sink,
    );
  }

  /** Closes at once (responses still outstanding are abandoned); idempotent. */
  close(): void {
    this.closing = true;
    this.socket?.destroy();
  }

  private send(request: string, sink: ResponseSink): void {
    if (!this.socket || this.closed) throw new Error('HTTP connection is closed');
    this.reader.expect(sink);
    this.socket.write(request);
  }

  private fail(reason: string): void {
    this.ended(reason);
    this.socket?.destroy();
  }

  private ended(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose?.(reason, this.closing);
  }
}
