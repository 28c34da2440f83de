/**
 * The `switchboard.v1.ApiService` implementation (proto/switchboard/v1/api.proto): each rpc turns
 * its protobuf request into the HTTP API's body shape, runs the same operation (operations.ts, so
 * validation and behaviour are the HTTP API's), and turns the result into the protobuf response.
 * Failures become gRPC status codes with the Switchboard code in trailers (`toConnectError`).
 * Served over gRPC by grpc-native.ts and over gRPC-Web and Connect by Connect (grpc.ts), both
 * through `apiHandlers`, which sees its call only as an `ApiCall`.
 */
import { log } from '../util/log.ts';
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { DescMethodClientStreaming, DescMethodUnary, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { checkDepth } from '../protocol/codec.ts';
import { ErrorCode } from '../protocol/codes.ts';
import { ProtocolError, ReplyError } from '../protocol/errors.ts';
import type { ClientInfo as SbClientInfo, StreamPosition as SbPosition } from '../protocol/frames.ts';
import type { NodeCore } from '../server/core.ts';
import { ApiService, type ClientInfoSchema, type PublishRequest } from './gen/switchboard/v1/api_pb.ts';
import { ApiError, brokerUnavailableMessage, checkApiKey, needsBroker, runOperation, type Body, type OperationName } from './operations.ts';

/** Trailer with the Switchboard error code of a failed call (the HTTP API's `error.code`). */
export const ERROR_CODE_TRAILER = 'switchboard-error-code';
/** Trailer `true` when a retry of the same call may succeed (error 114 broker unavailable…). */
export const TEMPORARY_TRAILER = 'switchboard-temporary';
/** Trailer of a failed PublishStream: how many of its messages were published before the failure. */
export const PUBLISHED_TRAILER = 'switchboard-published';
/** Trailer of a failed PublishStream: 0-based index of the message that was not stored (resume there). */
export const FAILED_INDEX_TRAILER = 'switchboard-failed-index';

/** Bounds of one PublishStream call. */
export interface PublishStreamLimits {
  /** Messages per call; the next one ends the call with RESOURCE_EXHAUSTED. @default 100000 */
  maxMessages: number;
  /** Channel + data + idempotency-key bytes per call, summed over its messages. @default 67108864 (64 MiB) */
  maxBytes: number;
}

export const DEFAULT_STREAM_LIMITS: Readonly<PublishStreamLimits> = { maxMessages: 100_000, maxBytes: 64 << 20 };

/** Refused messages a PublishStream response lists (`failed` counts them all). */
export const MAX_LISTED_FAILURES = 1000;

/** The HTTP API method each rpc runs. */
const METHOD_OF: Readonly<Record<string, OperationName>> = {
  Publish: 'publish',
  PublishStream: 'publish',
  Broadcast: 'broadcast',
  Presence: 'presence',
  PresenceStats: 'presence_stats',
  History: 'history',
  Disconnect: 'disconnect',
  Info: 'info',
  Channels: 'channels',
  Connections: 'connections',
};

/** gRPC status of each HTTP API status (ApiError). */
const STATUS_CODE: Readonly<Record<number, Code>> = {
  400: Code.InvalidArgument,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.NotFound,
  413: Code.ResourceExhausted,
  503: Code.Unavailable,
};

/** gRPC status of each protocol reply error code (ReplyError), docs/api.md "gRPC". */
const REPLY_CODE: Readonly<Record<number, Code>> = {
  [ErrorCode.internal.code]: Code.Internal,
  [ErrorCode.unauthorized.code]: Code.Unauthenticated,
  [ErrorCode.unknownChannel.code]: Code.NotFound,
  [ErrorCode.permissionDenied.code]: Code.PermissionDenied,
  [ErrorCode.limitExceeded.code]: Code.ResourceExhausted,
  [ErrorCode.badRequest.code]: Code.InvalidArgument,
  [ErrorCode.notAvailable.code]: Code.FailedPrecondition,
  [ErrorCode.tooManyRequests.code]: Code.ResourceExhausted,
  [ErrorCode.invalidChannel.code]: Code.InvalidArgument,
  [ErrorCode.brokerUnavailable.code]: Code.Unavailable,
};

function coded(message: string, code: Code, sbCode: number, temporary: boolean): ConnectError {
  const e = new ConnectError(message, code);
  e.metadata.set(ERROR_CODE_TRAILER, String(sbCode));
  if (temporary) e.metadata.set(TEMPORARY_TRAILER, 'true');
  return e;
}

/**
 * The gRPC status for a failure: ApiError by its HTTP status, ReplyError by its protocol code (the
 * Switchboard code in the `switchboard-error-code` trailer either way), any failure while the
 * broker is down UNAVAILABLE with 114, anything else INTERNAL (logged; its message is not sent).
 */
export function toConnectError(node: NodeCore, err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof ApiError) return coded(err.message, STATUS_CODE[err.status] ?? Code.InvalidArgument, err.status, err.status === 503);
  if (err instanceof ReplyError) return coded(err.message, REPLY_CODE[err.code] ?? Code.Internal, err.code, err.temporary);
  if (!node.broker.connected) return brokerUnavailable(node);
  log.error('gRPC call failed', { err });
  return coded(ErrorCode.internal.message, Code.Internal, ErrorCode.internal.code, true);
}

