/**
 * The native gRPC path: `application/grpc` and `application/grpc+proto` calls served straight off
 * the node:http2 stream, without Connect (which keeps gRPC-Web, the Connect protocol and
 * `application/grpc+json`, grpc.ts). Issue 15: Connect's per-call pipeline (async iterables,
 * AbortSignals, several promise layers) cost ~460 µs of server CPU per unary Publish; this path runs
 * the same handlers (grpc-service.ts `apiHandlers`) through a plain object per call.
 *
 * What it implements of PROTOCOL-HTTP2.md (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md)
 * and the status table of doc/statuscodes.md:
 * - `:path` `/switchboard.v1.ApiService/<Method>`; another is UNIMPLEMENTED.
 * - Length-prefixed messages (grpc-wire.ts); one announced larger than `maxMessageBytes` is
 *   RESOURCE_EXHAUSTED before it is buffered; a bad flag, a message cut off by the end of the
 *   stream or one protobuf cannot parse is INTERNAL; a unary call with no message or more than one
 *   is UNIMPLEMENTED (request cardinality violation).
 * - `grpc-encoding: gzip` (or `identity`): a message with the compressed flag is gunzipped, bounded
 *   by `maxMessageBytes` (RESOURCE_EXHAUSTED past it); another encoding with a compressed message is
 *   UNIMPLEMENTED, a compressed message without `grpc-encoding` INTERNAL. Answers are not compressed.
 * - `grpc-timeout` is the call's deadline (DEADLINE_EXCEEDED, sent by the server); a malformed one
 *   is INVALID_ARGUMENT. Without one a unary call gets `requestTimeout` (grpc-service.ts).
 * - `authorization: apikey KEY` and the broker check run before the body is read (`gate`).
 * - Answers: HEADERS, one DATA, trailers `grpc-status` / `grpc-message` (percent-encoded) and the
 *   Switchboard trailers; a call that fails before answering gets a Trailers-Only answer. If the
 *   client is still sending when the call ends, the stream is then closed (RST_STREAM NO_ERROR).
 * - A client cancel or stream reset ends the call (CANCELLED to the handler; nothing is sent).
 */
