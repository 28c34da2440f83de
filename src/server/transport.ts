/**
 * One client's pipe, as the Session sees it. The transport owns reading (it calls the handler);
 * the session only writes. WebSocket, SSE and long polling each adapt their byte pipe to this.
 */
import type { Disconnect } from '../protocol/codes.ts';
import type { Format } from './format.ts';

export type TransportKind = 'websocket' | 'sse' | 'poll' | 'webtransport';

export interface Transport {
  readonly kind: TransportKind;
  /** How frames are encoded for this transport; pushes are cached per format. */
  readonly format: Format;
  /** Remote address for logs and per-IP limits. */
  readonly remoteAddress: string;
  /**
   * Writes formatted chunks in order, in as few syscalls as the transport can.
   * Returns false once the transport's own buffer is past its high watermark.
   */
  write(chunks: readonly Buffer[]): boolean;
  /** Bytes accepted by write() but not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Stop reading from the peer (inbound backpressure); resume() undoes it. */
  pause(): void;
  resume(): void;
  /**
   * Present when the transport can carry unreliable frames (WebTransport datagrams) and the peer
   * accepts them; the session uses it for publications of `datagrams: true` namespaces.
   */
  readonly unreliable?: UnreliableSender | null;
  /** Closes after flushing what was written; `d` goes into the close frame where there is one. Idempotent. */
  close(d: Disconnect): void;
}

/**
 * An unreliable, unordered side channel of a transport: each send is one whole frame that
 * arrives once or not at all. Frames sent here use `format`, whose `pub` frames carry `u: true`
 * so the client reports a hole before one as a gap and does not re-fetch it.
 */
export interface UnreliableSender {
  readonly format: Format;
  /** Largest frame (bytes from `format`) send() takes now; 0 when none. */
  readonly maxBytes: number;
  /**
   * Sends one frame unreliably. `'sent'` (it may still be lost), `'dropped'` (the bounded send
   * queue is full: lost now, counted), or `'too-big'` (not sent: use the reliable path).
   */
  send(frame: Buffer): 'sent' | 'dropped' | 'too-big';
}

/** What a transport calls on its session. */
export interface TransportHandler {
  /** One inbound message (one or more frames in the session's codec). */
  onMessage(data: Buffer): void;
  /** The transport's buffer went back under its watermark. */
  onDrain(): void;
  /**
   * Queues bytes the transport itself must send (WebSocket pongs, RFC 6455 §5.5.3) on the
   * session's bounded outbound queue, so they count against `maxQueueBytes` and meet the
   * slow-consumer policy like every other frame.
   */
  enqueue(buf: Buffer): void;
  /**
   * The peer broke the transport's own framing (or sent an oversize message) and the transport
   * wants the application-level close (a disconnect frame, then close). WebSocket-level violations
   * do not come here: the WebSocket transport closes those with the RFC 6455 code itself.
   */
  onTransportError(d: Disconnect): void;
  /** The transport is gone (peer closed, error, or after close()). Called once. */
  onClose(code: number, reason: string): void;
}
