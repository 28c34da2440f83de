/**
 * Client options: one {@link resolveClientOptions} merges defaults, rejects unknown keys and names
 * the bad field.
 */
import type { Clock } from '../util/clock.ts';
import { platformClock } from './clock.ts';
import { ClientError } from './errors.ts';
import type { TransportFactory, WebSocketConstructor } from './transport.ts';
import { websocketTransport } from './transport-websocket.ts';

export interface ClientOptions {
  /** Wire codec; sent as the WebSocket subprotocol `switchboard.<format>`. @default 'json' */
  format: 'json' | 'msgpack';
  /** Connection token (JWT). @default undefined (anonymous, unless getToken gives one) */
  token: string | undefined;
  /**
   * Fetches a fresh token: called when there is none, when the server says it expired (error 109,
   * disconnect 3003) and shortly before its `ttl` runs out. Single flight. Throw
   * `UnauthorizedError` to stop reconnecting. @default undefined
   */
  getToken: (() => Promise<string>) | undefined;
  /** Client name sent in `connect`. @default 'switchboard-js' */
  name: string;
  /** Client version sent in `connect`. @default '' (not sent) */
  version: string;
  /** Reconnect backoff: upper bound of the first jitter window, ms. @default 500 */
  minDelay: number;
  /** Reconnect backoff: largest jitter window, ms. @default 20000 */
  maxDelay: number;
  /** Wait for a command's reply (and for a transport to open), ms. @default 10000 */
  timeout: number;
  /** Refresh the token this long before its `ttl` runs out (at most half the ttl), ms. @default 10000 */
  refreshBefore: number;
  /** Publishes queued while not connected; one more is rejected. @default 1000 */
  maxOfflineQueue: number;
  /**
   * Give every publish an idempotency key (unless the app passes one), so a publish whose ack was
   * lost with the connection is resent safely. Without keys such a publish rejects with
   * ConnectionLostError (outcome unknown). @default true
   */
  idempotencyKeys: boolean;
  /** Times a publish refused with a temporary error (111, 114, 100) is retried. @default 5 */
  publishRetries: number;
  /** Largest message the client sends; a bigger command is rejected locally. @default 65536 */
  maxMessageBytes: number;
  /** WebSocket constructor. @default globalThis.WebSocket, else the `ws` package */
  websocket: WebSocketConstructor | undefined;
  /** Transport factories tried in order on each connection attempt. @default [websocketTransport] */
  transports: readonly TransportFactory[];
  /** Time source for every timer. @default platformClock */
  clock: Clock;
  /** Uniform random source in [0, 1) for jitter. @default Math.random */
  random: () => number;
}

export function defaultClientOptions(): ClientOptions {
  return {
    format: 'json',
    token: undefined,
    getToken: undefined,
    name: 'switchboard-js',
    version: '',
    minDelay: 500,
    maxDelay: 20000,
    timeout: 10000,
    refreshBefore: 10000,
    maxOfflineQueue: 1000,
    idempotencyKeys: true,
    publishRetries: 5,
    maxMessageBytes: 65536,
    websocket: undefined,
    transports: [websocketTransport],
    clock: platformClock,
    random: Math.random,
  };
}

const NUMBERS = ['minDelay', 'maxDelay', 'timeout', 'refreshBefore', 'maxOfflineQueue', 'publishRetries', 'maxMessageBytes'] as const;

/** Merges `input` over the defaults. Throws ClientError naming the first bad field. Does not mutate `input`. */
export function resolveClientOptions(input: Partial<ClientOptions> = {}): ClientOptions {
  if (typeof input !== 'object' || input === null) throw new ClientError('client options must be an object');
  const out = defaultClientOptions();
  for (const [k, v] of Object.entries(input)) {
    if (!(k in out)) throw new ClientError(`unknown client option "${k}"`);
    if (v === undefined) continue;
    (out as unknown as Record<string, unknown>)[k] = v;
  }
  if (out.format !== 'json' && out.format !== 'msgpack') throw new ClientError(`client option "format" must be 'json' or 'msgpack', got ${JSON.stringify(out.format)}`);
  for (const k of NUMBERS) {
    const v = out[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ClientError(`client option "${k}" must be a non-negative number, got ${String(v)}`);
  }
  if (out.maxDelay < out.minDelay) throw new ClientError('client option "maxDelay" must be >= "minDelay"');
  if (out.token !== undefined && typeof out.token !== 'string') throw new ClientError('client option "token" must be a string');
  if (out.getToken !== undefined && typeof out.getToken !== 'function') throw new ClientError('client option "getToken" must be a function');
  if (!Array.isArray(out.transports) || out.transports.length === 0) throw new ClientError('client option "transports" must be a non-empty array of factories');
  if (typeof out.name !== 'string' || typeof out.version !== 'string') throw new ClientError('client options "name" and "version" must be strings');
  return out;
}
