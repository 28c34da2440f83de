/**
 * The server core of a node: the session registry, the hub, the cluster registry, auth, the
 * broker, the heartbeat ticker, the write flusher, drain and the server-side operations the APIs
 * expose. It knows no transport, API, page or metric: those live in the outer rooms
 * (transports/, api/, admin/, metrics/, ingest/, web/, webrtc/) and plug in through the seams
 * below — `route()` for HTTP routes, `upgrade()` for HTTP upgrades, `service()` for parts that
 * drain and close with the node, `consumers` for figures the metrics read, and the
 * {@link CoreSeams} the app passes to wrap the broker. The app module (app/node.ts) wires them
 * into the `SwitchboardNode` that `startNode` returns; test/unit/layering.test.ts keeps the core
 * from importing any of them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Broker } from '../broker/broker.ts';
import { MemoryBroker } from '../broker/memory.ts';
import { disconnect as makeDisconnect, type Disconnect } from '../protocol/codes.ts';
import type { ClientInfo, StreamPosition } from '../protocol/frames.ts';
import type { SfuService } from '../protocol/sfu-contract.ts';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { ConfigError } from '../util/errors.ts';
import { Authenticator } from './auth.ts';
import { BUSIEST_REPORTED, Cluster, USER_PREFIX, type ClusterEntry, type NodeInfo } from './cluster.ts';
import { PROCESS_SECRET } from './cluster-trust.ts';
import { forwardedByPeer, forwardIfForeign, ownerTag } from './forward.ts';
import { SignalRouter } from './signaling.ts';
import { SfuSignaling } from './sfu-signaling.ts';
import { mustAuthorize, SERVER_API } from './authorize.ts';
import type { SessionContext } from './context.ts';
import { serveHealth } from './health.ts';
import { Hub } from './hub.ts';
import { HttpHost, sendJson, type AnyHttpServer, type HostMode } from './http-host.ts';
import { resolveOptions, type NodeOptions, type NodeOptionsInput } from './options.ts';
import { SessionState, type Session } from './session.ts';
import { Stats, type ConsumerMetricsSource } from './stats.ts';

export { sendJson } from './http-host.ts';

export interface StartOptions extends NodeOptionsInput {
  /** Broker to use; a MemoryBroker (closed with the node) when absent. */
  broker?: Broker;
  /** @default systemClock */
  clock?: Clock;
  /**
   * The media plane for namespaces with `sfu: true` (protocol/sfu-contract.ts); the node closes it
   * with itself. Absent: requests to `$sfu` are answered 108 (no SFU on this node).
   */
  sfu?: SfuService;
  /**
   * Where HTTP comes from (http-host.ts, docs/embedding.md). Absent: the node creates its own
   * server (https with `tls`) and listens on `host:port`. An `http.Server`/`https.Server`: attach
   * to it — requests and upgrades under `path` are the node's, everything else stays the app's;
   * the node does not listen on or close it. `'none'`: no server; feed `requestHandler` and
   * `upgradeHandler` from a framework (Express, Fastify).
   */
  server?: HostMode;
}

/** An HTTP route, for the transports, APIs and pages the outer modules add. Return true when handled. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

/**
 * Takes an HTTP upgrade for the path it was registered for (`url` has the `path` prefix stripped).
 * The core has only matched the path: admission (`admit`), the origin check (`originAllowed`) and
 * the handshake are the handler's.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void;

/**
 * A part an outer module runs with the node (event consumers, the gRPC API, the WebTransport
 * listener), registered with {@link NodeCore.service}.
 */
export interface NodeService {
  /**
   * Stop taking work, before any session is disconnected: called when the node drains and first
   * thing in close(). Consumers stop here, so their sources hand what is left to other nodes.
   */
  stop?(): Promise<void>;
  /** Close; called beside the HTTP server's close, after stop(). */
  close?(): Promise<void>;
}

