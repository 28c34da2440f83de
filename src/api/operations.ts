/**
 * The server API's operations (publish, broadcast, presence, presence_stats, history, disconnect,
 * connections, channels, info), their validation and the API-key check, shared by the HTTP API
 * (http.ts: JSON bodies) and the gRPC/Connect API (grpc.ts: protobuf messages turned into the
 * same body shape), so both accept and refuse exactly the same requests.
 */
import { log } from '../util/log.ts';
import { timingSafeEqual } from 'node:crypto';
import { ErrorCode } from '../protocol/codes.ts';
import { ReplyError } from '../protocol/errors.ts';
import { MAX_IDEMPOTENCY_KEY_BYTES, validIdempotencyKey, type StreamPosition } from '../protocol/frames.ts';
import { mustAuthorize, SERVER_API } from '../server/authorize.ts';
import { BadCursorError, type Publication } from '../broker/broker.ts';
import { PartialDisconnectError, type NodeCore } from '../server/core.ts';
import type { SfuRecordings } from '../webrtc/sfu/options.ts';

/**
 * A refused API call. `status` is the HTTP status the HTTP API answers with (and the `code` of its
 * error body); the gRPC API maps it to a status code (grpc.ts).
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A request body: a JSON object (HTTP) or a protobuf request turned into the same shape (gRPC). */
export type Body = Record<string, unknown>;

/** An operation: validates the body (ApiError 400 naming the field) and runs it. */
export type Operation = (node: NodeCore, b: Body) => Promise<unknown>;

/**
 * Checks the API key from an `Authorization` header / `authorization` metadata value
 * (`apikey KEY`). Throws ApiError 403 when the API is off (no key and not insecure), 401 when the
 * value is missing or wrong. The comparison is constant-time.
 */
export function checkApiKey(node: NodeCore, header: string | undefined, peer: ApiPeer = { api: 'http' }): void {
  const key = node.options.apiKey;
  if (!key) {
    if (node.options.insecure) return;
    log.refused('api_disabled', `${peer.api} API call refused: the server API is disabled (no apiKey)`, { ...peer });
    throw new ApiError(403, 'the server API is disabled: set apiKey (SWITCHBOARD_API_KEY)');
  }
  const m = /^apikey\s+(.+)$/i.exec(header ?? '');
  if (!m) {
    log.refused('api_key_missing', `${peer.api} API call refused: no "authorization: apikey KEY"`, { ...peer, scheme: header === undefined ? undefined : header.split(/\s/, 1)[0]!.slice(0, 20) });
    throw new ApiError(401, 'missing "Authorization: apikey KEY" header');
  }
  const given = Buffer.from(m[1]!.trim());
  const want = Buffer.from(key);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    log.refused('api_key_invalid', `${peer.api} API call refused: wrong API key`, { ...peer });
    throw new ApiError(401, 'invalid API key');
  }
}

/** Who made an API call, for the refusal logs. */
export interface ApiPeer {
  api: 'http' | 'grpc';
  ip?: string | undefined;
  method?: string;
}

/** Message of the broker-unavailable answer (error 114, temporary). */
export function brokerUnavailableMessage(node: NodeCore): string {
  return `${ErrorCode.brokerUnavailable.message}: ${node.broker.name} is not connected; retry`;
}

/**
 * Whether `method` needs the broker (every one but `info`, which reads the node's registry copy,
 * and the SFU recording methods, which act on this node's media plane only).
 */
export function needsBroker(method: string): boolean {
  return method !== 'info' && !method.startsWith('sfu_');
}

/** This node's SFU recordings, or 108 when the node runs no SFU. */
function recordings(node: NodeCore): SfuRecordings {
  const rec = (node.sfu as { recorder?: SfuRecordings } | undefined)?.recorder;
  if (!rec) throw new ReplyError('notAvailable', node.sfu ? 'this SFU does not record' : 'no SFU on this node');
  return rec;
}

/** A bounded id string (room, client, recording id). */
function id(b: Body, k: string, required: boolean, max: number): string | undefined {
  const v = required ? str(b, k, true) : str(b, k, false);
  if (v !== undefined && v.length > max) throw new ApiError(400, `field "${k}" must be at most ${max} characters`);
  return v;
}

