/**
 * Node configuration: one `resolveOptions()` merges defaults, rejects unknown keys (naming the bad
 * field) and checks types, for config files, environment variables and code alike.
 */
import { ConfigError } from '../util/errors.ts';
import { didYouMean } from '../util/suggest.ts';
import { MAX_NODE_NAME } from './cluster-messages.ts';
import { MIN_CLUSTER_SECRET } from './cluster-trust.ts';

/** Who may do something in a namespace. */
export type Access = 'anonymous' | 'authenticated' | 'none';

export interface NamespaceOptions {
  /** Who may subscribe. @default 'authenticated' */
  subscribe: Access;
  /** Who may publish from a client connection (the server API always may). @default 'none' */
  publish: Access;
  /** Who may read presence (when presence is on). @default 'authenticated' */
  presenceRead: Access;
  /** Who may read history. @default 'authenticated' */
  historyRead: Access;
  /** Publications kept per channel; 0 keeps none (no recovery). @default 0 */
  historySize: number;
  /** Seconds a publication stays in history. @default 300 */
  historyTtl: number;
  /** Whether subscribers may recover missed publications by position. Needs historySize > 0. @default false */
  recover: boolean;
  /** Keep a presence set for channels of this namespace. @default false */
  presence: boolean;
  /** Push join/leave events to subscribers. @default false */
  joinLeave: boolean;
  /** Under backpressure, replace unsent publications of a channel by the newest (with a gap marker). @default false */
  lossy: boolean;
  /**
   * On transports that can carry unreliable frames (WebTransport), send publications as
   * unreliable datagrams when they fit, else on the session stream. A lost datagram is a skipped
   * publication: the SDK reports it as a gap (reason `gap`) and never re-fetches it. Other
   * transports ignore it. Publications bigger than the datagram limit go on the stream. @default false
   */
  datagrams: boolean;
  /** Channels are WebRTC signaling rooms: members may send `signal` frames to each other. @default false */
  signaling: boolean;
  /**
   * Channels are SFU rooms (implies `signaling`): members reach the node's selective forwarding
   * unit as the reserved member `$sfu` (docs/protocol.md "SFU rooms"); media goes through the
   * SFU instead of peer to peer. A room lives on one node's SFU: members must connect to the
   * same node. @default false
   */
  sfu: boolean;
  /**
   * SFU rooms: bits per second one participant's video may use in all (told to the publisher as
   * per-layer `maxBitrate` and REMB; layers of a publisher far over it are not forwarded). 0: the
   * SFU's `maxPublishBitrate` (6 Mbit/s by default). @default 0
   */
  sfuMaxPublishBitrate: number;
}

export interface JwtOptions {
  /** HS256 shared secret. */
  secret?: string;
  /** PEM (SPKI) public key for RS256 or ES256. */
  publicKey?: string;
  /** Algorithms accepted; derived from the key kind when absent. */
  algorithms?: string[];
  /** Required `aud` claim, when set. */
  audience?: string;
  /** Required `iss` claim, when set. */
  issuer?: string;
}

/** ICE servers handed to every client in the connect reply (`iceServers`), for WebRTC. */
export interface IceOptions {
  /** STUN/TURN URLs: `stun:host:3478`, `turn:host:3478?transport=udp`, `turn:host:3478?transport=tcp`. @default [] */
  urls: string[];
  /** Shared secret for time-limited TURN credentials (coturn `use-auth-secret` compatible). Empty: STUN only. @default '' */
  secret: string;
  /** Lifetime of the handed-out TURN credentials in seconds. @default 86400 */
  ttl: number;
}

/** PEM files for serving `https:` and `wss:` directly (and the gRPC API over TLS). */
export interface TlsFileOptions {
  /** Certificate chain file (PEM). Empty: no TLS. @default '' */
  cert: string;
  /** Private key file (PEM) of `cert`. @default '' */
  key: string;
  /** Extra CA certificates file (PEM) to send or trust. @default '' */
  ca: string;
}

