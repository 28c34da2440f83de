/**
 * The built-in transports by name, and the pure parts of negotiation: the order transports are
 * tried in (the remembered one first), which ones an upgrade probe tries, and the error that names
 * every transport that failed.
 */
import { ClientError } from './errors.ts';
import { pollTransport } from './transport-poll.ts';
import { sseTransport } from './transport-sse.ts';
import { websocketTransport } from './transport-websocket.ts';
import type { TransportFactory } from './transport.ts';

/** Names of the built-in transports. */
export type TransportName = 'websocket' | 'sse' | 'poll';

/** A transport in `options.transports`: a built-in name or a factory. */
export type TransportSpec = TransportName | TransportFactory;

/** The built-in factories. */
export const builtinTransports: Readonly<Record<TransportName, TransportFactory>> = Object.freeze({
  websocket: websocketTransport,
  sse: sseTransport,
  poll: pollTransport,
});

/** Whether `v` is a built-in name or looks like a factory. */
export function isTransportSpec(v: unknown): v is TransportSpec {
  if (typeof v === 'string') return Object.hasOwn(builtinTransports, v);
  return typeof v === 'object' && v !== null && typeof (v as TransportFactory).name === 'string' && typeof (v as TransportFactory).create === 'function';
}

/** Factories for a transport list (names resolved). */
export function toFactories(specs: readonly TransportSpec[]): TransportFactory[] {
  return specs.map((s) => (typeof s === 'string' ? builtinTransports[s] : s));
}

/**
 * The order for one connection attempt: the remembered transport first (when it is in the list),
 * then the others in list order. Remembering a fallback means a page on a network that blocks
 * WebSocket does not wait `openTimeout` on every load; the upgrade probe finds out when WebSocket
 * works again.
 */
export function attemptOrder(list: readonly TransportFactory[], remembered: string | undefined): TransportFactory[] {
  const i = remembered === undefined ? -1 : list.findIndex((f) => f.name === remembered);
  if (i <= 0) return [...list];
  return [list[i]!, ...list.slice(0, i), ...list.slice(i + 1)];
}

/** The transports preferred over `current` (those before it in the list), most preferred first. */
export function upgradeCandidates(list: readonly TransportFactory[], current: string): TransportFactory[] {
  const i = list.findIndex((f) => f.name === current);
  return i <= 0 ? [] : list.slice(0, i);
}

/** One transport's failure in a negotiation. */
export interface TransportFailure {
  transport: string;
  error: Error;
}

/**
 * No transport could connect. `failures` names each one tried and why, in order, e.g.
 * `websocket: no open within 5000 ms; sse: GET: HTTP 403 origin not allowed; poll: …`.
 */
export class TransportError extends ClientError {
  override readonly name = 'TransportError';
  readonly failures: readonly TransportFailure[];

  constructor(url: string, failures: TransportFailure[]) {
    super(`no transport could connect to ${url}: ${failures.map((f) => `${f.transport}: ${f.error.message}`).join('; ')}`, { cause: failures[0]?.error });
    this.failures = failures;
  }
}