import { constants as h2, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { gunzip } from 'node:zlib';
import { fromBinary, create, toBinary, type DescMessage, type DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { NodeCore } from '../server/core.ts';
import { ApiService, PublishResponseSchema } from './gen/switchboard/v1/api_pb.ts';
import { publishResponseFrame } from './grpc-codec.ts';
import { gate, toConnectError, type ApiCall, type ApiHandlers } from './grpc-service.ts';
import { frameMessage, grpcPercentEncode, MessageReader, parseGrpcTimeout, type WireMessage } from './grpc-wire.ts';

/** The longest delay setTimeout takes (2^31 − 1 ms). */
const MAX_TIMER_MS = 0x7fffffff;

/** Decoded messages a client-streaming call buffers before the stream is paused. */
const STREAM_QUEUE = 32;

interface Route {
  rpc: string;
  streaming: boolean;
  input: DescMessage;
  output: DescMessage;
  handler: (req: unknown, call: ApiCall) => Promise<unknown>;
  /** The answer's frame, by hand for the hot one (grpc-codec.ts); else `create` + `toBinary`. */
  encode: (res: unknown) => Buffer;
}

/** `create` + `toBinary` of `schema`, framed. */
function schemaEncoder(schema: DescMessage): (res: unknown) => Buffer {
  return (res) => frameMessage(toBinary(schema, create(schema, res as never)));
}

/** PublishResponse by hand when the handler answered `{ epoch, offset }`, as Publish does. */
function publishEncoder(schema: DescMessage): (res: unknown) => Buffer {
  const general = schemaEncoder(schema);
  return (res) => {
    const r = res as { epoch?: unknown; offset?: unknown };
    return typeof r.epoch === 'string' && typeof r.offset === 'bigint' ? publishResponseFrame(r.epoch, r.offset) : general(res);
  };
}

/** Whether a request is native gRPC: POST with `application/grpc` or `application/grpc+proto`. */
export function isNativeGrpc(headers: IncomingHttpHeaders): boolean {
  if (headers[':method'] !== 'POST') return false;
  const ct = headers['content-type'];
  if (ct === 'application/grpc' || ct === 'application/grpc+proto') return true;
  if (ct === undefined || !ct.startsWith('application/grpc')) return false;
  const base = ct.split(';', 1)[0]!.trim().toLowerCase();
  return base === 'application/grpc' || base === 'application/grpc+proto';
}

/** The native gRPC handler of one GrpcServer. */
export class NativeGrpc {
  private readonly routes = new Map<string, Route>();
  private readonly calls = new Set<NativeCall>();

  constructor(
    private readonly node: NodeCore,
    handlers: ApiHandlers,
    private readonly maxMessageBytes: number,
  ) {
    for (const m of ApiService.methods as readonly DescMethod[]) {
      if (m.methodKind !== 'unary' && m.methodKind !== 'client_streaming') throw new Error(`rpc ${m.name}: ${m.methodKind} is not served`);
      const handler = (handlers as unknown as Record<string, Route['handler']>)[m.localName];
      if (!handler) throw new Error(`no handler for rpc ${m.name}`);
      const encode = m.output.typeName === PublishResponseSchema.typeName ? publishEncoder(m.output) : schemaEncoder(m.output);
      this.routes.set(`/${ApiService.typeName}/${m.name}`, { rpc: m.name, streaming: m.methodKind === 'client_streaming', input: m.input, output: m.output, handler, encode });
    }
  }

  /** Calls running now. */
  get running(): number {
    return this.calls.size;
  }

  /** Serves one native gRPC stream (`isNativeGrpc(headers)`). */
  handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {}); // a reset or a broken connection; 'close' ends the call
    const path = headers[':path'] ?? '';
    const route = this.routes.get(path);
    if (route === undefined) return refuse(stream, new ConnectError(`unknown method ${path.slice(0, 200)}`, Code.Unimplemented));
    let timeoutMs: number | undefined;
    const t = headers['grpc-timeout'];
    if (t !== undefined) {
      timeoutMs = typeof t === 'string' ? parseGrpcTimeout(t) : undefined;
      if (timeoutMs === undefined) return refuse(stream, new ConnectError(`malformed grpc-timeout "${String(t).slice(0, 20)}"`, Code.InvalidArgument));
    }
    const enc = headers['grpc-encoding'];
    const encoding = typeof enc === 'string' ? enc : enc?.join(',');
    try {
      gate(this.node, route.rpc, headers.authorization);
    } catch (err) {
      return refuse(stream, toConnectError(this.node, err));
    }
    const call = new NativeCall(this, stream, route, timeoutMs, encoding === undefined || encoding === 'identity' ? undefined : encoding);
    this.calls.add(call);
    call.start();
  }

  /** Ends every running call with `reason` (the server closing). */
  abortAll(reason: ConnectError): void {
    for (const c of [...this.calls]) c.abort(reason);
  }

  /** @internal */
  ended(call: NativeCall): void {
    this.calls.delete(call);
  }

  /** @internal */
  failure(err: unknown): ConnectError {
    return toConnectError(this.node, err);
  }

  /** @internal */
  get limit(): number {
    return this.maxMessageBytes;
  }
}

/** One running call: implements ApiCall for the handler and owns the stream until it answers. */
class NativeCall implements ApiCall {
  readonly method: string;
  private readonly deadline: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reason: ConnectError | undefined;
  private listeners: Array<(reason: ConnectError) => void> | undefined;
  private done = false;
  private readonly reader: MessageReader;
  /** Unary: the one message. */
  private message: WireMessage | undefined;
  private count = 0;
  /** Client streaming: the decoded messages not yet taken, and the taker waiting for one. */
  private queue: unknown[] = [];
  private waiting: { resolve: (r: IteratorResult<unknown>) => void; reject: (e: Error) => void } | undefined;
  private inputEnded = false;
  private inputError: ConnectError | undefined;
  /** Gunzips in flight (client streaming keeps message order through this chain). */
  private inflate: Promise<void> | undefined;
  /** Messages waiting in that chain (the stream is paused past STREAM_QUEUE, as for the queue). */
  private inflating = 0;