export interface NodeOptions {
  /** Name of this node in a cluster. @default `${hostname}-${pid}` */
  name: string;
  /** HTTP port; 0 picks a free one. @default 8000 */
  port: number;
  /** Listen address. @default '0.0.0.0' */
  host: string;
  /**
   * Path prefix every endpoint lives under (`/switchboard` → `/switchboard/connection/websocket`,
   * `/switchboard/api/publish`, `/switchboard/sdk/switchboard.js`); requests outside it are not
   * the node's. '' = the root. For embedding beside an app on one port (docs/embedding.md).
   * @default ''
   */
  path: string;
  /**
   * Serve `https:`/`wss:` directly: `{cert, key, ca?}` PEM file paths, reloaded by `reloadTls()`
   * (SIGHUP in the CLI). Also used by the gRPC server API. Only for the node's own server (an
   * attached server has its own TLS). @default {cert: '', key: '', ca: ''} (plain HTTP)
   */
  tls: TlsFileOptions;
  /**
   * Port of the gRPC server API (gRPC, gRPC-Web and Connect; proto/switchboard/v1/api.proto), on
   * `host`. 0 = off. Env SWITCHBOARD_GRPC_PORT; `switchboard start --dev` turns it on at 8001.
   * @default 0
   */
  grpcPort: number;
  /**
   * URL other nodes use to reach this one (SSE/poll requests for sessions held here are proxied
   * to it). Set it in multi-host clusters. @default `http://127.0.0.1:${port}` when bound to all interfaces
   */
  advertiseUrl: string;
  /**
   * Development mode: anonymous clients may connect; the default namespace allows anonymous
   * subscribe/publish/presence/history, keeps history and is recoverable. Printed loudly at start.
   * @default false
   */
  insecure: boolean;
  /** JWT verification. Required unless `insecure` or `allowAnonymous`. */
  jwt: JwtOptions;
  /** ICE servers for WebRTC clients; see IceOptions. */
  ice: IceOptions;
  /** Accept connections without a token (user ""). @default false (true when insecure) */
  allowAnonymous: boolean;
  /** Key for the HTTP server API (`Authorization: apikey KEY`). Without one the API is off (unless insecure). */
  apiKey: string;
  /** Secret for the admin page at /admin (header X-Admin-Secret). Without one the admin API is off; dev mode generates one and prints it. @default '' */
  adminSecret: string;
  /**
   * Shared secret of the cluster (at least 16 characters, the same on every node): signs the
   * registry and control messages nodes exchange over the broker and the SSE/poll requests they
   * forward to each other; unsigned or badly signed ones are ignored. Without one, a node on a
   * network broker trusts no other node (no forwarding, no cluster registry, no cluster-wide
   * disconnect), and `switchboard start` refuses such a broker outside dev mode. A memory broker
   * needs none (its peers are in the same process). Env SWITCHBOARD_CLUSTER_SECRET. @default ''
   */
  clusterSecret: string;
  /** Seconds an ordinary HTTP request (API call, upload body) may take in total; streams and held polls are exempt. @default 30 */
  requestTimeout: number;
  /** Allowed `Origin` values for WebSocket upgrades; '*' allows any. Empty = same host only. @default [] */
  allowedOrigins: string[];
  /** Options of the default namespace (channels without `ns:`). */
  defaultNamespace: NamespaceOptions;
  /** Named namespaces: channel `chat:room1` uses `namespaces.chat`. Missing fields take the NamespaceOptions defaults. */
  namespaces: Record<string, NamespaceOptions>;
  /** Seconds between server pings. @default 25 */
  pingInterval: number;
  /** Seconds to wait for a pong after a ping. @default 10 */
  pongTimeout: number;
  /** Seconds a new TCP connection has to complete its HTTP request or WebSocket upgrade headers (slowloris guard). @default 10 */
  handshakeTimeout: number;
  /** Seconds a new connection has to send `connect`. @default 10 */
  connectTimeout: number;
  /** Largest accepted inbound message in bytes. @default 65536 */
  maxMessageBytes: number;
  /** Outbound bytes queued per connection before the slow-consumer policy applies. @default 1048576 */
  maxQueueBytes: number;
  /** Maximum subscriptions per connection. @default 512 */
  maxSubscriptions: number;
  /** Commands per second per connection (token bucket rate). @default 200 */
  rateLimit: number;
  /** Token bucket size. @default 400 */
  rateBurst: number;
  /** Commands processed concurrently per connection before reading pauses. @default 64 */
  maxInflight: number;
  /** Maximum channel name length. @default 255 */
  maxChannelLength: number;
  /** Seconds a presence entry lives without refresh. @default 60 */
  presenceTtl: number;
  /** Seconds an idempotency key is remembered. @default 300 */
  idempotencyTtl: number;
  /** Idempotency keys one connection may use within any idempotencyTtl window (each is stored that long); past it publishes with a key get 106. @default 10000 (about 33 keyed publishes per second sustained at the default 300 s TTL) */
  maxIdempotencyKeys: number;
  /** Distinct channels one connection may publish to within any idempotencyTtl window (each creates broker stream state); past it 106. @default 100 */
  maxPublishChannels: number;
  /** Maximum publications per recovery page (reply and each following batch). @default 1000 */
  recoveryPageSize: number;
  /** Maximum members per presence reply (client protocol and HTTP API); longer lists are paged. @default 1000 */
  presencePageSize: number;
  /**
   * Keep a per-user connection registry in the broker (`$sb:user:<user>`, refreshed with presence)
   * so `/api/connections` can find a user's connections on every node. Costs one broker write per
   * authenticated connect and disconnect and one refresh per connection every presenceTtl/3.
   * @default true
   */
  userRegistry: boolean;
  /** Maximum connections to this node; past it upgrades get 503. @default 100000 */
  maxConnections: number;
  /**
   * Connections per remote IP address; 0 = no limit. Off by default because behind a load
   * balancer every connection comes from the balancer's address. @default 0
   */
  maxConnectionsPerIp: number;
  /**
   * TCP connections per remote address that have not finished sending their request headers
   * (slowloris bound); past it new ones are closed at once. 0 = no limit. @default 0
   */
  maxPendingPerIp: number;
  /**
   * SSE and long-polling settings (absenceTimeout, sseKeepalive, sseRetainEvents, sseRetainBytes,
   * pollTimeout, maxQueuedPosts, endedKeys, endedKeyTtl, maxPendingSessions, pendingTimeout,
   * sessionRate, sessionBurst); see docs/protocol.md. Validated by the
   * transports when the node starts. @default {}
   */
  httpTransports: Record<string, number>;
  /** Seconds over which a draining node (SIGTERM) disconnects its clients, in batches. @default 10 */
  drainWindow: number;
  /** Seconds between this node's reports to the cluster registry. @default 2 */
  nodeInfoInterval: number;
  /** Ask clients to move when this node is far above the cluster average. @default true */
  rebalance: boolean;
  /** "Far above": more than average × (1 + threshold). @default 0.25 */
  rebalanceThreshold: number;
  /** No rebalancing below this many connections. @default 100 */
  rebalanceMinConnections: number;
  /**
   * Event consumers that publish into channels from outside sources (`type: "outbox"` for a
   * PostgreSQL transactional outbox, `type: "rabbitmq"` for a RabbitMQ queue, `type: "mqtt"` for the
   * MQTT bridge, both ways); see
   * docs/integrations.md. Each entry is validated by src/ingest when the node is created and run
   * while the node listens. Env SWITCHBOARD_CONSUMERS (JSON). @default []
   */
  consumers: Record<string, unknown>[];
  /**
   * WebTransport over HTTP/3 (`port`, `cert`, `key`, limits; docs/webtransport.md). Off unless
   * `port` is set; validated by src/transports/webtransport/options.ts when the node starts. @default {}
   */
  webtransport: Record<string, unknown>;
}

