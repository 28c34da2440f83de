/**
 * The gRPC server API: `switchboard.v1.ApiService` (proto/switchboard/v1/api.proto, handlers in
 * grpc-service.ts) on its own port (`grpcPort`), speaking gRPC, gRPC-Web and the Connect protocol
 * from the same handlers (grpc-service.ts `apiHandlers`). Native gRPC (`application/grpc`,
 * `application/grpc+proto`) is served straight off the HTTP/2 stream by grpc-native.ts (issue 15:
 * Connect's per-call pipeline cost ~4x the CPU of grpc-js's server); gRPC-Web, the Connect protocol
 * and `application/grpc+json` go through `@connectrpc/connect-node`.
 *
 * Why Connect rather than `@grpc/grpc-js`'s server for those: grpc-js serves only gRPC over HTTP/2; Connect
 * serves all three protocols from one router, so browsers (gRPC-Web, Connect over HTTP/1.1) and
 * gRPC clients in every language reach the same code. grpc-js stays the reference client in the
 * tests.
 *
 * One port, both HTTP versions, without TLS: the first bytes of a connection decide. The HTTP/2
 * client preface starts `PRI `, which no HTTP/1.1 method does, so a connection starting with it
 * goes to an HTTP/2 server (gRPC, and gRPC-Web/Connect over h2c) and any other to an HTTP/1.1
 * server (gRPC-Web and Connect from browsers and `fetch`).
 *
 * With the node's `tls` option the port speaks TLS instead, and ALPN decides: `h2` (gRPC clients,
 * and browsers over HTTP/2) goes to the HTTP/2 server, `http/1.1` or none to the HTTP/1.1 one.
 * `reloadTls()` (SIGHUP) swaps the certificate for new connections.
 *
 * Bounds: a request message is at most `maxMessageBytes` (1 MiB, the HTTP API's body limit;
 * RESOURCE_EXHAUSTED past it), an HTTP/2 connection runs at most `maxConcurrentStreams` calls at
 * once (the peer is told in SETTINGS; more are refused with REFUSED_STREAM), at most
 * `maxConnections` connections are open, a connection must send its first bytes within
 * `handshakeTimeout`, and an idle one is closed after `idleTimeout`; one PublishStream call sends
 * at most `maxStreamMessages` messages and `maxStreamBytes` bytes of them.
 */
import { createServer as createHttp1Server, type Server as Http1Server } from 'node:http';
import { createServer as createHttp2Server, Http2ServerRequest, Http2ServerResponse, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { setMaxListeners } from 'node:events';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { Code, ConnectError } from '@connectrpc/connect';
import type { NodeCore } from '../server/core.ts';
import { apiHandlers, apiRoutes, DEFAULT_STREAM_LIMITS, gate } from './grpc-service.ts';
import { isNativeGrpc, NativeGrpc } from './grpc-native.ts';
import { grpcPercentEncode } from './grpc-wire.ts';
import { MAX_API_BODY } from './http.ts';
import { loadTls } from '../server/tls.ts';

export interface GrpcServerOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** Listen address. @default the node's `host` */
  host?: string;
  /** Largest request message in bytes. @default 1048576 (the HTTP API's body limit) */
  maxMessageBytes?: number;
  /** Calls at once on one HTTP/2 connection. @default 100 */
  maxConcurrentStreams?: number;
  /** Open connections. @default 10000 */
  maxConnections?: number;
  /** Milliseconds a new connection has to send its first bytes. @default the node's handshakeTimeout */
  handshakeTimeoutMs?: number;
  /** Milliseconds of inactivity after which a connection is closed. @default 300000 */
  idleTimeoutMs?: number;
  /** Messages one PublishStream call may send (RESOURCE_EXHAUSTED past it). @default 100000 */
  maxStreamMessages?: number;
  /** Channel + data + idempotency-key bytes one PublishStream call may send. @default 67108864 (64 MiB) */
  maxStreamBytes?: number;
}