  constructor(
    private readonly owner: NativeGrpc,
    private readonly stream: ServerHttp2Stream,
    private readonly route: Route,
    timeoutMs: number | undefined,
    private readonly encoding: string | undefined,
  ) {
    this.method = route.rpc;
    this.deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    // Past setTimeout's range (~24.8 days; node would fire it after 1 ms) there is no timer to set.
    if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.abort(new ConnectError('the call took longer than its deadline (grpc-timeout)', Code.DeadlineExceeded)), timeoutMs);
    }
    this.reader = new MessageReader(owner.limit, (m) => this.onMessage(m));
  }

  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : Math.max(0, this.deadline - Date.now());
  }

  abortReason(): ConnectError | undefined {
    return this.reason;
  }

  onAbort(fn: (reason: ConnectError) => void): () => void {
    if (this.reason) {
      fn(this.reason);
      return noop;
    }
    (this.listeners ??= []).push(fn);
    return () => {
      const l = this.listeners;
      if (!l) return;
      const i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    };
  }

  start(): void {
    const s = this.stream;
    s.on('data', (chunk: Buffer) => {
      if (this.done || this.inputError) return;
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.inputFailed(err as ConnectError);
      }
    });
    s.once('end', () => this.onEnd());
    s.once('close', () => {
      if (!this.done) this.abort(new ConnectError('the call was cancelled', Code.Canceled), false);
    });
    if (this.route.streaming) this.run(this.messages());
  }

  /** Ends the call early: the handler hears `reason`, the client gets it as the status (unless the stream is gone). */
  abort(reason: ConnectError, answer = true): void {
    if (this.done) return;
    this.reason = reason;
    const l = this.listeners;
    this.listeners = undefined;
    if (l) for (const fn of l) fn(reason);
    this.failInput(reason);
    if (answer) this.fail(reason);
    else this.finish();
  }

  private onMessage(m: WireMessage): void {
    this.count++;
    if (!this.route.streaming) {
      if (this.count > 1) throw new ConnectError(`${this.method} takes exactly one request message, got more`, Code.Unimplemented);
      this.message = m;
      return;
    }
    if (m.compressed || this.inflate) {
      // Keep the order: each message waits for the gunzips before it.
      const prev = this.inflate ?? Promise.resolve();
      if (++this.inflating >= STREAM_QUEUE) this.stream.pause();
      const next = prev.then(() => this.decode(m)).then((req) => {
        if (--this.inflating === STREAM_QUEUE / 2 && this.queue.length < STREAM_QUEUE) this.stream.resume();
        this.enqueue(req);
      });
      this.inflate = next.catch((err: unknown) => this.inputFailed(err as ConnectError));
      return;
    }
    this.enqueue(this.decodePlain(m.data));
  }

  private onEnd(): void {
    if (this.done || this.inputError) return;
    if (!this.reader.idle) return this.inputFailed(new ConnectError('the stream ended inside a message (truncated)', Code.Internal));
    if (this.route.streaming) {
      if (this.inflate) void this.inflate.then(() => this.endInput());
      else this.endInput();
      return;
    }
    const m = this.message;
    if (m === undefined) return this.fail(new ConnectError(`${this.method} takes exactly one request message, got none`, Code.Unimplemented));
    if (!m.compressed) {
      let req: unknown;
      try {
        req = this.decodePlain(m.data);
      } catch (err) {
        return this.fail(err as ConnectError);
      }
      this.run(req);
      return;
    }
    this.decode(m).then(
      (req) => this.run(req),
      (err: unknown) => this.fail(err as ConnectError),
    );
  }

  private decodePlain(data: Uint8Array): unknown {
    try {
      return fromBinary(this.route.input, data);
    } catch (err) {
      throw new ConnectError(`cannot parse the ${this.route.input.name} message: ${(err as Error).message}`, Code.Internal);
    }
  }

  private async decode(m: WireMessage): Promise<unknown> {
    if (!m.compressed) return this.decodePlain(m.data);
    if (this.encoding === undefined) throw new ConnectError('a compressed message without grpc-encoding', Code.Internal);
    if (this.encoding !== 'gzip') throw new ConnectError(`grpc-encoding "${this.encoding.slice(0, 40)}" is not supported (identity, gzip)`, Code.Unimplemented);
    const limit = this.owner.limit;
    const plain = await new Promise<Buffer>((resolve, reject) =>
      gunzip(m.data, { maxOutputLength: limit + 1 }, (err, out) => {
        if (err) {
          const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
          reject(new ConnectError(tooBig ? `message is larger than the limit of ${limit} bytes uncompressed` : `cannot gunzip the message: ${err.message}`, tooBig ? Code.ResourceExhausted : Code.Internal));
        } else if (out.length > limit) reject(new ConnectError(`message of ${out.length} bytes uncompressed is larger than the limit of ${limit}`, Code.ResourceExhausted));
        else resolve(out);
      }),
    );
    return this.decodePlain(plain);
  }

  // ---- client streaming: the messages as an AsyncIterable for the handler ----

  private enqueue(req: unknown): void {
    if (this.done || this.inputError) return;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w.resolve({ value: req, done: false });
      return;
    }
    this.queue.push(req);
    if (this.queue.length >= STREAM_QUEUE) this.stream.pause();
  }

  private endInput(): void {
    this.inputEnded = true;
    const w = this.waiting;
    if (w && this.queue.length === 0) {
      this.waiting = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  private failInput(err: ConnectError): void {
    if (this.inputError) return;
    this.inputError = err;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w.reject(err);
    }
  }

  /** Bad input: a unary call fails now; a stream's handler hears it at its next message (so its trailers count what was stored). */
  private inputFailed(err: ConnectError): void {
    if (this.done) return;
    if (!this.route.streaming) return this.fail(err);
    this.failInput(err);
  }

  private messages(): AsyncIterable<unknown> {
    const next = (): Promise<IteratorResult<unknown>> => {
      if (this.queue.length > 0) {
        const value = this.queue.shift();
        if (this.queue.length === STREAM_QUEUE / 2) this.stream.resume();
        return Promise.resolve({ value, done: false });
      }
      if (this.inputError) return Promise.reject(this.inputError);
      if (this.inputEnded) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
    };
    return { [Symbol.asyncIterator]: () => ({ next }) };
  }

  // ---- answering ----

  private run(req: unknown): void {
    this.route.handler(req, this).then(
      (res) => this.respond(res),
      (err: unknown) => this.fail(this.owner.failure(err)),
    );
  }

  private respond(res: unknown): void {
    if (this.done) return;
    let frame: Buffer;
    try {
      frame = this.route.encode(res);
    } catch (err) {
      return this.fail(this.owner.failure(err));
    }
    const s = this.stream;
    this.finish();
    if (s.destroyed || s.headersSent) return;
    // No `date` (gRPC has no use for it; node formats one per answer otherwise).
    s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity,gzip' }, { waitForTrailers: true, sendDate: false } as { waitForTrailers: boolean });
    s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame);
  }

  private fail(e: ConnectError): void {
    if (this.done) return;
    this.finish();
    refuse(this.stream, e);
  }

  private finish(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.queue.length = 0;
    this.owner.ended(this);
  }
}

function noop(): void {}

/**
 * A Trailers-Only answer with `e`'s status, message and metadata (the Switchboard trailers); then,
 * if the client is still sending, the stream is closed so it stops.
 */
function refuse(stream: ServerHttp2Stream, e: ConnectError): void {
  if (stream.destroyed || stream.headersSent) return;
  const headers: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(e.code), 'grpc-message': grpcPercentEncode(e.rawMessage) };
  e.metadata.forEach((v, k) => {
    headers[k] = v;
  });
  stream.respond(headers, { endStream: true, sendDate: false } as { endStream: boolean });
  if (!stream.readableEnded) {
    stream.resume();
    stream.close(h2.NGHTTP2_NO_ERROR);
  }
}