export const defaultNamespaceOptions: NamespaceOptions = {
  subscribe: 'authenticated',
  publish: 'none',
  presenceRead: 'authenticated',
  historyRead: 'authenticated',
  historySize: 0,
  historyTtl: 300,
  recover: false,
  presence: false,
  joinLeave: false,
  lossy: false,
  datagrams: false,
  signaling: false,
  sfu: false,
  sfuMaxPublishBitrate: 0,
};

/** The default namespace in insecure (development) mode: everything on, anyone may do anything. */
export const insecureNamespaceOptions: NamespaceOptions = {
  subscribe: 'anonymous',
  publish: 'anonymous',
  presenceRead: 'anonymous',
  historyRead: 'anonymous',
  historySize: 1000,
  historyTtl: 3600,
  recover: true,
  presence: true,
  joinLeave: true,
  lossy: false,
  datagrams: false,
  signaling: false,
  sfu: false,
  sfuMaxPublishBitrate: 0,
};

export function defaultNodeOptions(): NodeOptions {
  return {
    name: '',
    port: 8000,
    host: '0.0.0.0',
    path: '',
    tls: { cert: '', key: '', ca: '' },
    grpcPort: 0,
    advertiseUrl: '',
    insecure: false,
    jwt: {},
    ice: { urls: [], secret: '', ttl: 86400 },
    allowAnonymous: false,
    apiKey: '',
    adminSecret: '',
    clusterSecret: '',
    requestTimeout: 30,
    allowedOrigins: [],
    defaultNamespace: { ...defaultNamespaceOptions },
    namespaces: {},
    pingInterval: 25,
    pongTimeout: 10,
    handshakeTimeout: 10,
    connectTimeout: 10,
    maxMessageBytes: 65536,
    maxQueueBytes: 1 << 20,
    maxSubscriptions: 512,
    rateLimit: 200,
    rateBurst: 400,
    maxInflight: 64,
    maxChannelLength: 255,
    presenceTtl: 60,
    idempotencyTtl: 300,
    maxIdempotencyKeys: 10_000,
    maxPublishChannels: 100,
    recoveryPageSize: 1000,
    presencePageSize: 1000,
    userRegistry: true,
    maxConnections: 100_000,
    maxConnectionsPerIp: 0,
    maxPendingPerIp: 0,
    httpTransports: {},
    drainWindow: 10,
    nodeInfoInterval: 2,
    rebalance: true,
    rebalanceThreshold: 0.25,
    rebalanceMinConnections: 100,
    consumers: [],
    webtransport: {},
  };
}

