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

/** One ICE server from the connect reply; structurally an `RTCIceServer`. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface IceCandidateData {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** Payload of a `signal` frame (docs/protocol.md "Signaling (WebRTC)"); `candidate: null` ends trickle ICE. */
export type SignalData =
  | { type: 'offer' | 'answer'; sdp: string }
  | { type: 'candidate'; candidate: IceCandidateData | null }
  | { type: 'bye' }
  | { type: 'custom'; payload: unknown };

/** A signal from another member of a room. */
export interface SignalEvent {
  channel: string;
  from: ClientInfo;
  data: unknown;
}

export interface SubscriptionOptions {
  onPublication?: (pub: Publication) => void;
  onJoin?: (info: ClientInfo) => void;
  onLeave?: (info: ClientInfo) => void;
  onGap?: (gap: GapEvent) => void;
  onSubscribed?: (ev: SubscribedEvent) => void;
  onUnsubscribed?: (ev: UnsubscribedEvent) => void;
  onError?: (err: Error) => void;
  /** A WebRTC signal from another member (signaling namespaces). */
  onSignal?: (ev: SignalEvent) => void;
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
  signal: SignalEvent;
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

export interface PresencePage {
  clients: Record<string, ClientInfo>;
  cursor?: string;
}

export declare class Subscription {
  readonly channel: string;
  readonly state: SubscriptionState;
  readonly position: StreamPosition | undefined;
  publish(data: unknown, opts?: { key?: string }): Promise<StreamPosition>;
  /** Every member (pages through long lists). */
  presence(): Promise<Record<string, ClientInfo>>;
  /** One page of members in join order; `cursor` is absent on the last page. */
  presencePage(opts?: { cursor?: string; limit?: number }): Promise<PresencePage>;
  presenceStats(): Promise<{ clients: number; users: number }>;
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
  /** ICE servers from the last connect reply (`[]` if none), for `new RTCPeerConnection({ iceServers })`. */
  readonly iceServers: readonly IceServer[];
  connect(): Promise<void>;
  disconnect(): void;
  close(): void;
  setTransports(transports: readonly TransportSpec[]): void;
  subscribe(channel: string, options?: SubscriptionOptions): Subscription;
  getSubscription(channel: string): Subscription | undefined;
  publish(channel: string, data: unknown, opts?: { key?: string }): Promise<StreamPosition>;
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  presencePage(channel: string, opts?: { cursor?: string; limit?: number }): Promise<PresencePage>;
  presenceStats(channel: string): Promise<{ clients: number; users: number }>;
  /** Sends a WebRTC signal to member `to` of `room`; resolves when the server accepted it for relay. */
  signal(room: string, to: string, data: SignalData): Promise<void>;
  on<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): () => void;
  once<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): void;
}

// ---- calls (docs/client.md "Calls") ----------------------------------------------------------

export interface CallOptions {
  /** Local media sent to every peer. @default undefined (receive only) */
  localStream: MediaStream | undefined;
  /** `'relay'` forces TURN. @default 'all' */
  iceTransportPolicy: 'all' | 'relay';
  /** @default client.iceServers */
  iceServers: readonly IceServer[] | undefined;
  /** Most other members connected at once. @default 3 */
  maxPeers: number;
  /** @default `new RTCPeerConnection(config)` */
  createPeerConnection: ((config: RTCConfiguration) => RTCPeerConnection) | undefined;
}
export type CallState = 'idle' | 'joining' | 'joined' | 'left';
export type PeerLeftReason = 'bye' | 'leave' | 'hangup' | 'reconnect';

export interface NegotiationStats {
  offersSent: number;
  answersSent: number;
  offersIgnored: number;
  rollbacks: number;
  candidatesSent: number;
  candidatesIgnored: number;
  deferred: number;
}
export interface NegotiationOptions {
  /** The polite end waits for the impolite end's first offer. @default false */
  politeWaitsForOffer?: boolean;
}
export interface NegotiationTarget {
  readonly signalingState: string;
  readonly localDescription: { readonly type: string; readonly sdp: string } | null;
  setLocalDescription(description?: { type: 'rollback' }): Promise<void>;
  setRemoteDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void>;
  addIceCandidate(candidate?: IceCandidateData): Promise<void>;
}
export interface NegotiationHooks {
  send(data: SignalData): void;
  error(err: Error): void;
}
/** Perfect negotiation (W3C WebRTC §10.7) for one end of a peer connection. */
export declare class PerfectNegotiation {
  constructor(pc: NegotiationTarget, polite: boolean, hooks: NegotiationHooks, options?: NegotiationOptions);
  readonly polite: boolean;
  makingOffer: boolean;
  ignoreOffer: boolean;
  readonly stats: NegotiationStats;
  negotiationNeeded(): Promise<void>;
  localCandidate(candidate: IceCandidateData | null): void;
  receive(data: SignalData): Promise<void>;
  close(): void;
}
/** Whether `self` is the polite end towards `other` (the smaller client id is). */
export declare function isPolite(self: string, other: string): boolean;

/** One other member of a call and the connection to it. */
export declare class CallPeer {
  readonly id: string;
  readonly info: ClientInfo;
  readonly pc: RTCPeerConnection;
  readonly negotiation: PerfectNegotiation;
  /** Every remote track, in one stream. */
  readonly remoteStream: MediaStream | undefined;
  readonly polite: boolean;
  readonly connectionState: RTCPeerConnectionState;
  readonly closed: boolean;
}

export interface CallEvents {
  peer: { peer: CallPeer };
  track: { peer: CallPeer; track: MediaStreamTrack; streams: readonly MediaStream[] };
  connectionstate: { peer: CallPeer; state: RTCPeerConnectionState };
  peerleft: { peer: CallPeer; reason: PeerLeftReason };
  error: { error: Error; peer?: string };
  state: { state: CallState };
}

/** A mesh call in a signaling room: `new Call(client, 'call:lobby', { localStream })`, `join()`, `leave()`. */
export declare class Call {
  constructor(client: Client, room: string, options?: Partial<CallOptions>);
  readonly client: Client;
  readonly room: string;
  readonly options: Readonly<CallOptions>;
  readonly state: CallState;
  /** Peers by member client id. */
  readonly peers: ReadonlyMap<string, CallPeer>;
  join(): Promise<void>;
  leave(): void;
  on<K extends keyof CallEvents>(event: K, listener: (arg: CallEvents[K]) => void): () => void;
  once<K extends keyof CallEvents>(event: K, listener: (arg: CallEvents[K]) => void): () => void;
  off<K extends keyof CallEvents>(event: K, listener: (arg: CallEvents[K]) => void): void;
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