function str(b: Body, k: string, required: true): string;
function str(b: Body, k: string, required: false): string | undefined;
function str(b: Body, k: string, required: boolean): string | undefined {
  const v = b[k];
  if (v === undefined || v === null) {
    if (required) throw new ApiError(400, `field "${k}" is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0 || v.length > 8192) throw new ApiError(400, `field "${k}" must be a non-empty string`);
  return v;
}

/** `limit` (a positive integer, capped at `max`; default `max`) and `cursor` of a paged method. */
function pageOptions(b: Body, max: number): { limit: number; cursor?: string } {
  let limit = max;
  if (b.limit !== undefined) {
    if (typeof b.limit !== 'number' || !Number.isSafeInteger(b.limit) || b.limit < 1) throw new ApiError(400, 'field "limit" must be a positive integer');
    limit = Math.min(b.limit, max);
  }
  const cursor = str(b, 'cursor', false);
  return cursor === undefined ? { limit } : { limit, cursor };
}

function int(b: Body, k: string): number | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ApiError(400, `field "${k}" must be a non-negative integer`);
  return v;
}

function known(b: Body, fields: string[]): void {
  for (const k of Object.keys(b)) if (!fields.includes(k)) throw new ApiError(400, `unknown field "${k.slice(0, 64)}"; allowed: ${fields.join(', ')}`);
}

function data(b: Body): unknown {
  if (!('data' in b) || b.data === undefined) throw new ApiError(400, 'field "data" is required');
  return b.data;
}

function position(v: unknown): StreamPosition | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, 'field "since" must be {epoch, offset}');
  const p = v as Body;
  const offset = int(p, 'offset');
  const epoch = str(p, 'epoch', true);
  if (offset === undefined) throw new ApiError(400, 'field "since.offset" is required');
  return { epoch, offset };
}

/**
 * A publication in a `history` answer: `offset` spelled out as in `publish` answers and the SDK
 * (the client wire protocol abbreviates it to `o`; the server API does not).
 */
export interface ApiPublication {
  data: unknown;
  offset: number;
  info?: Publication['info'];
}

function apiPublication(p: Publication): ApiPublication {
  return p.info ? { data: p.data, offset: p.offset, info: p.info } : { data: p.data, offset: p.offset };
}

const METHODS = {
  async publish(node, b) {
    known(b, ['channel', 'data', 'idempotencyKey']);
    const opts: { idempotencyKey?: string } = {};
    const key = str(b, 'idempotencyKey', false);
    if (key !== undefined && !validIdempotencyKey(key)) throw new ApiError(400, `field "idempotencyKey" must be 1 to ${MAX_IDEMPOTENCY_KEY_BYTES} bytes (UTF-8)`);
    if (key !== undefined) opts.idempotencyKey = key;
    return node.publish(str(b, 'channel', true), data(b), opts);
  },

  async broadcast(node, b) {
    known(b, ['channels', 'data']);
    const channels = b.channels;
    if (!Array.isArray(channels) || channels.length === 0 || channels.length > 10_000 || channels.some((c) => typeof c !== 'string')) {
      throw new ApiError(400, 'field "channels" must be a non-empty array of at most 10000 strings');
    }
    const d = data(b);
    const responses = await Promise.all(
      (channels as string[]).map(async (ch) => {
        try {
          return await node.publish(ch, d);
        } catch (err) {
          if (err instanceof ReplyError) return { error: { code: err.code, message: err.message } };
          return { error: { code: 100, message: (err as Error).message } };
        }
      }),
    );
    return { responses };
  },

  async presence(node, b) {
    known(b, ['channel', 'limit', 'cursor']);
    const ch = str(b, 'channel', true);
    const pageOpts = pageOptions(b, node.options.presencePageSize);
    mustAuthorize('presence', ch, SERVER_API, node.options);
    try {
      const page = await node.broker.presencePage(ch, pageOpts);
      return page.cursor === undefined ? { presence: page.clients } : { presence: page.clients, cursor: page.cursor };
    } catch (err) {
      if (err instanceof BadCursorError) throw new ApiError(400, err.message);
      throw err;
    }
  },

  async presence_stats(node, b) {
    known(b, ['channel']);
    const ch = str(b, 'channel', true);
    mustAuthorize('presence_stats', ch, SERVER_API, node.options);
    return node.broker.presenceStats(ch);
  },

  async history(node, b) {
    known(b, ['channel', 'limit', 'since', 'reverse']);
    const ch = str(b, 'channel', true);
    mustAuthorize('history', ch, SERVER_API, node.options);
    const opts: { limit: number; since?: StreamPosition; reverse?: boolean } = { limit: Math.min(int(b, 'limit') ?? 100, 1000) };
    const since = position(b.since);
    if (since) opts.since = since;
    if (b.reverse !== undefined) {
      if (typeof b.reverse !== 'boolean') throw new ApiError(400, 'field "reverse" must be a boolean');
      opts.reverse = b.reverse;
    }
    const h = await node.broker.history(ch, opts);
    return { epoch: h.position.epoch, offset: h.position.offset, publications: h.publications.map(apiPublication) };
  },

  async disconnect(node, b) {
    known(b, ['user', 'client', 'reconnect', 'delay', 'reason']);
    const user = b.user === undefined ? undefined : typeof b.user === 'string' ? b.user : undefined;
    if (b.user !== undefined && user === undefined) throw new ApiError(400, 'field "user" must be a string');
    const client = str(b, 'client', false);
    if (user === undefined && client === undefined) throw new ApiError(400, 'give "user" or "client"');
    if (b.reconnect !== undefined && typeof b.reconnect !== 'boolean') throw new ApiError(400, 'field "reconnect" must be a boolean');
    const opts: { reconnect?: boolean; delay?: number; reason?: string } = {};
    if (b.reconnect !== undefined) opts.reconnect = b.reconnect as boolean;
    const delay = int(b, 'delay');
    if (delay !== undefined) opts.delay = delay;
    const reason = str(b, 'reason', false);
    if (reason !== undefined) opts.reason = reason.slice(0, 100);
    const target: { user?: string; client?: string } = {};
    if (user !== undefined) target.user = user;
    if (client !== undefined) target.client = client;
    try {
      return await node.disconnectEverywhere(target, opts);
    } catch (err) {
      if (err instanceof PartialDisconnectError) throw new ApiError(503, err.message);
      throw err;
    }
  },

  async connections(node, b) {
    known(b, ['user', 'limit', 'cursor']);
    if (typeof b.user !== 'string') throw new ApiError(400, 'field "user" must be a string');
    if (b.user === '') throw new ApiError(400, 'anonymous connections are not registered; give a user id');
    if (!node.options.userRegistry) throw new ApiError(400, 'the user registry is off (userRegistry: false)');
    const pageOpts = pageOptions(b, node.options.presencePageSize);
    try {
      return await node.cluster.userConnections(b.user, pageOpts);
    } catch (err) {
      if (err instanceof BadCursorError) throw new ApiError(400, err.message);
      throw err;
    }
  },

  async channels(node, b) {
    known(b, ['limit']);
    const limit = pageOptions(b, 100).limit;
    return node.cluster.busiestChannels(limit);
  },

  async info(node, b) {
    known(b, []);
    return { nodes: node.clusterInfo() };
  },

  /** Starts recording an SFU room on this node (a file per participant), or one participant of it. */
  async sfu_record_start(node, b) {
    known(b, ['room', 'client', 'layer']);
    const room = id(b, 'room', true, 256)!;
    const client = id(b, 'client', false, 128);
    const layer = int(b, 'layer');
    if (layer !== undefined && layer > 2) throw new ApiError(400, 'field "layer" must be 0, 1 or 2');
    return await recordings(node).start({ room, ...(client !== undefined ? { client } : {}), ...(layer !== undefined ? { layer } : {}) });
  },

  /** Stops a recording; the files are complete when it answers. */
  async sfu_record_stop(node, b) {
    known(b, ['id']);
    return await recordings(node).stop(id(b, 'id', true, 64)!);
  },

  /** Running and recently stopped recordings of this node. */
  async sfu_recordings(node, b) {
    known(b, []);
    return { recordings: await recordings(node).list() };
  },
} satisfies Record<string, Operation>;

/** The method names, as in `POST /api/<name>`. */
export type OperationName = keyof typeof METHODS;

/** The methods by name: a Map, so only own entries are found (`/api/valueOf` is unknown, issue 11 E4). */
export const OPERATIONS: ReadonlyMap<string, Operation> = new Map<string, Operation>(Object.entries(METHODS));

/** Runs one operation by its name (an OperationName, so no lookup can miss), typed by its result. */
export function runOperation<N extends OperationName>(node: NodeCore, name: N, body: Body): ReturnType<(typeof METHODS)[N]> {
  return METHODS[name](node, body) as ReturnType<(typeof METHODS)[N]>;
}