/** Deep-partial input accepted by resolveOptions. */
export type NodeOptionsInput = Partial<Omit<NodeOptions, 'defaultNamespace' | 'namespaces' | 'jwt' | 'httpTransports' | 'ice' | 'consumers' | 'tls'>> & {
  tls?: Partial<TlsFileOptions>;
  consumers?: Record<string, unknown>[];
  ice?: Partial<IceOptions>;
  httpTransports?: Record<string, number>;
  jwt?: JwtOptions;
  defaultNamespace?: Partial<NamespaceOptions>;
  namespaces?: Record<string, Partial<NamespaceOptions>>;
};

/** Lives in util/errors.ts (the broker factory, transports and ingest throw it too); re-exported here for compatibility. */
export { ConfigError };

const ACCESS: readonly string[] = ['anonymous', 'authenticated', 'none'];

function checkKeys(obj: object, allowed: object, where: string): void {
  for (const k of Object.keys(obj)) {
    if (!Object.hasOwn(allowed, k)) throw new ConfigError(`unknown option "${where}${k.slice(0, 100)}"${didYouMean(k, Object.keys(allowed), (s) => `"${where}${s}"`)}`);
  }
}

function checkType(value: unknown, like: unknown, field: string): void {
  if (Array.isArray(like)) {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new ConfigError(`option "${field}" must be an array of strings`);
    }
    return;
  }
  if (typeof value !== typeof like) throw new ConfigError(`option "${field}" must be a ${typeof like}, got ${JSON.stringify(value)}`);
  if (typeof like === 'number' && (!Number.isFinite(value as number) || (value as number) < 0)) {
    throw new ConfigError(`option "${field}" must be a non-negative number, got ${String(value)}`);
  }
}