/** What the app module passes to the core besides the options (app/node.ts). */
export interface CoreSeams {
  /** Wraps the broker the node uses (metrics: the InstrumentedBroker that times its calls). */
  wrapBroker?(broker: Broker): Broker;
  /** The broker a wrapper wraps (to tell a MemoryBroker inside one); the broker itself when it is none. */
  unwrapBroker?(broker: Broker): Broker;
  /** Checks the options the outer modules read (`consumers`), before the core builds anything; throws ConfigError. */
  checkOptions?(options: NodeOptions): void;
}

export class NodeCore implements SessionContext {
  readonly options: NodeOptions;
  readonly broker: Broker;
  readonly hub: Hub;
  readonly auth: Authenticator;
  readonly clock: Clock;
  readonly stats = new Stats();
  /** Event consumers (src/ingest) reporting their figures while they run; /metrics and the admin page read them. */
  readonly consumers = new Set<ConsumerMetricsSource>();
  /** Where the node's HTTP comes from: own server, attached server, or handlers only. */
  readonly http: HttpHost;
  /** The node's server (own or attached); null with `server: 'none'`. */
  readonly server: AnyHttpServer | null;
  readonly startedAt: number;
  readonly cluster: Cluster;
  /**
   * The key that signs and checks what nodes tell each other (cluster-trust.ts): `clusterSecret`,
   * or with a MemoryBroker and no secret the per-process key; null when there is none (a network
   * broker without a secret): then this node trusts no other node.
   */
  readonly clusterKey: string | null;
  readonly signals: SignalRouter;
  /** The SFU media plane, when this node runs one (StartOptions.sfu). */
  readonly sfu: SfuService | undefined;
  readonly sfuSignals: SfuSignaling;
  /** Tag naming this node inside SSE/poll session keys. */
  readonly sessionKeyTag: string;
  /** Every session, connected or not yet. */
  readonly sessions = new Set<Session>();
  private readonly byClient = new Map<string, Session>();
  private readonly byUser = new Map<string, Set<Session>>();
  private readonly perIp = new Map<string, number>();
  /** Sessions added as `pending` (HTTP transports) that have not connected: not counted against maxConnections. */
  private readonly uncounted = new Set<Session>();
  /** Raw connections per IP that have not completed a request yet. */
  private readonly pendingPerIp = new Map<string, number>();
  private readonly routes: RouteHandler[] = [];
  private readonly upgrades = new Map<string, UpgradeHandler>();
  private readonly services: NodeService[] = [];
  private readonly ownsBroker: boolean;
  private flushQueue: Session[] = [];
  private flushScheduled = false;
  private ticker: TimerHandle | undefined;
  private closingP: Promise<void> | null = null;
  draining = false;

  /** close() was called. */
  get closing(): boolean {
    return this.closingP !== null;
  }

