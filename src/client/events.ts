/**
 * The Client's state names, events and the disconnect codes the client itself decides on.
 */
import type { SignalEvent } from './signal.ts';
import type { GapEvent, Publication } from './subscription.ts';

export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'closed';

/**
 * Disconnect codes the CLIENT decides on (0–999, below every wire code). Wire codes (3000–3999)
 * and WebSocket close codes (1000–2999) are passed through unchanged.
 */
export const LocalDisconnect = {
  /** `disconnect()` or `close()` was called. */
  disconnectCalled: { code: 0, reason: 'disconnect called', reconnect: false },
  /** Nothing arrived for `ping + pong` seconds: the server or the network is gone. */
  noPing: { code: 1, reason: 'no ping from server', reconnect: true },
  /** No transport could be opened. */
  transportFailed: { code: 2, reason: 'transport failed to open', reconnect: true },
  /** The server sent bytes or a frame that break the protocol. */
  badProtocol: { code: 3, reason: 'bad protocol from server', reconnect: true },
  /** The connect command failed (timeout, temporary error, token fetch failure). */
  connectFailed: { code: 4, reason: 'connect failed', reconnect: true },
  /** `getToken` threw UnauthorizedError, or the server refused the token. */
  unauthorized: { code: 5, reason: 'unauthorized', reconnect: false },
  /** A subscribe got no reply in time. */
  subscribeTimeout: { code: 6, reason: 'subscribe timeout', reconnect: true },
} as const;

export interface StateEvent {
  state: ClientState;
  previous: ClientState;
}
export interface ConnectedEvent {
  /** This connection's id (also `client.id`). */
  client: string;
  node: string;
  /** Name of the transport in use, e.g. `websocket`. */
  transport: string;
}
export interface DisconnectedEvent {
  code: number;
  reason: string;
  /** Whether the client will reconnect on its own. */
  reconnect: boolean;
}
/** The transport changed: a new connection, or an upgrade/forced switch of a live one. */
export interface TransportEvent {
  /** The transport now in use. */
  transport: string;
  /** The one it replaced (upgrades only). */
  previous: string | undefined;
  /** True when a live connection moved to another transport without a disconnect. */
  upgrade: boolean;
}
export interface ClientErrorEvent {
  /** `transport`: no transport could connect; `error` is a TransportError naming each one and why. */
  type: 'transport' | 'connect' | 'token' | 'refresh' | 'subscribe' | 'protocol' | 'callback';
  error: Error;
  channel?: string;
}

export interface ClientEvents {
  [event: string]: unknown;
  state: StateEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  /** The transport in use changed (after `connected`, and on each upgrade). */
  transport: TransportEvent;
  error: ClientErrorEvent;
  /** Every publication of every subscription. */
  publication: Publication;
  /** Every gap of every subscription. */
  gap: GapEvent;
  /** Every WebRTC signal from another member of a room this client is in (after the room's `onSignal`). */
  signal: SignalEvent;
}

/** A disconnect as the Client handles it (wire frame, WebSocket close, or local decision). */
export interface Disconnect {
  code: number;
  reason: string;
  reconnect: boolean;
  /** Server-advised minimum delay before reconnecting, ms. */
  delay?: number;
}