function resolveNamespace(input: Partial<NamespaceOptions> | undefined, base: NamespaceOptions, where: string): NamespaceOptions {
  const out = { ...base };
  if (input === undefined) return out;
  if (typeof input !== 'object' || input === null) throw new ConfigError(`option "${where}" must be an object`);
  checkKeys(input, base, `${where}.`);
  for (const [k, v] of Object.entries(input)) {
    const key = k as keyof NamespaceOptions;
    checkType(v, base[key], `${where}.${k}`);
    if (['subscribe', 'publish', 'presenceRead', 'historyRead'].includes(k) && !ACCESS.includes(v as string)) {
      throw new ConfigError(`option "${where}.${k}" must be one of ${ACCESS.join(', ')}`);
    }
    (out as Record<string, unknown>)[key] = v;
  }
  if (out.recover && out.historySize === 0) throw new ConfigError(`option "${where}.recover" needs historySize > 0`);
  if (out.sfu) {
    if (input.signaling === false) throw new ConfigError(`option "${where}.sfu" needs signaling (leave "${where}.signaling" unset or true)`);
    out.signaling = true;
  }
  return out;
}

/** Largest `path` prefix, and its characters: URL path segments without dot-segments. */
const MAX_PATH = 200;
const PATH = /^(\/[A-Za-z0-9_~!$&'()*+,;=:@.-]+)+$/;

/** `'/switchboard/'` → `'/switchboard'`, `'/'` → `''`; throws on anything not a plain absolute path. */
export function normalizePath(p: string): string {
  const s = p.replace(/\/+$/, '');
  if (s === '') return '';
  if (s.length > MAX_PATH) throw new ConfigError(`option "path" must be at most ${MAX_PATH} characters`);
  if (!PATH.test(s) || s.split('/').some((seg) => seg === '.' || seg === '..')) {
    throw new ConfigError(`option "path" must be an absolute URL path such as "/switchboard" (no query, no "..", no "//"), got ${JSON.stringify(p)}`);
  }
  return s;
}

function resolveTls(input: unknown): TlsFileOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError('option "tls" must be an object {cert, key, ca?}');
  const out: TlsFileOptions = { cert: '', key: '', ca: '' };
  checkKeys(input, out, 'tls.');
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new ConfigError(`option "tls.${k}" must be a file path (string), got ${JSON.stringify(v)}`);
    out[k as keyof TlsFileOptions] = v;
  }
  if ((out.cert === '') !== (out.key === '')) throw new ConfigError('option "tls" needs both "cert" and "key" (file paths), or neither');
  if (out.ca !== '' && out.cert === '') throw new ConfigError('option "tls.ca" needs "tls.cert" and "tls.key"');
  return out;
}

const NAMESPACE_NAME = /^[A-Za-z0-9_\-.]{1,64}$/;