  /**
   * Builds the core only: no transport, API or page is installed, and nothing listens until
   * listen(). `startNode` (app/node.ts) builds the full node.
   */
  constructor(input: StartOptions = {}, seams: CoreSeams = {}) {
    const { broker, clock, sfu, server, ...rest } = input;
    this.options = resolveOptions(rest);
    seams.checkOptions?.(this.options);
    if (server !== undefined && this.options.tls.cert) {
      throw new ConfigError('option "tls" is for the node\'s own server; an attached server (or "server: \'none\'") brings its own TLS (pass an https.Server)');
    }
    this.clock = clock ?? systemClock;
    this.ownsBroker = !broker;
    const base = broker ?? new MemoryBroker({ clock: this.clock });
    this.broker = seams.wrapBroker ? seams.wrapBroker(base) : base;
    this.hub = new Hub(this.broker);
    this.auth = new Authenticator(this.options);
    if (!this.auth.configured && !this.options.allowAnonymous) {
      throw new ConfigError('no JWT key configured (jwt.secret or jwt.publicKey) and anonymous access is off: nobody could connect');
    }
    this.startedAt = this.clock.now();
    this.sfu = sfu;
    const plain = broker && seams.unwrapBroker ? seams.unwrapBroker(broker) : broker;
    this.clusterKey = this.options.clusterSecret || (!plain || plain instanceof MemoryBroker ? PROCESS_SECRET : null);
    this.cluster = new Cluster(this, this.clusterKey);
    this.signals = new SignalRouter(this);
    this.sfuSignals = new SfuSignaling(sfu, this.clock);
    this.sessionKeyTag = ownerTag(this.options.name);
    this.http = new HttpHost(
      server,
      {
        connection: (socket) => this.guardHandshake(socket),
        request: (req, res, url) => {
          this.handshakeDone(req.socket);
          void this.onRequest(req, res, url);
        },
        upgrade: (req, socket, head, url) => {
          this.handshakeDone(socket);
          this.onUpgrade(req, socket, head, url);
        },
      },
      { prefix: this.options.path, tls: this.options.tls, requestTimeoutMs: this.options.requestTimeout * 1000, headersTimeoutMs: this.options.handshakeTimeout * 1000 },
    );
    this.server = this.http.server;
  }

