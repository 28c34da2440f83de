/**
 * The SDK's client transport: the mirror of the server transport (docs DESIGN.md "Client
 * transport"). One transport is one connection's byte pipe; the Client owns protocol state and only
 * sees whole messages. Fallback is a list of {@link TransportFactory} tried in order until one
 * opens and answers `connect` (negotiate.ts); upgrade is a second transport opened beside the
 * first (upgrade.ts).
 */
import type { Codec, CodecName } from '../protocol/codec.ts';

/** How a transport ended. `code` is a Switchboard disconnect code or a WebSocket close code. */
export interface TransportClose {
  code: number;
  reason: string;
}

/** Callbacks a transport calls; the Client passes them to {@link TransportFactory.create}. */
export interface TransportEvents {
  /** One transport message (one or more frames), as text or bytes. */
  message(data: string | Uint8Array): void;
  /** The transport closed (after open, or while opening). Called at most once. */
  close(event: TransportClose): void;
}

/** A connected pipe to a node. */
export interface ClientTransport {
  /** The factory's name, e.g. `websocket` (reported in the `connected` event). */
  readonly name: string;
  /**
   * Sends one message (already encoded frames). Returns false when the transport is buffering a lot
   * (backpressure hint) or is closed.
   */
  send(data: Uint8Array): boolean;
  /** Closes the pipe; `events.close` still fires once. Idempotent. */
  close(code?: number, reason?: string): void;
}

/** What a factory needs to open a transport. */
export interface TransportContext {
  /**
   * The endpoint given to `new Client(url)` (`ws(s)://` or `http(s)://`, with or without the
   * `/connection/<transport>` path). Factories derive their own URL with `endpointUrl()`.
   */
  url: string;
  /** The codec of this connection (JSON for transports that only carry JSON, see `formats`). */
  codec: Codec;
  /** WebSocket constructor from the client options, if any. */
  websocket?: WebSocketConstructor;
  /** `fetch` from the client options, if any (HTTP transports). @default globalThis.fetch */
  fetch?: FetchLike;
  /** EventSource constructor from the client options, if any (SSE in browsers). */
  eventSource?: EventSourceConstructor | null;
  /** Largest message the server accepts (HTTP transports merge queued messages up to it). @default 65536 */
  maxMessageBytes?: number;
  /** Aborted when the client gives up on this attempt (timeout, disconnect()): close and reject. */
  signal?: AbortSignal;
}

/** Makes transports of one kind. */
export interface TransportFactory {
  readonly name: string;
  /**
   * Codecs this transport can carry. A client whose `format` is not listed uses JSON on this
   * transport (the codec is per connection). @default ['json', 'msgpack']
   */
  readonly formats?: readonly CodecName[];
  /** Opens a transport; resolves once it can send, rejects if it cannot open. */
  create(ctx: TransportContext, events: TransportEvents): Promise<ClientTransport>;
}

/** The subset of WHATWG `fetch` the HTTP transports use (browsers, Node 18+). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The subset of the WHATWG EventSource the SSE transport uses (browsers). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: string; lastEventId: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  addEventListener(type: string, listener: (ev: { data: string; lastEventId: string }) => void): void;
  close(): void;
}

export type EventSourceConstructor = new (url: string) => EventSourceLike;

/** The subset of the WHATWG WebSocket that the SDK uses (browsers, Node 22+, and the `ws` package). */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
