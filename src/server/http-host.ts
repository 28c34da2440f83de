/**
 * Where a node's HTTP comes from (its "HTTP host"): the one seam between the node and the server
 * that carries its WebSocket upgrades, SSE streams, polls, server API and static files.
 *
 * Three ways to be hosted, chosen by `StartOptions.server` (core.ts):
 * - **own** (absent): the node creates its server — `node:http`, or `node:https` when the `tls`
 *   option is set — listens on `host:port`, guards it against slowloris, and closes it;
 * - **attached** (an `http.Server` / `https.Server`): as Socket.IO's `new Server(httpServer)`.
 *   Requests under `path` are served; every other request goes to the listeners the server had
 *   when the node attached (the host app), and upgrades outside `path` are left alone (not
 *   destroyed) for the app's other upgrade listeners. The node neither listens on nor closes the
 *   server; `close()` gives the app its listeners back;
 * - **none** (`'none'`): no server at all; the app feeds requests to `requestHandler` and upgrades
 *   to `upgradeHandler` (Express `app.use`, a Fastify hook, any framework).
 *
 * The prefix (`path`, e.g. `/switchboard`) is stripped before the node sees a request: every route
 * of the node is written against `/connection/websocket`, `/api/publish`…, and `req.url` is
 * rewritten to the stripped form (as Express does for mounted apps) so signed forwarded requests
 * (forward.ts) verify against the same path they were signed for.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Server as TlsServer } from 'node:tls';
import { loadTls, type TlsMaterial } from './tls.ts';
import type { TlsFileOptions } from './options.ts';

/** A server a node can be attached to. */
export type AnyHttpServer = HttpServer | HttpsServer;

/** `StartOptions.server`: attach to this server, or `'none'` for handlers only. */
export type HostMode = AnyHttpServer | 'none';

/** An Express/Connect-style `next`. */
export type NextFunction = (err?: unknown) => void;

/** What the host calls on the node, with the prefix already stripped from `url` and `req.url`. */
export interface HostedApp {
  request(req: IncomingMessage, res: ServerResponse, url: URL): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void;
  /** A connection to the node's own server was accepted (slowloris guard). */
  connection(socket: Socket): void;
}