/** The first bytes of the HTTP/2 client connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Enough of the preface to tell it from an HTTP/1.1 request line (`PRI ` vs `POST`, `PUT `…). */
const SNIFF_BYTES = 4;

/** A running gRPC/gRPC-Web/Connect listener. `close()` is idempotent. */
export class GrpcServer {
  private readonly net: NetServer | TlsServer;
  private readonly h1: Http1Server;
  private readonly h2: Http2Server;
  private readonly sockets = new Set<Socket>();
  private readonly shutdown = new AbortController();
  private closingP: Promise<void> | null = null;
  private readonly handshakeMs: number;
  private readonly native: NativeGrpc;

  constructor(
    private readonly node: NodeCore,
    private readonly options: GrpcServerOptions,
  ) {
    const maxBytes = options.maxMessageBytes ?? MAX_API_BODY;
    // Every running call listens on the shutdown signal: no MaxListenersExceededWarning past 10.
    setMaxListeners(0, this.shutdown.signal);
    const handlers = apiHandlers(node, {
      maxMessages: options.maxStreamMessages ?? DEFAULT_STREAM_LIMITS.maxMessages,
      maxBytes: options.maxStreamBytes ?? DEFAULT_STREAM_LIMITS.maxBytes,
    });
    this.native = new NativeGrpc(node, handlers, maxBytes);
    const handler = connectNodeAdapter({
      routes: apiRoutes(handlers),
      readMaxBytes: maxBytes,
      writeMaxBytes: 16 << 20,
      shutdownSignal: this.shutdown.signal,
      requestGate: (ctx) => gate(node, ctx.method.name, ctx.requestHeader.get('authorization') ?? undefined),
    });
    const idle = options.idleTimeoutMs ?? 300_000;
    this.handshakeMs = options.handshakeTimeoutMs ?? node.options.handshakeTimeout * 1000;
    this.h2 = createHttp2Server(
      {
        settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 100, maxHeaderListSize: 16 << 10 },
        maxSessionMemory: 16,
        // Calls refused for going past maxConcurrentStreams before the session is closed as abusive.
        maxSessionRejectedStreams: 1000,
      },
    );
    // No 'request' listener, so node:http2 builds no compatibility objects: native gRPC takes the
    // bare stream; everything else gets the request/response pair Connect needs, built here as
    // node's own onServerStream does.
    this.h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      if (isNativeGrpc(headers)) return this.native.handle(stream, headers);
      const req = new Http2ServerRequest(stream, headers, {}, rawHeaders);
      const res = new Http2ServerResponse(stream);
      plainGrpcMessage(res);
      void handler(req, res);
    });
    this.h2.setTimeout(idle);
    this.h1 = createHttp1Server(
      {
        keepAliveTimeout: 5000,
        requestTimeout: node.options.requestTimeout * 1000,
        headersTimeout: this.handshakeMs,
        maxHeaderSize: 16 << 10,
      },
      handler,
    );
    this.h1.setTimeout(idle);
    // noDelay: an answer is several small writes (HEADERS, DATA, trailers); with Nagle's algorithm
    // the later ones wait for the peer's delayed ACK (~40 ms), which capped a busy channel at a few
    // hundred calls per second. http.createServer sets it for its own sockets; net does not.
    if (node.options.tls.cert) {
      this.secure = true;
      const tls = createTlsServer({ ...loadTls(node.options.tls), ALPNProtocols: ['h2', 'http/1.1'], handshakeTimeout: this.handshakeMs, noDelay: true });
      tls.on('secureConnection', (socket: TLSSocket) => this.acceptTls(socket));
      tls.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
      this.net = tls;
    } else {
      this.net = createNetServer({ noDelay: true }, (socket) => this.accept(socket));
    }
    this.net.maxConnections = options.maxConnections ?? 10_000;
  }

  /** The bound port. */
  get port(): number {
    return (this.net.address() as AddressInfo | null)?.port ?? 0;
  }

  /** `host:port` for clients (loopback when bound to all interfaces). */
  get address(): string {
    const h = this.options.host ?? this.node.options.host;
    const host = h === '0.0.0.0' || h === '::' || h === '' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h;
    return `${host}:${this.port}`;
  }

  /** Native gRPC calls running now (grpc-native.ts; not the Connect ones). */
  get nativeCalls(): number {
    return this.native.running;
  }

  /** Whether the port speaks TLS (the node's `tls` option). */
  readonly secure: boolean = false;

  /** `http(s)://host:port`, the base URL for Connect and gRPC-Web clients. */
  get url(): string {
    return `${this.secure ? 'https' : 'http'}://${this.address}`;
  }

  /** Re-reads the node's `tls` files for new connections; throws (keeping the old ones) when they are unusable. */
  reloadTls(): void {
    if (!this.secure) return;
    (this.net as TlsServer).setSecureContext(loadTls(this.node.options.tls));
  }

  /** A TLS connection: ALPN says which HTTP version it speaks. */
  private acceptTls(socket: TLSSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (socket.alpnProtocol === 'h2') this.h2.emit('connection', socket);
    else this.h1.emit('connection', socket);
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen(this.options.port, this.options.host ?? this.node.options.host, () => {
        this.net.off('error', reject);
        resolve();
      });
    });
  }

  /** Peeks at the first bytes and hands the connection to the HTTP/2 or the HTTP/1.1 server. */
  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const timer = setTimeout(() => socket.destroy(), this.handshakeMs);
    timer.unref();
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, SNIFF_BYTES);
      const maybeH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (maybeH2 && head.length < SNIFF_BYTES) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(head);
      if (maybeH2) {
        // The HTTP/2 session reads what is already buffered on the next tick (node's http2 core);
        // resuming here would flow those bytes to no listener and lose the preface.
        this.h2.emit('connection', socket);
      } else {
        this.h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  /** Stops listening, aborts running calls (UNAVAILABLE) and closes every connection. Idempotent. */
  close(): Promise<void> {
    this.closingP ??= (async () => {
      const reason = new ConnectError('the server is shutting down', Code.Unavailable);
      const closed = new Promise<void>((resolve) => this.net.close(() => resolve()));
      this.shutdown.abort(reason);
      if (this.native.running > 0) {
        this.native.abortAll(reason);
        // Let the UNAVAILABLE answers reach the sockets before they are destroyed.
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const s of this.sockets) s.destroy();
      this.h1.closeAllConnections();
      await closed;
    })();
    return this.closingP;
  }
}