function brokerUnavailable(node: NodeCore): ConnectError {
  return coded(brokerUnavailableMessage(node), Code.Unavailable, ErrorCode.brokerUnavailable.code, true);
}

/**
 * Runs before the request message is read: the API key from `authorization: apikey KEY`, then the
 * broker check (UNAVAILABLE at once while it is down, as the HTTP API's 503), so neither a
 * refused caller nor a call that cannot succeed costs a body read. `rpc` is the method's name
 * (`Publish`).
 */
export function gate(node: NodeCore, rpc: string, authorization: string | undefined): void {
  try {
    checkApiKey(node, authorization, { api: 'grpc', method: rpc });
  } catch (err) {
    throw toConnectError(node, err);
  }
  const method = METHOD_OF[rpc];
  if (method !== undefined && needsBroker(method) && !node.broker.connected) throw brokerUnavailable(node);
}

/**
 * What a handler sees of its call, whichever server runs it: Connect (`connectCall`) or the native
 * gRPC path (grpc-native.ts), which has no AbortSignal per call.
 */
export interface ApiCall {
  /** The rpc's name (`Publish`), for the logs. */
  readonly method: string;
  /** Milliseconds left until the client's deadline; undefined without one. */
  timeoutMs(): number | undefined;
  /** Why the call ended early (the deadline, a cancel, the server closing); undefined while it runs. */
  abortReason(): ConnectError | undefined;
  /** Calls `fn` once when the call ends early; returns a function that unregisters it. */
  onAbort(fn: (reason: ConnectError) => void): () => void;
}

/** A Connect HandlerContext as an ApiCall. */
export function connectCall(ctx: HandlerContext): ApiCall {
  const signal = ctx.signal;
  return {
    method: ctx.method.name,
    timeoutMs: () => ctx.timeoutMs(),
    abortReason: () => (signal.aborted ? abortReason(signal) : undefined),
    onAbort(fn) {
      const on = () => fn(abortReason(signal));
      signal.addEventListener('abort', on, { once: true });
      return () => signal.removeEventListener('abort', on);
    },
  };
}

/**
 * Resolves with `p`, or rejects when the call's signal aborts (the client's deadline, a cancel,
 * the server closing) — with DEADLINE_EXCEEDED for a deadline. Without a client deadline a unary
 * call gets `requestTimeout`, as an HTTP API call does. The operation itself is not undone: like
 * any call that times out, a publish may still have been stored (retry with the same idempotency
 * key to be sure).
 */