  /**
   * Slowloris guard: a connection that has not completed its request headers (or upgrade) within
   * `handshakeTimeout` is destroyed. Node's own headersTimeout is not enough on its own: it is
   * only checked periodically, and not at all in some embeddings.
   */
  private guardHandshake(socket: Socket): void {
    // Per-IP bound on raw connections, not only on sessions: at most `maxPendingPerIp` sockets
    // per address that have not sent their request yet (past that: closed at once). Sessions are
    // limited separately by admit() (`maxConnectionsPerIp`), which answers a clear HTTP 429.
    const limit = this.options.maxPendingPerIp;
    const ip = socket.remoteAddress ?? '';
    if (limit > 0) {
      const pending = this.pendingPerIp.get(ip) ?? 0;
      if (pending >= limit) {
        socket.destroy();
        return;
      }
      this.pendingPerIp.set(ip, pending + 1);
    }
    let counted = limit > 0;
    const release = () => {
      if (!counted) return;
      counted = false;
      const n = (this.pendingPerIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.pendingPerIp.delete(ip);
      else this.pendingPerIp.set(ip, n);
    };
    const timer = this.clock.setTimeout(() => socket.destroy(), this.options.handshakeTimeout * 1000);
    (socket as GuardedSocket)[HANDSHAKE_GUARD] = { timer, release };
    socket.once('close', () => {
      this.clock.clearTimeout(timer);
      release();
    });
  }

  /** The socket sent its request or upgrade: stop the slowloris timer and the pending count. */
  private handshakeDone(socket: Duplex): void {
    const g = (socket as GuardedSocket)[HANDSHAKE_GUARD];
    if (!g) return;
    this.clock.clearTimeout(g.timer);
    g.release();
  }

  /** The port the server listens on (own or attached); 0 before it listens and with `server: 'none'`. */
  get port(): number {
    return this.http.port;
  }

  /** ws:// (wss:// with TLS) URL of the WebSocket endpoint, under `path` (loopback host when bound to all interfaces). */
  get wsUrl(): string {
    return `${this.http.secure ? 'wss' : 'ws'}://${this.hostForUrl}:${this.port}${this.options.path}/connection/websocket`;
  }

  /** http:// (https:// with TLS) base URL of the node, `path` included: what the SDK takes. */
  get httpUrl(): string {
    return `${this.http.secure ? 'https' : 'http'}://${this.hostForUrl}:${this.port}${this.options.path}`;
  }

  /**
   * The framework request handler (Express `app.use(node.requestHandler)`, a Fastify hook, any
   * `(req, res, next?)`): serves requests under `path`, passes the others to `next` (404 without).
   * Mount it before body parsers.
   */
  get requestHandler(): HttpHost['requestHandler'] {
    return this.http.requestHandler;
  }

  /**
   * The upgrade handler for `server.on('upgrade', …)`: returns true when it took the upgrade
   * (under `path`), false — the socket untouched — when it is someone else's.
   */
  get upgradeHandler(): HttpHost['upgradeHandler'] {
    return this.http.upgradeHandler;
  }

  /** Re-reads the `tls` certificate and key (SIGHUP in the CLI): new connections get them. Throws and keeps the old ones when they are unusable. */
  reloadTls(): void {
    this.http.reloadTls();
  }

  private get hostForUrl(): string {
    const a = this.server?.address();
    // Attached to a server the app bound: its address, not our (unused) `host` option.
    const h = !this.http.owned && a && typeof a === 'object' ? a.address : this.options.host;
    if (h === '0.0.0.0' || h === '::' || h === '') return '127.0.0.1';
    return h.includes(':') ? `[${h}]` : h;
  }

  /** Connected sessions (past the connect command). */
  get connectionCount(): number {
    return this.byClient.size;
  }

  /**
   * Starts the core: listens on `host:port` (own server only; attached and `'none'` nodes are
   * served by the app's server), starts the heartbeat and the cluster registry. The app's
   * SwitchboardNode then starts what the outer modules run (consumers, gRPC, WebTransport).
   */
  async listen(): Promise<void> {
    await this.http.listen(this.options.port, this.options.host);
    const tick = Math.max(20, Math.min(1000, (Math.min(this.options.pingInterval, this.options.pongTimeout) * 1000) / 4));
    this.ticker = this.clock.setInterval(() => this.tick(), tick);
    await this.cluster.start();
  }

  /**
   * Adds an HTTP route, tried in the order added after the health checks and after forwarding a
   * foreign session's SSE/poll request (forward.ts); none taking it: 404.
   */
  route(handler: RouteHandler): void {
    this.routes.push(handler);
  }

  /** Takes HTTP upgrades to `pathname` (prefix stripped: `/connection/websocket`); other paths are refused 404. */
  upgrade(pathname: string, handler: UpgradeHandler): void {
    if (this.upgrades.has(pathname)) throw new Error(`an upgrade handler for ${pathname} is already installed`);
    this.upgrades.set(pathname, handler);
  }

  /** Adds a part that stops when the node drains and closes with it (NodeService). */
  service(s: NodeService): void {
    this.services.push(s);
  }

  // ---- SessionContext --------------------------------------------------------------------------

  scheduleFlush(session: Session): void {
    this.flushQueue.push(session);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    const q = this.flushQueue;
    this.flushQueue = [];
    for (const s of q) s.flush();
  };

  onConnected(s: Session): void {
    this.uncounted.delete(s);
    this.byClient.set(s.id, s);
    let set = this.byUser.get(s.user);
    if (!set) this.byUser.set(s.user, (set = new Set()));
    set.add(s);
    const ping = this.options.pingInterval * 1000;
    // Spread first pings over the interval so connections made together do not ping together.
    s.nextPingAt = this.clock.now() + ping / 2 + Math.random() * (ping / 2);
    if (this.registers(s)) {
      const ttl = this.options.presenceTtl * 1000;
      this.registerUser(s, ttl);
      s.nextPresenceAt = Math.min(s.nextPresenceAt || Infinity, this.clock.now() + ttl / 3);
    }
  }

  /** Whether the session is kept in the broker's per-user connection registry. */
  private registers(s: Session): boolean {
    return this.options.userRegistry && s.user !== '';
  }

  private registerUser(s: Session, ttlMs: number): void {
    const info = { user: s.user, client: s.id, info: { node: this.options.name, transport: s.transport.kind } };
    this.broker.presenceAdd(USER_PREFIX + s.user, s.id, info, ttlMs).catch(() => {});
  }

  onClosed(s: Session): void {
    this.uncounted.delete(s);
    if (this.sessions.delete(s)) {
      const ip = s.transport.remoteAddress;
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, n);
    }
    if (this.byClient.get(s.id) === s) {
      this.byClient.delete(s.id);
      if (this.registers(s)) this.broker.presenceRemove(USER_PREFIX + s.user, s.id).catch(() => {});
    }
    const set = this.byUser.get(s.user);
    if (set) {
      set.delete(s);
      if (set.size === 0) this.byUser.delete(s.user);
    }
  }

