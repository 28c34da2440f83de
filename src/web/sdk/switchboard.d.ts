/**
 * Types of the Switchboard browser SDK bundle (`/sdk/switchboard.js`).
 *
 * Hand-written, covering the public API of src/client (docs/client.md). It is kept honest by
 * test/e2e/sdk-types.test.ts, which the type check compiles: the real SDK's classes and values must
 * be assignable to what is declared here, so a renamed or removed member fails `tsc`.
 *
 * Usage in a page: `import { Client } from '/sdk/switchboard.js';`
 */

export interface StreamPosition {
  epoch: string;
  offset: number;
}

export interface ClientInfo {
  user: string;
  client: string;
  info?: unknown;
}

export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'closed';
export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed';
export type TransportName = 'websocket' | 'sse' | 'poll';
export type GapReason = 'not-recovered' | 'gap' | 'jump' | 'epoch-changed';

export interface Publication {
  channel: string;
  data: unknown;
  epoch: string;
  offset: number;
  info?: ClientInfo;
}

export interface GapEvent {
  channel: string;
  recovered: false;
  reason: GapReason;
  epoch: string;
  from?: number;
  to?: number;
}

export interface SubscribedEvent {
  channel: string;
  epoch: string;
  offset: number;
  recoverable: boolean;
  recovered?: boolean;
  resubscribed: boolean;
}

export interface UnsubscribedEvent {
  channel: string;
  code: number;
  reason: string;
}

export interface SubscriptionOptions {
  onPublication?: (pub: Publication) => void;
  onJoin?: (info: ClientInfo) => void;
  onLeave?: (info: ClientInfo) => void;
  onGap?: (gap: GapEvent) => void;
  onSubscribed?: (ev: SubscribedEvent) => void;
  onUnsubscribed?: (ev: UnsubscribedEvent) => void;
  onError?: (err: Error) => void;
  /** @default true */
  recover?: boolean;
  since?: StreamPosition;
}

export interface HistoryOptions {
  limit?: number;
  since?: StreamPosition;
  reverse?: boolean;
}

export interface HistoryResult {
  epoch: string;
  offset: number;
  publications: Publication[];
}

export interface StateEvent {
  state: ClientState;
  previous: ClientState;
}
export interface ConnectedEvent {
  client: string;
  node: string;
  transport: string;
}
export interface DisconnectedEvent {
  code: number;
  reason: string;
  reconnect: boolean;
}
export interface TransportEvent {
  transport: string;
  previous: string | undefined;
  upgrade: boolean;
}
export interface ClientErrorEvent {
  type: 'transport' | 'connect' | 'token' | 'refresh' | 'subscribe' | 'protocol' | 'callback';
  error: Error;
  channel?: string;
}

export interface ClientEvents {
  state: StateEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  transport: TransportEvent;
  error: ClientErrorEvent;
  publication: Publication;
  gap: GapEvent;
}

export interface TransportClose {
  code: number;
  reason: string;
}
export interface TransportEvents {
  message(data: string | Uint8Array): void;
  close(event: TransportClose): void;
}
export interface ClientTransport {
  readonly name: string;
  send(data: Uint8Array): boolean;
  close(code?: number, reason?: string): void;
}
export interface TransportContext {
  url: string;
  codec: { readonly name: 'json' | 'msgpack'; readonly binary: boolean };
  signal?: AbortSignal;
  maxMessageBytes?: number;
}
export interface TransportFactory {
  readonly name: string;
  readonly formats?: readonly ('json' | 'msgpack')[];
  create(ctx: TransportContext, events: TransportEvents): Promise<ClientTransport>;
}
export type TransportSpec = TransportName | TransportFactory;

export interface TransportMemory {
  get(key: string): string | undefined;
  set(key: string, name: string, ttlMs: number): void;
  delete(key: string): void;
}

export interface ClientOptions {
  /** @default 'json' */
  format: 'json' | 'msgpack';
  token: string | undefined;
  getToken: (() => Promise<string>) | undefined;
  /** @default 'switchboard-js' */
  name: string;
  version: string;
  /** @default 500 */
  minDelay: number;
  /** @default 20000 */
  maxDelay: number;
  /** @default 10000 */
  timeout: number;
  /** @default 5000 */
  openTimeout: number;
  /** @default 10000 */
  refreshBefore: number;
  /** @default 1000 */
  maxOfflineQueue: number;
  /** @default true */
  idempotencyKeys: boolean;
  /** @default 5 */
  publishRetries: number;
  /** @default 65536 */
  maxMessageBytes: number;
  /** @default ['websocket', 'sse', 'poll'] */
  transports: readonly TransportSpec[];
  /** @default 3600000 */
  rememberTransport: number;
  transportMemory: TransportMemory | undefined;
  /** @default true */
  upgrade: boolean;
  /** @default 5000 */
  upgradeMinDelay: number;
  /** @default 300000 */
  upgradeMaxDelay: number;
  random: () => number;
}

export declare class Subscription {
  readonly channel: string;
  readonly state: SubscriptionState;
  readonly position: StreamPosition | undefined;
  publish(data: unknown, opts?: { key?: string }): Promise<StreamPosition>;
  presence(): Promise<Record<string, ClientInfo>>;
  history(opts?: HistoryOptions): Promise<HistoryResult>;
  unsubscribe(): void;
}

export declare class Client {
  /**
   * @param url the node: `https://host`, `wss://host/connection/websocket`, or relative (`/`)
   */
  constructor(url: string, options?: Partial<ClientOptions>);
  readonly url: string;
  readonly state: ClientState;
  /** Transport in use while connected. */
  readonly transport: string | undefined;
  readonly id: string | undefined;
  readonly node: string | undefined;
  readonly user: string | undefined;
  readonly offlineQueueSize: number;
  connect(): Promise<void>;
  disconnect(): void;
  close(): void;
  setTransports(transports: readonly TransportSpec[]): void;
  subscribe(channel: string, options?: SubscriptionOptions): Subscription;
  getSubscription(channel: string): Subscription | undefined;
  publish(channel: string, data: unknown, opts?: { key?: string }): Promise<StreamPosition>;
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  on<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): () => void;
  once<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): void;
}

export declare class ClientError extends Error {}
export declare class ServerError extends ClientError {
  readonly code: number;
  readonly temporary: boolean;
}
export declare class TimeoutError extends ClientError {}
export declare class ConnectionLostError extends ClientError {}
export declare class NotConnectedError extends ClientError {}
export declare class OfflineQueueFullError extends ClientError {}
export declare class ClientClosedError extends ClientError {}
export declare class MessageTooLargeError extends ClientError {}
export declare class UnauthorizedError extends ClientError {}
export declare class UnsubscribedError extends ClientError {}
export declare class TransportError extends ClientError {
  readonly failures: ReadonlyArray<{ transport: string; error: Error }>;
}

export declare const websocketTransport: TransportFactory;
export declare const sseTransport: TransportFactory;
export declare const pollTransport: TransportFactory;
export declare const builtinTransports: Readonly<Record<TransportName, TransportFactory>>;
/** The URL of a transport's endpoint for a client URL. */
export declare function endpointUrl(url: string, kind: TransportName): string;
