/**
 * Frame shapes of the Switchboard wire protocol (docs/protocol.md is the normative text).
 * Pure: no Node imports, shared by server and client.
 */
import { ProtocolError } from './errors.ts';

/** A position in a channel's stream. `epoch` changes when the stream is reset (history lost). */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Who published or joined. */
export interface ClientInfo {
  user: string;
  client: string;
  /** Connection-level info from the token's `info` claim, if any. */
  info?: unknown;
}

// ---- client → server -------------------------------------------------------------------------

export interface ConnectCommand {
  t: 'connect';
  id: number;
  token?: string;
  name?: string;
  version?: string;
}
export interface SubscribeCommand {
  t: 'sub';
  id: number;
  ch: string;
  recover?: StreamPosition;
}
export interface UnsubscribeCommand {
  t: 'unsub';
  id: number;
  ch: string;
}
export interface PublishCommand {
  t: 'pub';
  id: number;
  ch: string;
  data: unknown;
  /** Idempotency key: a retried publish with the same key is acknowledged with the first position. */
  key?: string;
}
export interface PresenceCommand {
  t: 'presence';
  id: number;
  ch: string;
  /** Members per page (the server caps it; docs/protocol.md "presence"). */
  limit?: number;
  /** From the previous page's reply. */
  cursor?: string;
}
export interface PresenceStatsCommand {
  t: 'presence_stats';
  id: number;
  ch: string;
}
export interface HistoryCommand {
  t: 'history';
  id: number;
  ch: string;
  limit?: number;
  since?: StreamPosition;
  reverse?: boolean;
}
export interface RefreshCommand {
  t: 'refresh';
  id: number;
  token: string;
}
/** WebRTC signaling: relay `data` to client `to`, a member of room `ch` (see docs/protocol.md "Signaling"). */
export interface SignalCommand {
  t: 'signal';
  id: number;
  ch: string;
  to: string;
  data: unknown;
}
export interface PongCommand {
  t: 'pong';
}
/** A frame type this server does not know, but with an id so it can be answered with error 104. */
export interface UnknownCommand {
  t: 'unknown';
  id: number;
  type: string;
}

export type Command =
  | ConnectCommand
  | SubscribeCommand
  | UnsubscribeCommand
  | PublishCommand
  | PresenceCommand
  | PresenceStatsCommand
  | HistoryCommand
  | RefreshCommand
  | SignalCommand
  | PongCommand
  | UnknownCommand;

// ---- server → client -------------------------------------------------------------------------

/** A publication as carried in history and recovery lists (channel and epoch are implied). */
export interface PublicationData {
  data: unknown;
  o: number;
  info?: ClientInfo;
}

export interface PubPush extends PublicationData {
  t: 'pub';
  ch: string;
  e: string;
  /**
   * Sent unreliably (a WebTransport datagram, `datagrams: true` namespaces): publications missing
   * before it were lost on the way, not skipped by the server; the client reports them as a `gap`
   * and does not re-fetch them.
   */
  u?: true;
}
export interface JoinPush {
  t: 'join' | 'leave';
  ch: string;
  info: ClientInfo;
}
/** Publications `from..to` (inclusive) of `ch` were not delivered (conflated or dropped); fetch them from history. */
export interface GapPush {
  t: 'gap';
  ch: string;
  e: string;
  from: number;
  to: number;
}
/** The server ended a subscription. `resubscribe: true` asks the client to subscribe again (with recovery). */
export interface UnsubPush {
  t: 'unsub';
  ch: string;
  code: number;
  reason: string;
  resubscribe: boolean;
}
/** A signal from another member of room `ch`. */
export interface SignalPush {
  t: 'signal';
  ch: string;
  from: ClientInfo;
  data: unknown;
}
export interface PingPush {
  t: 'ping';
}
export interface DisconnectPush {
  t: 'disconnect';
  code: number;
  reason: string;
  reconnect: boolean;
  delay?: number;
}
export interface OkReply {
  t: 'ok';
  id: number;
  [field: string]: unknown;
}
export interface ErrReply {
  t: 'err';
  id: number;
  code: number;
  message: string;
  temporary: boolean;
}

export type ServerFrame = PubPush | JoinPush | GapPush | UnsubPush | SignalPush | PingPush | DisconnectPush | OkReply | ErrReply;

// ---- validation ------------------------------------------------------------------------------

/** Limits applied while validating a decoded frame. */
export interface FrameLimits {
  /** Longest accepted string field (channel, token, key, name). */
  maxStringLength: number;
}

export const defaultFrameLimits: FrameLimits = { maxStringLength: 8192 };

/**
 * Longest idempotency key, in UTF-8 bytes. A key is stored beside the channel for
 * `idempotencyTtl` (minutes), so its size is bounded well below the other strings' (issue 11 C3);
 * 128 fits a UUID or a client prefix plus a sequence number with room to spare.
 */
export const MAX_IDEMPOTENCY_KEY_BYTES = 128;

