/**
 * Wire codes. Two vocabularies, as in docs/protocol.md:
 * - reply errors (`{"t":"err","code":...}`) answer one command; the connection stays open;
 * - disconnects (`{"t":"disconnect","code":...}` then a WebSocket close with the same code) end it.
 *   The range of a disconnect code says what the client does next:
 *   3000–3499: reconnect (with backoff, or after the server-advised `delay`);
 *   3500–3999: terminal — do not reconnect without a change (new token, new code, user action).
 */

/** Reply error codes. `temporary: true` means the same command may succeed if retried later. */
export const ErrorCode = {
  internal: { code: 100, message: 'internal server error', temporary: true },
  unauthorized: { code: 101, message: 'unauthorized', temporary: false },
  unknownChannel: { code: 102, message: 'unknown channel namespace', temporary: false },
  permissionDenied: { code: 103, message: 'permission denied', temporary: false },
  unknownFrame: { code: 104, message: 'unknown frame type', temporary: false },
  alreadySubscribed: { code: 105, message: 'already subscribed', temporary: false },
  limitExceeded: { code: 106, message: 'limit exceeded', temporary: false },
  badRequest: { code: 107, message: 'bad request', temporary: false },
  notAvailable: { code: 108, message: 'not available', temporary: false },
  tokenExpired: { code: 109, message: 'token expired', temporary: false },
  notSubscribed: { code: 110, message: 'not subscribed', temporary: false },
  tooManyRequests: { code: 111, message: 'too many requests', temporary: true },
  invalidChannel: { code: 112, message: 'invalid channel name', temporary: false },
  alreadyConnected: { code: 113, message: 'already connected', temporary: false },
  brokerUnavailable: { code: 114, message: 'broker unavailable', temporary: true },
} as const;

export type ErrorName = keyof typeof ErrorCode;

/** Disconnect codes; also used as WebSocket close codes (RFC 6455 §7.4.2 reserves 3000–3999 for libraries). */
export const DisconnectCode = {
  // 3000–3499: reconnect
  connectionClosed: { code: 3000, reason: 'connection closed', reconnect: true },
  shutdown: { code: 3001, reason: 'node shutting down', reconnect: true },
  serverError: { code: 3002, reason: 'internal server error', reconnect: true },
  expired: { code: 3003, reason: 'token expired', reconnect: true },
  slow: { code: 3004, reason: 'slow consumer', reconnect: true },
  noPong: { code: 3005, reason: 'no pong', reconnect: true },
  reconnectRequested: { code: 3006, reason: 'reconnect requested', reconnect: true },
  tooManyRequests: { code: 3007, reason: 'too many requests', reconnect: true },
  writeError: { code: 3008, reason: 'write error', reconnect: true },
  insufficientState: { code: 3009, reason: 'insufficient state', reconnect: true },
  // 3500–3999: terminal
  invalidToken: { code: 3500, reason: 'invalid token', reconnect: false },
  badRequest: { code: 3501, reason: 'bad request', reconnect: false },
  stale: { code: 3502, reason: 'stale: no connect frame in time', reconnect: false },
  forceNoReconnect: { code: 3503, reason: 'disconnected by server', reconnect: false },
  messageTooLarge: { code: 3504, reason: 'message too large', reconnect: false },
  connectionLimit: { code: 3505, reason: 'connection limit', reconnect: false },
  unsupportedProtocol: { code: 3506, reason: 'unsupported protocol', reconnect: false },
  permissionDenied: { code: 3507, reason: 'permission denied', reconnect: false },
} as const;

export type DisconnectName = keyof typeof DisconnectCode;

/** Whether a client should reconnect after a disconnect with this code. */
export function shouldReconnect(code: number): boolean {
  if (code >= 3000 && code < 3500) return true;
  if (code >= 3500 && code < 4000) return false;
  if (code >= 4000 && code < 4500) return true; // application range, reconnect half
  if (code >= 4500 && code < 5000) return false;
  // RFC 6455 §7.4.1 protocol error, invalid payload, message too big: the server closed because
  // what this client sent broke WebSocket itself. Resending it would break it again, so these are
  // terminal like their application-level counterparts 3501 (bad request) and 3504 (too large).
  if (code === 1002 || code === 1007 || code === 1009) return false;
  // Other transport-level closes (1000–2999: network drop, going away, abnormal) reconnect.
  return true;
}

/** A disconnect as carried on the wire: code, human reason, whether to reconnect, advised delay. */
export interface Disconnect {
  code: number;
  reason: string;
  reconnect: boolean;
  /** Server-advised minimum delay before reconnecting, in ms (spreads reconnect storms). */
  delay?: number;
}

export function disconnect(name: DisconnectName, extra?: { reason?: string; delay?: number }): Disconnect {
  const d = DisconnectCode[name];
  const out: Disconnect = { code: d.code, reason: extra?.reason ?? d.reason, reconnect: d.reconnect };
  if (extra?.delay !== undefined) out.delay = extra.delay;
  return out;
}
