/**
 * Options of the HTTP transports (SSE and long polling). Kept apart from `NodeOptions` until the
 * node wires them in; `resolveHttpTransportOptions()` follows the same rules as `resolveOptions()`:
 * defaults merged, unknown keys rejected, the bad field named.
 */
import { ConfigError } from '../../util/errors.ts';

export interface HttpTransportOptions {
  /**
   * Seconds a session survives without an open SSE stream (SSE) or a held poll (polling). Past it
   * the session is closed as if its transport had closed (presence and subscriptions released).
   * @default 30
   */
  absenceTimeout: number;
  /** Seconds of silence on an SSE stream before a comment line `:` is written (proxies close idle streams). @default 15 */
  sseKeepalive: number;
  /** SSE: most already-written events kept per session for `Last-Event-ID` resume. @default 256 */
  sseRetainEvents: number;
  /** SSE: most bytes of already-written events kept per session for resume. @default 262144 */
  sseRetainBytes: number;
  /** Polling: seconds a poll is held when there is nothing to send. @default 25 */
  pollTimeout: number;
  /** POSTs of one session waiting their turn (they are processed one at a time, and not while the session is paused) before 429. @default 8 */
  maxQueuedPosts: number;
  /** Ended session keys remembered, so a late request gets 410 (with the disconnect) rather than 404. @default 10000 */
  endedKeys: number;
  /** Seconds an ended session key is remembered. @default 300 */
  endedKeyTtl: number;
  /**
   * Sessions created by a GET that have not completed `connect` yet (SSE and polling together).
   * Past it new ones get 503. They do not count against `maxConnections`. @default 1024
   */
  maxPendingSessions: number;
  /** Seconds a created session has to complete `connect`; then it is closed `3502 stale`. @default 5 */
  pendingTimeout: number;
  /**
   * New sessions per second per remote address (token bucket; past it 429). 0 = no limit — set it
   * so behind a load balancer, where every client has the balancer's address. @default 20
   */
  sessionRate: number;
  /** Token bucket depth for `sessionRate`. @default 100 */
  sessionBurst: number;
}

export function defaultHttpTransportOptions(): HttpTransportOptions {
  return {
    absenceTimeout: 30,
    sseKeepalive: 15,
    sseRetainEvents: 256,
    sseRetainBytes: 256 * 1024,
    pollTimeout: 25,
    maxQueuedPosts: 8,
    endedKeys: 10_000,
    endedKeyTtl: 300,
    maxPendingSessions: 1024,
    pendingTimeout: 5,
    sessionRate: 20,
    sessionBurst: 100,
  };
}

/** Merges `input` over `base` (the defaults when absent). Throws ConfigError naming the first bad field. */
export function resolveHttpTransportOptions(input: Partial<HttpTransportOptions> = {}, base: HttpTransportOptions = defaultHttpTransportOptions()): HttpTransportOptions {
  if (typeof input !== 'object' || input === null) throw new ConfigError('transport options must be an object');
  const out = { ...base };
  for (const [k, v] of Object.entries(input)) {
    if (!(k in base)) throw new ConfigError(`unknown option "${k}"`);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`option "${k}" must be a non-negative number, got ${JSON.stringify(v)}`);
    out[k as keyof HttpTransportOptions] = v;
  }
  if (out.absenceTimeout <= 0) throw new ConfigError('option "absenceTimeout" must be > 0');
  if (out.pollTimeout <= 0) throw new ConfigError('option "pollTimeout" must be > 0');
  if (out.sseKeepalive <= 0) throw new ConfigError('option "sseKeepalive" must be > 0');
  if (out.maxQueuedPosts < 1) throw new ConfigError('option "maxQueuedPosts" must be >= 1');
  if (out.pendingTimeout <= 0) throw new ConfigError('option "pendingTimeout" must be > 0');
  return out;
}