export interface HttpHostOptions {
  /** Path prefix, normalised by resolveOptions ('' or '/a/b'). */
  prefix: string;
  /** Certificate and key files; only for the node's own server. */
  tls: TlsFileOptions;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export class HttpHost {
  /** The server (own or attached); null in `'none'` mode. */
  readonly server: AnyHttpServer | null;
  /** Whether the node created the server (then it listens on and closes it). */
  readonly owned: boolean;
  readonly prefix: string;
  /** Whether the URLs the node serves are `https:`/`wss:`. */
  readonly secure: boolean;
  private readonly tlsFiles: TlsFileOptions;
  private restore: (() => void) | null = null;

  constructor(
    mode: HostMode | undefined,
    private readonly app: HostedApp,
    options: HttpHostOptions,
  ) {
    this.prefix = options.prefix;
    this.tlsFiles = options.tls;
    if (mode === undefined) {
      const common = {
        keepAliveTimeout: 5000,
        requestTimeout: options.requestTimeoutMs,
        headersTimeout: options.headersTimeoutMs,
        connectionsCheckingInterval: 1000,
      };
      const material = options.tls.cert ? loadTls(options.tls) : null;
      this.server = material ? createHttpsServer({ ...common, ...material }) : createHttpServer(common);
      this.owned = true;
      this.secure = material !== null;
      this.server.on('connection', (socket: Socket) => app.connection(socket));
      this.server.on('request', this.requestHandler);
      this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (!this.upgradeHandler(req, socket, head)) outsidePrefix(socket);
      });
      this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
        if (!socket.writable) return socket.destroy();
        const status =
          err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
      });
      // A TLS handshake that fails (a plain-HTTP client, a bad SNI) must not crash or log per connection.
      if (this.secure) this.server.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy());
      return;
    }
    this.owned = false;
    if (mode === 'none') {
      this.server = null;
      this.secure = false;
      return;
    }
    this.server = mode;
    this.secure = mode instanceof TlsServer;
    this.attach(mode);
  }

  /**
   * Takes over the attached server's `request` listeners: prefix requests come here, the others
   * go to the listeners it had (Express's or Fastify's app). Upgrades get one more listener that
   * takes only prefix upgrades and leaves the rest to the other listeners.
   *
   * Why wrap instead of adding a second `request` listener: every listener sees every request,
   * so the app would also answer (404) the requests the node serves. Socket.IO does the same.
   * Listeners the app adds after attaching see every request; attach once the app is set up.
   */
  private attach(server: AnyHttpServer): void {
    const previous = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (this.handleRequest(req, res)) return;
      if (previous.length === 0) return notFound(res, req);
      for (const l of previous) l.call(server, req, res);
    };
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgradeHandler(req, socket, head);
    };
    server.on('request', onRequest);
    server.on('upgrade', onUpgrade);
    this.restore = () => {
      server.off('request', onRequest);
      server.off('upgrade', onUpgrade);
      for (const l of previous) server.on('request', l);
    };
  }

  /**
   * The request handler for frameworks: serves a request under the prefix and returns; any other
   * goes to `next` (Express, Connect) or, without one, gets a 404. Works mounted at the root
   * (`app.use(node.requestHandler)`) and at the prefix (`app.use('/switchboard', …)`): the path
   * is taken from `req.originalUrl` when the framework has stripped the mount path from `req.url`.
   *
   * Mount it before body parsers: the server API reads the request body itself.
   */
  readonly requestHandler = (req: IncomingMessage, res: ServerResponse, next?: NextFunction): void => {
    if (this.handleRequest(req, res)) return;
    if (next) return next();
    notFound(res, req);
  };

  /**
   * The upgrade handler: takes a WebSocket upgrade under the prefix and returns true; returns
   * false (and leaves the socket untouched) for any other, so the app's own upgrade handling
   * (another WebSocket server, a dev server's HMR) can have it.
   */
  readonly upgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    const url = this.match(req);
    if (url === undefined) return false;
    if (url === null) {
      socket.on('error', () => socket.destroy());
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    this.app.upgrade(req, socket, head, url);
    return true;
  };

  private handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const url = this.match(req);
    if (url === undefined) return false;
    if (url === null) {
      res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ error: { code: 400, message: 'bad request URL' } }));
      return true;
    }
    // `/switchboard` itself: the demo page's relative links need the trailing slash.
    if (this.prefix && (req as BareMark)[BARE] && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(308, { Location: `${this.prefix}/${url.search}`, 'Content-Length': 0 });
      res.end();
      return true;
    }
    this.app.request(req, res, url);
    return true;
  }

  /**
   * The request's URL with the prefix stripped (and `req.url` rewritten to it); undefined when the
   * path is outside the prefix (someone else's request), null when the URL cannot be parsed.
   */
  /** Whether the request is under the prefix (the node's to serve); changes nothing. */
  owns(req: IncomingMessage): boolean {
    return this.inPrefix(targetOf(req));
  }

  private inPrefix(target: string): boolean {
    const p = this.prefix;
    if (!p) return true;
    if (!target.startsWith(p)) return false;
    const next = target.charCodeAt(p.length);
    // `/switchboard`, `/switchboard/…`, `/switchboard?…`; not `/switchboardX`.
    return Number.isNaN(next) || next === 0x2f || next === 0x3f;
  }

  private match(req: IncomingMessage): URL | null | undefined {
    const target = targetOf(req);
    const p = this.prefix;
    if (!this.inPrefix(target)) return undefined;
    const rest = target.slice(p.length);
    let url: URL;
    try {
      url = new URL(rest || '/', 'http://x');
    } catch {
      return null;
    }
    if (!rest.startsWith('/')) (req as BareMark)[BARE] = true;
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
    return url;
  }

  /** The bound port of the server (0 when not listening or in `'none'` mode). */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? (a as AddressInfo).port : 0;
  }

  async listen(port: number, host: string): Promise<void> {
    const server = this.server;
    if (!this.owned || !server) return;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /**
   * Reads the certificate and key files again and uses them for new connections (connections
   * already open keep theirs). Throws — keeping the old certificate — when a file cannot be read
   * or the pair does not match.
   */
  reloadTls(): void {
    if (!this.owned || !this.secure || !this.server) throw new Error('reloadTls: this node serves no TLS of its own (no "tls" option, or attached to an app\'s server)');
    const material: TlsMaterial = loadTls(this.tlsFiles);
    (this.server as HttpsServer).setSecureContext(material);
  }

  /**
   * Own server: stops listening, runs `beforeDrop` (the node says goodbye to its sessions), then
   * drops every connection left. Attached: gives the app its listeners back, then `beforeDrop`.
   * `'none'`: only `beforeDrop`.
   */
  async close(beforeDrop: () => void): Promise<void> {
    if (this.restore) {
      this.restore();
      this.restore = null;
    }
    const server = this.server;
    if (!this.owned || !server) return beforeDrop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    beforeDrop();
    server.closeAllConnections();
    await closed;
  }
}

/** Marks a request for the bare prefix (`/switchboard`, `/switchboard?x`), before req.url is rewritten. */
const BARE = Symbol('barePrefix');
type BareMark = IncomingMessage & { [BARE]?: true };

/** The request target as the client sent it (`originalUrl` when a framework stripped a mount path). */
function targetOf(req: IncomingMessage): string {
  const raw = (req as { originalUrl?: unknown }).originalUrl;
  return typeof raw === 'string' ? raw : (req.url ?? '/');
}

/** An upgrade outside the prefix on the node's own server: nobody else will take it. */
function outsidePrefix(socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}

function notFound(res: ServerResponse, req: IncomingMessage): void {
  const body = JSON.stringify({ error: { code: 404, message: `no route for ${req.method} ${(req.url ?? '').slice(0, 200)}` } });
  res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

/** Answers `body` as JSON with `status` (not cached): the node's error and API replies. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), 'Cache-Control': 'no-store' });
  res.end(json);
}
