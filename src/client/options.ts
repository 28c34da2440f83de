/**
 * Client options: one {@link resolveClientOptions} merges defaults, rejects unknown keys and names
 * the bad field.
 */
import type { Clock } from '../util/clock.ts';
import { platformClock } from './clock.ts';
import { ClientError } from './errors.ts';
import type { TransportMemory } from './transport-memory.ts';
import type { EventSourceConstructor, FetchLike, TransportFactory, WebSocketConstructor } from './transport.ts';
import { isTransportSpec, type TransportSpec } from './transports.ts';

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
  /** Wait for a command's reply (and for `connect` on a freshly opened transport), ms. @default 10000 */
  timeout: number;
  /**
   * Time a transport has to open, ms. This is what detects a WebSocket upgrade that a proxy or
   * firewall blocks by never answering: past it the next transport is tried. @default 5000
   */
  openTimeout: number;
  /** Refresh the token this long before its `ttl` runs out (at most half the ttl), ms. @default 10000 */
  refreshBefore: number;
  /** Publishes queued while not connected; one more is rejected. @default 1000 */
  maxOfflineQueue: number;
  /**
   * Give every publish an idempotency key (unless the app passes one), so a publish whose ack was
   * lost with the connection is resent safely. Without keys such a publish rejects with
   * ConnectionLostError (outcome unknown). The server stores each key for its idempotency TTL and
   * allows a connection `maxIdempotencyKeys` of them per TTL (default 10,000 per 300 s, about 33
   * keyed publishes/s sustained); a faster publisher turns this off. @default true
   */
  idempotencyKeys: boolean;
  /** Times a publish refused with a temporary error (111, 114, 100) is retried. @default 5 */
  publishRetries: number;
  /** Largest message the client sends; a bigger command is rejected locally. @default 65536 */
  maxMessageBytes: number;
  /** WebSocket constructor. @default globalThis.WebSocket, else the `ws` package */
  websocket: WebSocketConstructor | undefined;
  /** `fetch` for the HTTP transports (SSE, polling). @default globalThis.fetch */
  fetch: FetchLike | undefined;
  /**
   * EventSource constructor for SSE; `null` reads the stream with `fetch` instead (what Node does,
   * having no EventSource). @default globalThis.EventSource, else fetch streaming
   */
  eventSource: EventSourceConstructor | null | undefined;
  /**
   * Transports tried in order on each connection attempt: names (`'websocket'`, `'sse'`, `'poll'`)
   * or factories. One entry forces that transport. See also `client.setTransports()`.
   * @default ['websocket', 'sse', 'poll']
   */
  transports: readonly TransportSpec[];
  /**
   * How long the transport that worked is remembered for the node (localStorage in browsers,
   * memory in Node), so the next connection starts with it; 0 turns it off, ms. @default 3600000
   */
  rememberTransport: number;
  /** Where the working transport is remembered. @default localStorage, else process memory */
  transportMemory: TransportMemory | undefined;
  /** While on a fallback, probe the preferred transports in the background and upgrade. @default true */
  upgrade: boolean;
  /** First probe this long after connecting on a fallback; doubles (with jitter) after each failed probe, ms. @default 5000 */
  upgradeMinDelay: number;
  /** Longest wait between probes, ms. @default 300000 */
  upgradeMaxDelay: number;
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
    openTimeout: 5000,
    refreshBefore: 10000,
    maxOfflineQueue: 1000,
    idempotencyKeys: true,
    publishRetries: 5,
    maxMessageBytes: 65536,
    websocket: undefined,
    fetch: undefined,
    eventSource: undefined,
    transports: ['websocket', 'sse', 'poll'],
    rememberTransport: 3_600_000,
    transportMemory: undefined,
    upgrade: true,
    upgradeMinDelay: 5000,
    upgradeMaxDelay: 300_000,
    clock: platformClock,
    random: Math.random,
  };
}

const NUMBERS = [
  'minDelay',
  'maxDelay',
  'timeout',
  'openTimeout',
  'refreshBefore',
  'maxOfflineQueue',
  'publishRetries',
  'maxMessageBytes',
  'rememberTransport',
  'upgradeMinDelay',
  'upgradeMaxDelay',
] as const;

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
  if (!Array.isArray(out.transports) || out.transports.length === 0) throw new ClientError('client option "transports" must be a non-empty array of transport names or factories');
  for (const t of out.transports) {
    if (!isTransportSpec(t)) throw new ClientError(`client option "transports": ${JSON.stringify(t)} is not 'websocket', 'sse', 'poll' or a transport factory`);
  }
  if (out.upgradeMaxDelay < out.upgradeMinDelay) throw new ClientError('client option "upgradeMaxDelay" must be >= "upgradeMinDelay"');
  if (typeof out.name !== 'string' || typeof out.version !== 'string') throw new ClientError('client options "name" and "version" must be strings');
  return out;
}