function bounded<T>(node: NodeCore, call: ApiCall, p: Promise<T>, unary: boolean): Promise<T> {
  const early = call.abortReason();
  if (early) {
    p.catch(() => {}); // still running; its failure is not the call's any more
    return Promise.reject(early);
  }
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      off();
      if (timer) clearTimeout(timer);
    };
    const off = call.onAbort((reason) => {
      done();
      reject(reason);
    });
    if (unary && call.timeoutMs() === undefined) {
      const ms = node.options.requestTimeout * 1000;
      timer = setTimeout(() => {
        done();
        reject(new ConnectError(`the call took longer than requestTimeout (${node.options.requestTimeout} s)`, Code.DeadlineExceeded));
      }, ms);
    }
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (err: unknown) => {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function abortReason(signal: AbortSignal): ConnectError {
  const r: unknown = signal.reason;
  return r instanceof ConnectError ? r : new ConnectError('the call was cancelled', Code.Canceled);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a JSON-encoded `bytes` field; empty is absent. ApiError 400 naming the field otherwise. */
export function decodeJson(bytes: Uint8Array, field: string): unknown {
  if (bytes.length === 0) return undefined;
  try {
    const v: unknown = JSON.parse(utf8.decode(bytes));
    checkDepth(v);
    return v;
  } catch (err) {
    if (err instanceof ProtocolError) throw new ApiError(400, `field "${field}": ${err.message}`);
    throw new ApiError(400, `field "${field}" must be JSON-encoded UTF-8: ${(err as Error).message}`);
  }
}

function encodeJson(v: unknown): Uint8Array {
  return v === undefined ? new Uint8Array(0) : Buffer.from(JSON.stringify(v));
}

/** The body without its unset (undefined) fields, so the operation applies its defaults. */
function body(fields: Record<string, unknown>): Body {
  const b: Body = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) b[k] = v;
  return b;
}

function position(p: SbPosition): { epoch: string; offset: bigint } {
  return { epoch: p.epoch, offset: BigInt(p.offset) };
}

function clientInfo(c: SbClientInfo): MessageInitShape<typeof ClientInfoSchema> {
  return { user: c.user, client: c.client, info: encodeJson(c.info) };
}

/** What operation `N` resolves to. */
type OperationResult<N extends OperationName> = Awaited<ReturnType<typeof runOperation<N>>>;

function publishBody(r: PublishRequest): Body {
  return body({ channel: r.channel, data: decodeJson(r.data, 'data'), idempotencyKey: r.idempotencyKey });
}

/**
 * Whether a failed publish is the message's own fault (skipped and listed in the PublishStream
 * response) rather than one that would hit the following messages too (ends the call): a
 * validation or permission refusal, not an auth, broker, deadline or internal failure.
 */
function messageFault(node: NodeCore, err: unknown): boolean {
  if (err instanceof ApiError) return err.status === 400 || err.status === 404 || err.status === 413;
  if (err instanceof ReplyError) return !err.temporary && err.code !== ErrorCode.internal.code && err.code !== ErrorCode.unauthorized.code && node.broker.connected;
  return false;
}

function publishBytes(r: PublishRequest): number {
  return Buffer.byteLength(r.channel) + r.data.length + (r.idempotencyKey === undefined ? 0 : Buffer.byteLength(r.idempotencyKey));
}

/** An info record for a refused call (not for INTERNAL, logged as an error by toConnectError). */
function logRefusal(call: ApiCall, e: ConnectError): void {
  if (e.code === Code.Internal) return;
  log.refused('api_call_refused', `gRPC API call refused: ${e.rawMessage.slice(0, 200)}`, { api: 'grpc', method: call.method, status: Code[e.code], code: e.metadata.get(ERROR_CODE_TRAILER) ?? undefined }, 'info');
}

type Methods = (typeof ApiService)['method'];

/** One handler per rpc of ApiService: unary ones take the request, client-streaming ones the messages. */
export type ApiHandlers = {
  [K in keyof Methods]: Methods[K] extends DescMethodUnary<infer I, infer O>
    ? (req: MessageShape<I>, call: ApiCall) => Promise<MessageInitShape<O>>
    : Methods[K] extends DescMethodClientStreaming<infer I, infer O>
      ? (requests: AsyncIterable<MessageShape<I>>, call: ApiCall) => Promise<MessageInitShape<O>>
      : never;
};

/**
 * The handlers over `node`, shared by both servers. A failure rejects with a ConnectError carrying
 * the gRPC status and the Switchboard trailers.
 */
export function apiHandlers(node: NodeCore, limits: PublishStreamLimits = DEFAULT_STREAM_LIMITS): ApiHandlers {
  const run = async <N extends OperationName>(call: ApiCall, name: N, b: () => Body): Promise<OperationResult<N>> => {
    try {
      // b() validates inside the promise, so its ApiError becomes the call's status like the rest.
      return await bounded(node, call, (async () => runOperation(node, name, b()))() as Promise<OperationResult<N>>, true);
    } catch (err) {
      const e = toConnectError(node, err);
      logRefusal(call, e);
      throw e;
    }
  };
  return {
    async publish(req, call) {
      return position(await run(call, 'publish', () => publishBody(req)));
    },

    async publishStream(requests, call) {
      let published = 0n;
      let index = 0;
      let bytes = 0;
      let last: SbPosition | undefined;
      const failures: Array<{ index: bigint; error: { code: number; message: string }; status: number }> = [];
      let failed = 0n;
      try {
        for await (const req of requests) {
          if (index >= limits.maxMessages) throw new ConnectError(`a PublishStream call takes at most ${limits.maxMessages} messages`, Code.ResourceExhausted);
          bytes += publishBytes(req);
          if (bytes > limits.maxBytes) throw new ConnectError(`a PublishStream call takes at most ${limits.maxBytes} bytes of messages`, Code.ResourceExhausted);
          // Checked per message, as the gate checks per call: fail fast, not after broker retries.
          if (!node.broker.connected) throw brokerUnavailable(node);
          try {
            last = await bounded(node, call, (async () => runOperation(node, 'publish', publishBody(req)))(), false);
            published++;
          } catch (err) {
            if (!messageFault(node, err)) throw err;
            failed++;
            if (failures.length < MAX_LISTED_FAILURES) {
              const e = toConnectError(node, err);
              failures.push({ index: BigInt(index), error: { code: Number(e.metadata.get(ERROR_CODE_TRAILER) ?? 0), message: e.rawMessage }, status: e.code });
            }
          }
          index++;
        }
      } catch (err) {
        const e = toConnectError(node, err);
        logRefusal(call, e);
        e.metadata.set(PUBLISHED_TRAILER, String(published));
        e.metadata.set(FAILED_INDEX_TRAILER, String(index));
        throw e;
      }
      return { published, failures, failed, ...(last ? { last: position(last) } : {}) };
    },

    async broadcast(req, call) {
      const r = await run(call, 'broadcast', () => body({ channels: req.channels, data: decodeJson(req.data, 'data') }));
      return {
        responses: r.responses.map((x) =>
          'error' in x ? { result: { case: 'error' as const, value: x.error } } : { result: { case: 'position' as const, value: position(x) } },
        ),
      };
    },

    async presence(req, call) {
      const r = await run(call, 'presence', () => body({ channel: req.channel, limit: req.limit, cursor: req.cursor }));
      return { presence: Object.values(r.presence).map(clientInfo), cursor: r.cursor };
    },

    async presenceStats(req, call) {
      return run(call, 'presence_stats', () => body({ channel: req.channel }));
    },

    async history(req, call) {
      const since = req.since ? { epoch: req.since.epoch, offset: Number(req.since.offset) } : undefined;
      const r = await run(call, 'history', () => body({ channel: req.channel, limit: req.limit, since, reverse: req.reverse }));
      return {
        epoch: r.epoch,
        offset: BigInt(r.offset),
        publications: r.publications.map((p) => ({ data: encodeJson(p.data), offset: BigInt(p.offset), ...(p.info ? { info: clientInfo(p.info) } : {}) })),
      };
    },

    async disconnect(req, call) {
      return run(call, 'disconnect', () => body({ user: req.user, client: req.client, reconnect: req.reconnect, delay: req.delay, reason: req.reason }));
    },

    async info(_req, call) {
      const r = await run(call, 'info', () => ({}));
      return {
        nodes: r.nodes.map((n) => ({
          name: n.name,
          connections: n.connections,
          channels: n.channels,
          draining: n.draining,
          uptime: BigInt(Math.max(0, Math.round(n.uptime))),
          publishes: BigInt(n.publishes),
          deliveries: BigInt(n.deliveries),
          rssBytes: BigInt(n.rssBytes),
          busiest: n.busiest ?? [],
          busiestOf: n.busiestOf ?? 0,
          url: n.url,
          time: BigInt(Math.max(0, Math.round(n.time))),
          stale: n.stale,
          age: BigInt(Math.max(0, Math.round(n.age))),
        })),
      };
    },

    async channels(req, call) {
      return run(call, 'channels', () => body({ limit: req.limit }));
    },

    async connections(req, call) {
      return run(call, 'connections', () => body({ user: req.user, limit: req.limit, cursor: req.cursor }));
    },
  };
}

/** The handlers as a Connect service implementation. */
export function connectService(h: ApiHandlers): ServiceImpl<typeof ApiService> {
  const impl: Record<string, unknown> = {};
  for (const name of Object.keys(ApiService.method) as Array<keyof ApiHandlers>) {
    const fn = h[name] as (req: unknown, call: ApiCall) => Promise<unknown>;
    impl[name] = (req: unknown, ctx: HandlerContext) => fn(req, connectCall(ctx));
  }
  return impl as ServiceImpl<typeof ApiService>;
}

/** Registers the handlers on a Connect router. */
export function apiRoutes(h: ApiHandlers): (router: ConnectRouter) => void {
  return (router) => {
    router.service(ApiService, connectService(h));
  };
}