export { grpcPercentEncode } from './grpc-wire.ts';

function fixHeaders<T>(headers: T): T {
  if (typeof headers !== 'object' || headers === null) return headers;
  const h = headers as Record<string, unknown>;
  const m = h['grpc-message'];
  if (typeof m === 'string') {
    let raw = m;
    try {
      raw = decodeURIComponent(m);
    } catch {
      // not percent-encoded by Connect: send as is
    }
    h['grpc-message'] = grpcPercentEncode(raw);
  }
  return headers;
}

/** Rewrites `grpc-message` in the headers (Trailers-Only answers) and trailers of one HTTP/2 answer. */
function plainGrpcMessage(res: Http2ServerResponse): void {
  const addTrailers = res.addTrailers.bind(res);
  res.addTrailers = (trailers) => addTrailers(fixHeaders(trailers));
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: OutgoingHttpHeaders) => Http2ServerResponse;
  (res as { writeHead: (status: number, headers?: OutgoingHttpHeaders) => Http2ServerResponse }).writeHead = (status, headers) => writeHead(status, fixHeaders(headers));
}

/** Starts the gRPC/gRPC-Web/Connect API of `node` on `options.port`. */
export async function startGrpcServer(node: NodeCore, options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new GrpcServer(node, options);
  await server.listen();
  return server;
}