/** UTF-8 length of a string, without encoding it (lone surrogates count 3, as TextEncoder's U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Whether `key` is a valid idempotency key: 1 to MAX_IDEMPOTENCY_KEY_BYTES UTF-8 bytes. */
export function validIdempotencyKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_IDEMPOTENCY_KEY_BYTES && utf8Length(key) <= MAX_IDEMPOTENCY_KEY_BYTES;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, k: string, limits: FrameLimits, required: true): string;
function str(o: Record<string, unknown>, k: string, limits: FrameLimits, required: false): string | undefined;
function str(o: Record<string, unknown>, k: string, limits: FrameLimits, required: boolean): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) {
    if (required) throw new ProtocolError(`field "${k}" is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new ProtocolError(`field "${k}" must be a string`);
  if (v.length > limits.maxStringLength) throw new ProtocolError(`field "${k}" is longer than ${limits.maxStringLength}`);
  return v;
}

function id(o: Record<string, unknown>): number {
  const v = o.id;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new ProtocolError('field "id" must be a positive integer');
  }
  return v;
}

function position(v: unknown, field: string, limits: FrameLimits): StreamPosition | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new ProtocolError(`field "${field}" must be an object {epoch, offset}`);
  const offset = v.offset;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new ProtocolError(`field "${field}.offset" must be a non-negative integer`);
  }
  const epoch = str(v, 'epoch', limits, true);
  return { offset: offset + 0, epoch }; // + 0 turns -0 into 0
}

/**
 * Checks that a decoded value is a valid client command and returns it typed. Unknown fields are
 * ignored (forward compatibility); a wrong type or a missing required field throws ProtocolError.
 * A frame whose `t` is unknown but which carries a valid `id` comes back as `{t: 'unknown'}` so
 * the server can answer error 104 and keep the connection.
 */
export function validateCommand(v: unknown, limits: FrameLimits = defaultFrameLimits): Command {
  if (!isObject(v)) throw new ProtocolError('frame must be an object');
  const t = v.t;
  if (typeof t !== 'string') throw new ProtocolError('field "t" (frame type) must be a string');
  switch (t) {
    case 'pong':
      return { t: 'pong' };
    case 'connect': {
      const c: ConnectCommand = { t, id: id(v) };
      const token = str(v, 'token', limits, false);
      const name = str(v, 'name', limits, false);
      const version = str(v, 'version', limits, false);
      if (token !== undefined) c.token = token;
      if (name !== undefined) c.name = name;
      if (version !== undefined) c.version = version;
      return c;
    }
    case 'sub': {
      const c: SubscribeCommand = { t, id: id(v), ch: str(v, 'ch', limits, true) };
      const recover = position(v.recover, 'recover', limits);
      if (recover) c.recover = recover;
      return c;
    }
    case 'unsub':
      return { t, id: id(v), ch: str(v, 'ch', limits, true) };
    case 'pub': {
      if (!('data' in v) || v.data === undefined) throw new ProtocolError('field "data" is required');
      const c: PublishCommand = { t, id: id(v), ch: str(v, 'ch', limits, true), data: v.data };
      const key = str(v, 'key', limits, false);
      if (key !== undefined) {
        if (!validIdempotencyKey(key)) throw new ProtocolError(`field "key" must be 1 to ${MAX_IDEMPOTENCY_KEY_BYTES} bytes (UTF-8)`);
        c.key = key;
      }
      return c;
    }
    case 'presence': {
      const c: PresenceCommand = { t, id: id(v), ch: str(v, 'ch', limits, true) };
      if (v.limit !== undefined && v.limit !== null) {
        if (typeof v.limit !== 'number' || !Number.isSafeInteger(v.limit) || v.limit < 1) {
          throw new ProtocolError('field "limit" must be a positive integer');
        }
        c.limit = v.limit;
      }
      const cursor = str(v, 'cursor', limits, false);
      if (cursor !== undefined) c.cursor = cursor;
      return c;
    }
    case 'presence_stats':
      return { t, id: id(v), ch: str(v, 'ch', limits, true) };
    case 'history': {
      const c: HistoryCommand = { t, id: id(v), ch: str(v, 'ch', limits, true) };
      if (v.limit !== undefined && v.limit !== null) {
        if (typeof v.limit !== 'number' || !Number.isSafeInteger(v.limit) || v.limit < 0) {
          throw new ProtocolError('field "limit" must be a non-negative integer');
        }
        c.limit = v.limit + 0; // -0 → 0
      }
      const since = position(v.since, 'since', limits);
      if (since) c.since = since;
      if (v.reverse !== undefined && v.reverse !== null) {
        if (typeof v.reverse !== 'boolean') throw new ProtocolError('field "reverse" must be a boolean');
        c.reverse = v.reverse;
      }
      return c;
    }
    case 'refresh':
      return { t, id: id(v), token: str(v, 'token', limits, true) };
    case 'signal': {
      if (!('data' in v) || v.data === undefined) throw new ProtocolError('field "data" is required');
      return { t, id: id(v), ch: str(v, 'ch', limits, true), to: str(v, 'to', limits, true), data: v.data };
    }
    default:
      if (t.length > 64) throw new ProtocolError('unknown frame type');
      return { t: 'unknown', id: id(v), type: t };
  }
}
