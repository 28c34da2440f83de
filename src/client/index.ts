/**
 * Switchboard client SDK (browser + Node): `import { Client } from 'switchboard-rt/client'`.
 * See docs/client.md.
 */
export { Client, LocalDisconnect } from './client.ts';
export type { ClientState, ClientEvents, ConnectedEvent, DisconnectedEvent, StateEvent, ClientErrorEvent, TransportEvent } from './client.ts';
export { Subscription } from './subscription.ts';
export { Call, resolveCallOptions } from './call.ts';
export type { CallOptions, CallState, CallEvents, CallPeerEvent, CallTrackEvent, CallConnectionStateEvent, CallPeerLeftEvent, CallErrorEvent, PeerLeftReason } from './call.ts';
export { CallPeer } from './peer.ts';
export { SfuCall } from './sfu-call.ts';
export type { SfuCallOptions, SfuCallState, SfuCallEvents, SfuRemoteTrackEvent } from './sfu-call.ts';
export type { SfuTrackInfo } from '../protocol/sfu-contract.ts';
export type { MissingDomType, PeerConnection, PeerConfiguration, PeerConnectionState, MediaStreamLike, MediaTrack } from './dom-types.ts';
export { PerfectNegotiation, isPolite } from './negotiation.ts';
export type { NegotiationTarget, NegotiationStats, NegotiationHooks, NegotiationOptions } from './negotiation.ts';
export { parseSignalData, parseIceServers } from './signal.ts';
export type { IceServer, IceCandidateData, SignalData, SignalEvent } from './signal.ts';
export type {
  SubscriptionOptions,
  SubscriptionState,
  Publication,
  GapEvent,
  SubscribedEvent,
  UnsubscribedEvent,
  HistoryOptions,
  HistoryResult,
  PresencePage,
} from './subscription.ts';
export type { Gap, GapReason } from './position.ts';
export { StreamTracker } from './position.ts';
export { resolveClientOptions, defaultClientOptions } from './options.ts';
export type { ClientOptions } from './options.ts';
export { backoffDelay, backoffCap } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
export { TokenManager } from './token.ts';
export type { TokenState, TokenManagerOptions } from './token.ts';
export { OfflineQueue } from './offline-queue.ts';
export { websocketTransport, resolveWebSocket } from './transport-websocket.ts';
export { sseTransport } from './transport-sse.ts';
export { pollTransport } from './transport-poll.ts';
export { builtinTransports, TransportError, attemptOrder, upgradeCandidates } from './transports.ts';
export type { TransportName, TransportSpec, TransportFailure } from './transports.ts';
export { defaultTransportMemory } from './transport-memory.ts';
export type { TransportMemory } from './transport-memory.ts';
export { endpointUrl } from './endpoint.ts';
export { SseParser } from './sse-parser.ts';
export type { SseEvent } from './sse-parser.ts';
export type {
  ClientTransport,
  TransportFactory,
  TransportContext,
  TransportEvents,
  TransportClose,
  WebSocketLike,
  WebSocketConstructor,
  FetchLike,
  EventSourceLike,
  EventSourceConstructor,
} from './transport.ts';
export {
  ClientError,
  ServerError,
  TimeoutError,
  ConnectionLostError,
  NotConnectedError,
  OfflineQueueFullError,
  ClientClosedError,
  MessageTooLargeError,
  UnauthorizedError,
  UnsubscribedError,
} from './errors.ts';
export { platformClock } from './clock.ts';
export type { StreamPosition, ClientInfo } from '../protocol/frames.ts';