  // ---- transports ------------------------------------------------------------------------------

  /**
   * Registers a session for a transport that a module has accepted (WebSocket here; SSE and
   * polling elsewhere). A `pending` one (an HTTP session created by one cheap GET, bounded by its
   * transport: transports/http/pending.ts) counts against maxConnections only once it connects.
   */
  addSession(s: Session, opts: { pending?: boolean } = {}): void {
    this.sessions.add(s);
    if (opts.pending) this.uncounted.add(s);
    const ip = s.transport.remoteAddress;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
  }

  /**
   * Whether a new connection from `ip` is acceptable now. Transports call this before creating a
   * session; the answer is an HTTP status and message to refuse with, or null.
   */
  admit(ip: string): { status: number; message: string; retryAfter: string } | null {
    if (this.draining || this.closingP) return { status: 503, message: 'node is draining', retryAfter: '1' };
    if (this.sessions.size - this.uncounted.size >= this.options.maxConnections) return { status: 503, message: 'connection limit reached', retryAfter: '5' };
    const perIp = this.options.maxConnectionsPerIp;
    if (perIp > 0 && (this.perIp.get(ip) ?? 0) >= perIp) return { status: 429, message: `too many connections from this address (limit ${perIp})`, retryAfter: '10' };
    return null;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    socket.on('error', () => socket.destroy());
    const handler = this.upgrades.get(url.pathname);
    if (handler) return handler(req, socket, head, url);
    const first = this.upgrades.keys().next();
    const hint = first.done ? 'this node takes no upgrades' : `use ${this.options.path}${first.value}`;
    // The shape transports/websocket/handshake.ts refuses with.
    const body = JSON.stringify({ error: { code: 404, message: `no WebSocket endpoint here; ${hint}` } });
    if (!socket.writable) return void socket.destroy();
    socket.end(`HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  /**
   * `Origin` check for browser connections (no Origin header: not a browser, allowed). A request
   * another node of the cluster forwarded, with a valid proof, was checked there — on the node the
   * browser reached, where `Host` is the one the browser sent; here `Host` is this node's own
   * address, so checking again would refuse every same-origin browser request that was forwarded.
   */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (!origin) return true;
    if (forwardedByPeer(this, req)) return true;
    const allowed = this.options.allowedOrigins;
    if (allowed.includes('*') || allowed.includes(origin)) return true;
    if (allowed.length > 0) return false;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      if (serveHealth(this, url.pathname, res, sendJson)) return;
      if (forwardIfForeign(this, req, res, url)) return;
      for (const r of this.routes) if (await r(req, res, url)) return;
      sendJson(res, 404, { error: { code: 404, message: `no route for ${req.method} ${this.options.path}${url.pathname}` } });
    } catch (err) {
      console.error('switchboard: request failed:', err);
      if (!res.headersSent) sendJson(res, 500, { error: { code: 500, message: 'internal server error' } });
      else res.destroy();
    }
  }

  // ---- heartbeat, expiry, presence refresh -----------------------------------------------------

  private tick(): void {
    const now = this.clock.now();
    const o = this.options;
    const connectDeadline = o.connectTimeout * 1000;
    for (const s of this.sessions) {
      if (s.state === SessionState.New || s.state === SessionState.Connecting) {
        if (now - s.startedAt > connectDeadline) s.close(makeDisconnect('stale'));
        continue;
      }
      if (s.state !== SessionState.Connected) continue;
      if (s.pongDeadline > 0 && now > s.pongDeadline) {
        s.close(makeDisconnect('noPong'));
        continue;
      }
      if (s.expiresAt > 0 && now >= s.expiresAt) {
        s.close(makeDisconnect('expired'));
        continue;
      }
      if (now >= s.nextPingAt) {
        s.enqueue(this.stats.sent('ping', this.pingBytes(s)));
        if (s.pongDeadline === 0) s.pongDeadline = now + o.pongTimeout * 1000;
        s.nextPingAt = now + o.pingInterval * 1000;
      }
      if (s.nextPresenceAt > 0 && now >= s.nextPresenceAt) this.refreshPresence(s, now);
    }
  }

  private readonly pings = new Map<string, Buffer>();

  private pingBytes(s: Session): Buffer {
    const f = s.transport.format;
    let b = this.pings.get(f.key);
    if (!b) this.pings.set(f.key, (b = f.encode({ t: 'ping' })));
    return b;
  }

  private refreshPresence(s: Session, now: number): void {
    const ttl = this.options.presenceTtl * 1000;
    s.nextPresenceAt = now + ttl / 3;
    let any = false;
    if (this.registers(s) && this.byClient.get(s.id) === s) {
      any = true;
      this.registerUser(s, ttl);
    }
    for (const [ch, sub] of s.subs ?? []) {
      if (!sub.ns.presence || sub.held !== null) continue;
      any = true;
      this.broker.presenceAdd(ch, s.id, s.info, ttl).catch(() => {});
    }
    if (!any) s.nextPresenceAt = 0;
  }

  // ---- server-side operations (HTTP API, embedding apps) ---------------------------------------

  /**
   * Publishes from the server side, as the server API identity (always permitted, but the channel
   * name and namespace are checked); namespace history settings apply.
   */
  async publish(channel: string, data: unknown, opts: { idempotencyKey?: string; info?: ClientInfo } = {}): Promise<StreamPosition> {
    const { options: ns } = mustAuthorize('publish', channel, SERVER_API, this.options);
    const p: Parameters<Broker['publish']>[2] = {
      historySize: ns.historySize,
      historyTtlMs: ns.historyTtl * 1000,
      idempotencyTtlMs: this.options.idempotencyTtl * 1000,
    };
    if (opts.idempotencyKey !== undefined) p.idempotencyKey = opts.idempotencyKey;
    if (opts.info) p.info = opts.info;
    const pos = await this.broker.publish(channel, data, p);
    this.stats.publishes++;
    return pos;
  }

  /**
   * Disconnects on this node, then — unless it was a client id found here (ids are unique) — tells
   * every other live node through the broker's control channel. `otherNodes` is how many were
   * told. Throws PartialDisconnectError when the broker could not carry the request.
   */
  async disconnectEverywhere(target: { client?: string; user?: string }, opts: { reconnect?: boolean; delay?: number; reason?: string } = {}): Promise<{ disconnected: number; otherNodes?: number }> {
    const here = this.disconnect(target, opts);
    if (target.user === undefined && here > 0) return { disconnected: here };
    const others = this.clusterInfo().filter((e) => e.name !== this.options.name && !e.stale).length;
    if (others === 0) return { disconnected: here };
    try {
      await this.cluster.broadcastDisconnect({ ...target, ...opts });
    } catch (err) {
      throw new PartialDisconnectError(`disconnected ${here} on this node; the other nodes were not reached: ${(err as Error).message}`);
    }
    return { disconnected: here, otherNodes: others };
  }

  /** The connected session with this client id on this node, if any. */
  findSession(clientId: string): Session | undefined {
    return this.byClient.get(clientId);
  }

  /** Disconnects by client id or user id. Returns how many connections were closed. */
  disconnect(target: { client?: string; user?: string }, opts: { reconnect?: boolean; delay?: number; reason?: string } = {}): number {
    const d: Disconnect =
      opts.reconnect === false
        ? makeDisconnect('forceNoReconnect', opts.reason ? { reason: opts.reason } : undefined)
        : makeDisconnect('reconnectRequested', { ...(opts.reason ? { reason: opts.reason } : {}), ...(opts.delay !== undefined ? { delay: opts.delay } : {}) });
    const victims: Session[] = [];
    if (target.client !== undefined) {
      const s = this.byClient.get(target.client);
      if (s) victims.push(s);
    }
    if (target.user !== undefined) victims.push(...(this.byUser.get(target.user) ?? []));
    for (const s of victims) s.close(d);
    return victims.length;
  }

  /** This node's own figures, as reported to the cluster registry. */
  nodeInfo(): NodeInfo {
    const busiest = this.hub.busiest(BUSIEST_REPORTED, (ch) => ch.startsWith('$'));
    return {
      name: this.options.name,
      connections: this.connectionCount,
      channels: this.hub.channelCount,
      draining: this.draining,
      uptime: Math.round((this.clock.now() - this.startedAt) / 1000),
      publishes: this.stats.publishes,
      deliveries: this.hub.deliveries,
      rssBytes: process.memoryUsage().rss,
      busiest: [...busiest],
      busiestOf: busiest.of,
      url: this.options.advertiseUrl || this.httpUrl,
      time: this.clock.now(),
    };
  }

  /** Every node of the cluster from the broker-carried registry (stale entries say so). */
  clusterInfo(): ClusterEntry[] {
    return this.cluster.entries();
  }

  /**
   * Graceful drain: stop accepting (readyz 503, upgrades 503), then disconnect clients in equal
   * batches over `windowMs` with `3001 shutdown` and a jittered reconnect delay, so they land on
   * other nodes gradually and recover from history there. Resolves when none are left.
   */
  async drain(windowMs = this.options.drainWindow * 1000): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.cluster.report();
    // Services (consumers) stop first: their sources hand the remaining inputs to the other nodes.
    await this.stopServices();
    const step = 100;
    const rounds = Math.max(1, Math.floor(windowMs / step));
    const perRound = Math.max(1, Math.ceil(this.sessions.size / rounds));
    while (this.sessions.size > 0) {
      let n = 0;
      for (const s of [...this.sessions]) {
        if (n++ >= perRound) break;
        s.close(makeDisconnect('shutdown', { delay: Math.floor(Math.random() * 1000) }));
      }
      if (this.sessions.size === 0) break;
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, step));
    }
  }

  /** Stops accepting, disconnects everyone with `3001 shutdown` (reconnect), closes the broker it owns. Idempotent. */
  close(): Promise<void> {
    this.closingP ??= (async () => {
      await this.stopServices();
      this.cluster.stop();
      this.clock.clearInterval(this.ticker);
      this.ticker = undefined;
      const d = makeDisconnect('shutdown', { delay: Math.floor(Math.random() * 1000) });
      const closed = this.http.close(() => {
        for (const s of [...this.sessions]) s.close(d);
      });
      await Promise.all([closed, ...this.services.map((s) => (s.close ? s.close() : undefined))]);
      await this.sfu?.close().catch((err: unknown) => console.error('switchboard: closing the SFU failed:', err));
      if (this.ownsBroker) await this.broker.close();
    })();
    return this.closingP;
  }

  private async stopServices(): Promise<void> {
    await Promise.all(this.services.map((s) => (s.stop ? s.stop() : Promise.resolve())));
  }
}

const HANDSHAKE_GUARD = Symbol('handshakeGuard');
type GuardedSocket = Duplex & { [HANDSHAKE_GUARD]?: { timer: TimerHandle; release: () => void } };

/** A cluster-wide disconnect that was done on this node but could not reach the others. */
export class PartialDisconnectError extends Error {
  override name = 'PartialDisconnectError';
}