/** Merges `input` over the defaults. Throws ConfigError naming the first bad field. */
export function resolveOptions(input: NodeOptionsInput = {}): NodeOptions {
  const d = defaultNodeOptions();
  if (typeof input !== 'object' || input === null) throw new ConfigError('options must be an object');
  checkKeys(input, d, '');
  const insecure = input.insecure ?? false;
  const out: NodeOptions = { ...d };
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined || k === 'defaultNamespace' || k === 'namespaces' || k === 'jwt' || k === 'ice' || k === 'tls') continue;
    if (k === 'webtransport') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError('option "webtransport" must be an object');
      out.webtransport = { ...(v as Record<string, unknown>) };
      continue;
    }
    if (k === 'httpTransports') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError('option "httpTransports" must be an object');
      out.httpTransports = { ...(v as Record<string, number>) };
      continue;
    }
    if (k === 'consumers') {
      // The entries are checked field by field by src/ingest (resolveConsumers) when the node is created.
      if (!Array.isArray(v) || v.some((c) => typeof c !== 'object' || c === null || Array.isArray(c))) throw new ConfigError('option "consumers" must be an array of objects');
      out.consumers = (v as Record<string, unknown>[]).map((c) => ({ ...c }));
      continue;
    }
    checkType(v, (d as unknown as Record<string, unknown>)[k], k);
    (out as unknown as Record<string, unknown>)[k] = v;
  }
  if (input.jwt !== undefined) {
    if (typeof input.jwt !== 'object' || input.jwt === null) throw new ConfigError('option "jwt" must be an object');
    checkKeys(input.jwt, { secret: 1, publicKey: 1, algorithms: 1, audience: 1, issuer: 1 }, 'jwt.');
    out.jwt = { ...input.jwt };
  }
  if (input.ice !== undefined) {
    if (typeof input.ice !== 'object' || input.ice === null) throw new ConfigError('option "ice" must be an object');
    checkKeys(input.ice, d.ice, 'ice.');
    const ice = { ...d.ice };
    for (const [k, v] of Object.entries(input.ice)) {
      if (v === undefined) continue;
      checkType(v, (d.ice as unknown as Record<string, unknown>)[k], `ice.${k}`);
      (ice as unknown as Record<string, unknown>)[k] = v;
    }
    for (const u of ice.urls) if (!/^(stun|stuns|turn|turns):/.test(u)) throw new ConfigError(`option "ice.urls": "${u}" is not a stun:/turn: URL`);
    if (ice.ttl < 1) throw new ConfigError('option "ice.ttl" must be >= 1');
    out.ice = ice;
  }
  if (input.tls !== undefined) out.tls = resolveTls(input.tls);
  out.path = normalizePath(out.path);
  if (insecure) {
    if (input.allowAnonymous === undefined) out.allowAnonymous = true;
    if (input.allowedOrigins === undefined) out.allowedOrigins = ['*'];
  }
  out.defaultNamespace = resolveNamespace(input.defaultNamespace, insecure ? insecureNamespaceOptions : defaultNamespaceOptions, 'defaultNamespace');
  // No prototype: a namespace named `__proto__` or `constructor` is an ordinary entry (issue 11 E4).
  out.namespaces = Object.create(null) as Record<string, NamespaceOptions>;
  for (const [name, ns] of Object.entries(input.namespaces ?? {})) {
    if (!NAMESPACE_NAME.test(name)) throw new ConfigError(`namespace name "${name}" must match ${NAMESPACE_NAME}`);
    out.namespaces[name] = resolveNamespace(ns, defaultNamespaceOptions, `namespaces.${name}`);
  }
  if (out.port > 65535 || !Number.isInteger(out.port)) throw new ConfigError(`option "port" must be an integer 0–65535, got ${String(out.port)}`);
  if (out.pingInterval <= 0 || out.pongTimeout <= 0) throw new ConfigError('options "pingInterval" and "pongTimeout" must be > 0');
  if (out.nodeInfoInterval <= 0) throw new ConfigError('option "nodeInfoInterval" must be > 0');
  if (out.rateBurst < 1) throw new ConfigError('option "rateBurst" must be >= 1');
  if (out.clusterSecret !== '' && out.clusterSecret.length < MIN_CLUSTER_SECRET) throw new ConfigError(`option "clusterSecret" must be at least ${MIN_CLUSTER_SECRET} characters`);
  if (out.name.length > MAX_NODE_NAME) throw new ConfigError(`option "name" must be at most ${MAX_NODE_NAME} characters`);
  if (!out.name) out.name = `node-${Math.random().toString(36).slice(2, 8)}`;
  return out;
}
