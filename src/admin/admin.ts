/**
 * The admin page at `/admin`: live connection and message-rate charts, the cluster's nodes, the
 * busiest channels, a client lookup with disconnect, and the SFU's rooms (producers, consumers,
 * their layers and bitrates).
 *
 * The page itself (page.ts) is static and holds no data; everything it shows comes from the JSON
 * endpoints under `/admin/api/`, which require the admin secret in an `X-Admin-Secret` header
 * (compared in constant time). The secret is `SWITCHBOARD_ADMIN_SECRET` (an `adminSecret` node
 * option is the intended home). Without one, the admin API is off — except in dev mode
 * (`insecure`), where a random secret is generated and printed once at start, so even a dev node
 * never serves its client list to whoever finds the port.
 *
 * Routes:
 *   GET  /admin                        the page
 *   GET  /admin/api/stats              counters and gauges for the charts (the page derives rates),
 *                                      and the event consumers' figures (`consumers`)
 *   GET  /admin/api/cluster            node.clusterInfo()
 *   GET  /admin/api/channels?n=20      node.hub.busiest(n)
 *   GET  /admin/api/clients?client=ID | ?user=ID   matching connections on this node, and (by
 *                                      user) `elsewhere`: the user's connections on other nodes
 *                                      from the broker-kept registry
 *   GET  /admin/api/connections?limit=&cursor=&user=|anonymous=1   a page of this node's
 *                                      connections (connections.ts: order, cursor, limits)
 *   GET  /admin/api/sfu?rooms=20&participants=32   this node's SFU rooms → participants →
 *                                      producers and consumers with bitrates, layers, NACKs/PLIs
 *                                      (SfuService.snapshot through the SFU contract; merged over
 *                                      its worker threads); `enabled: false` without an SFU
 *   POST /admin/api/disconnect         {"client"|"user", "reconnect"?: boolean}, cluster-wide
 *
 * Which node answers: behind a balancer, consecutive requests reach different nodes. A GET with
 * `node=NAME` (or a connections cursor that names another node) is forwarded to that node's URL
 * from the signed cluster registry, with the admin secret it came with (that node checks it
 * itself), so the page can show one node's figures and page one node's list whichever node the
 * balancer picked. Figures are either that node's (`stats`, `clients`, `connections`,
 * `channels`) or cluster-wide from the nodes' registry reports (`cluster`,
 * `channels?scope=cluster`); the page labels which is which.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { SfuService } from '../protocol/sfu-contract.ts';
import type { NodeCore } from '../server/core.ts';
import { SessionState, type Session } from '../server/session.ts';
import { AdminQueryError, connectionPage, MAX_NODE, parseConnectionQuery } from './connections.ts';
import { ADMIN_PAGE } from './page.ts';

export interface AdminOptions {
  /** The admin secret. @default process.env.SWITCHBOARD_ADMIN_SECRET; generated in dev mode */
  secret?: string;
  /** Where the generated dev-mode secret is announced. @default console.log */
  log?: (line: string) => void;
}

const MAX_BODY = 4096;
/** A forwarded admin answer is at most this big (a page of 200 rows is far below) and this slow. */
const MAX_FORWARDED = 1 << 20;
const FORWARD_TIMEOUT_MS = 5000;
/** Marks a request forwarded by a peer's admin API: never forwarded again (no loops). */
const ADMIN_FORWARDED = 'x-switchboard-admin-forwarded';

/**
 * The page's one inline script, allowed by its hash (CSP Level 2, https://www.w3.org/TR/CSP2/#source-list-syntax)
 * rather than by 'unsafe-inline': inline event handlers (`<img onerror=…>`) then never run, even if
 * some hostile field ever reached the DOM as markup. The page builds its tables with textContent.
 */
const SCRIPT_HASH = (() => {
  const m = /<script>([\s\S]*?)<\/script>/.exec(ADMIN_PAGE);
  if (!m) throw new Error('admin page has no inline script');
  return `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`;
})();

/** Registers the admin routes on `node`. Returns the secret in force ('' when the admin API is off). */
export function installAdmin(node: NodeCore, opts: AdminOptions = {}): string {
  const configured = opts.secret || node.options.adminSecret || process.env.SWITCHBOARD_ADMIN_SECRET || '';
  let secret = configured;
  if (!secret && node.options.insecure) {
    secret = randomBytes(12).toString('base64url');
    (opts.log ?? console.log)(`switchboard: admin page ${'/admin'} — dev-mode admin secret: ${secret} (set SWITCHBOARD_ADMIN_SECRET to choose one)`);
  }
  const want = Buffer.from(secret);
  node.route(async (req, res, url) => {
    if (url.pathname === '/admin' || url.pathname === '/admin/') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: { code: 405, message: 'use GET' } }), true;
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'Content-Security-Policy': `default-src 'none'; script-src ${SCRIPT_HASH}; style-src 'unsafe-inline'; connect-src 'self'; img-src data:`,
        'X-Frame-Options': 'DENY',
        'Referrer-Policy': 'no-referrer',
      });
      res.end(req.method === 'HEAD' ? undefined : ADMIN_PAGE);
      return true;
    }
    if (!url.pathname.startsWith('/admin/api/')) return false;
    if (want.length === 0) return json(res, 403, { error: { code: 403, message: 'the admin API is disabled: set SWITCHBOARD_ADMIN_SECRET' } }), true;
    const given = Buffer.from(String(req.headers['x-admin-secret'] ?? ''));
    if (given.length !== want.length || !timingSafeEqual(given, want)) return json(res, 401, { error: { code: 401, message: 'missing or wrong X-Admin-Secret' } }), true;
    await api(node, req, res, url);
    return true;
  });
  return secret;
}

async function api(node: NodeCore, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const op = url.pathname.slice('/admin/api/'.length);
  const get = req.method === 'GET';
  let connQuery: ReturnType<typeof parseConnectionQuery> | undefined;
  if (op === 'connections' && get) {
    try {
      connQuery = parseConnectionQuery(url.searchParams);
    } catch (err) {
      if (err instanceof AdminQueryError) return json(res, err.status, { error: { code: err.status, reason: err.reason, message: err.message } });
      throw err;
    }
  }
  if (get) {
    const wanted = connQuery ? (connQuery.node ?? connQuery.cursorNode) : url.searchParams.get('node') || undefined;
    if (wanted !== undefined && wanted !== node.options.name) return forwardTo(node, wanted, req, res, url);
  }
  if (connQuery) return json(res, 200, connectionPage(node.options.name, node.sessions, connQuery));
  if (op === 'stats' && get) return json(res, 200, stats(node));
  if (op === 'cluster' && get) return json(res, 200, { nodes: node.clusterInfo() });
  if (op === 'channels' && get) {
    const n = Math.min(100, Math.max(1, Number(url.searchParams.get('n')) || 20));
    // Cluster-wide: summed from the nodes' registry reports (each reports its busiest only, so
    // the sum can leave out nodes where a channel is small: `partial`).
    if (url.searchParams.get('scope') === 'cluster') return json(res, 200, { scope: 'cluster', ...node.cluster.busiestChannels(n) });
    // Internal channels ('$sb:nodes', the cluster registry) are not client channels: left out.
    return json(res, 200, { channels: node.hub.busiest(n, (c) => c.startsWith('$')) });
  }
  if (op === 'sfu' && get) {
    try {
      return json(res, 200, await sfuRooms(node, url.searchParams));
    } catch (err) {
      return json(res, 503, { error: { code: 503, message: `sfu: ${(err as Error).message}` } });
    }
  }
  if (op === 'clients' && get) {
    const client = url.searchParams.get('client');
    const user = url.searchParams.get('user');
    if (!client && user === null) return json(res, 400, { error: { code: 400, message: 'give ?client=ID or ?user=ID' } });
    const found: ReturnType<typeof describe>[] = [];
    // O(connections); an admin lookup, not a hot path (node.findSession(id) would make it O(1)).
    for (const s of node.sessions) {
      if (s.state !== SessionState.Connected) continue;
      if ((client && s.id === client) || (user !== null && !client && s.user === user)) found.push(describe(s, node));
      if (found.length >= 100) break;
    }
    // The user's connections on other nodes, from the broker-kept registry (no node is asked).
    let elsewhere: Array<{ client: string; node: string; transport: string; stale: boolean }> = [];
    if (!client && user && node.options.userRegistry) {
      try {
        const r = await node.cluster.userConnections(user, { limit: 100 });
        elsewhere = r.connections.filter((c) => c.node !== node.options.name).map((c) => ({ client: c.client, node: c.node, transport: c.transport, stale: c.stale }));
      } catch {
        /* broker down: this node's answer stands alone */
      }
    }
    return json(res, 200, { clients: found, elsewhere });
  }
  if (op === 'disconnect' && req.method === 'POST') {
    let body: { client?: unknown; user?: unknown; reconnect?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch (err) {
      return json(res, 400, { error: { code: 400, message: `body must be JSON: ${(err as Error).message}` } });
    }
    if (typeof body !== 'object' || body === null) return json(res, 400, { error: { code: 400, message: 'body must be a JSON object' } });
    const target: { client?: string; user?: string } = {};
    if (typeof body.client === 'string' && body.client) target.client = body.client;
    else if (typeof body.user === 'string') target.user = body.user;
    else return json(res, 400, { error: { code: 400, message: 'give "client" or "user" (string)' } });
    try {
      return json(res, 200, await node.disconnectEverywhere(target, { reconnect: body.reconnect !== false, reason: 'disconnected by admin' }));
    } catch (err) {
      return json(res, 503, { error: { code: 503, message: (err as Error).message } });
    }
  }
  return json(res, 404, { error: { code: 404, message: `no admin endpoint ${req.method} ${url.pathname}` } });
}

/**
 * Proxies a GET admin request to node `name` (its URL from the signed cluster registry), or
 * answers 404 `unknown_node` / 502 `node_unreachable`. The target checks the admin secret itself.
 */
function forwardTo(node: NodeCore, name: string, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const shown = JSON.stringify(name.slice(0, 64));
  if (name.length > MAX_NODE) return json(res, 400, { error: { code: 400, reason: 'bad_node', message: `"node" is longer than ${MAX_NODE} characters` } });
  const entry = node.clusterInfo().find((e) => e.name === name);
  if (req.headers[ADMIN_FORWARDED] || !entry || entry.stale) {
    const why = req.headers[ADMIN_FORWARDED] ? ' (already forwarded once)' : entry ? ' (stale: it stopped reporting)' : node.clusterKey === null ? ' (this node has no clusterSecret, so it knows no other node)' : '';
    return json(res, 404, { error: { code: 404, reason: 'unknown_node', message: `node ${shown} is not in the cluster registry${why}` } });
  }
  let target: URL;
  try {
    const base = new URL(entry.url);
    target = new URL(base.pathname.replace(/\/+$/, '') + url.pathname + url.search, base);
  } catch {
    return json(res, 502, { error: { code: 502, reason: 'node_unreachable', message: `node ${shown} advertises no usable URL` } });
  }
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  let done = false;
  const fail = (message: string) => {
    if (done) return;
    done = true;
    json(res, 502, { error: { code: 502, reason: 'node_unreachable', message: `node ${shown}: ${message}` } });
  };
  const out = request(target, { method: 'GET', headers: { 'x-admin-secret': String(req.headers['x-admin-secret'] ?? ''), [ADMIN_FORWARDED]: node.options.name, accept: 'application/json' }, timeout: FORWARD_TIMEOUT_MS }, (up) => {
    const chunks: Buffer[] = [];
    let n = 0;
    up.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_FORWARDED) {
        up.destroy();
        fail(`answer over ${MAX_FORWARDED} bytes`);
        return;
      }
      chunks.push(c);
    });
    up.on('end', () => {
      if (done) return;
      done = true;
      const body = Buffer.concat(chunks);
      res.writeHead(up.statusCode ?? 502, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'no-store', 'X-Switchboard-Node': name });
      res.end(body);
    });
    up.on('error', (err) => fail(err.message));
  });
  out.on('timeout', () => out.destroy(new Error(`no answer within ${FORWARD_TIMEOUT_MS} ms`)));
  out.on('error', (err) => fail(err.message));
  out.end();
}

function stats(node: NodeCore) {
  const s = node.stats;
  const byTransport: Record<string, number> = {};
  for (const x of node.sessions) if (x.state === SessionState.Connected) byTransport[x.transport.kind] = (byTransport[x.transport.kind] ?? 0) + 1;
  const mem = process.memoryUsage();
  return {
    node: node.options.name,
    broker: node.broker.name,
    time: Date.now(),
    uptime: Math.round((node.clock.now() - node.startedAt) / 1000),
    draining: node.draining,
    connections: node.connectionCount,
    maxConnections: node.options.maxConnections,
    byTransport,
    channels: node.hub.channelCount,
    messagesIn: s.messagesIn,
    framesOut: s.framesOut,
    publishes: s.publishes,
    deliveries: node.hub.deliveries,
    slowDisconnects: s.slowDisconnects,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    // Event consumers (src/ingest), as in /metrics; the page derives published/s.
    consumers: [...node.consumers].map((c) => ({
      name: c.name,
      kind: c.kind,
      up: c.up(),
      lagSeconds: c.lagSeconds(),
      backlog: c.backlog(),
      published: c.published,
      forwarded: c.forwarded,
      deadLetters: [...c.deadLetters.values()].reduce((a, b) => a + b, 0),
      errors: [...c.errors.values()].reduce((a, b) => a + b, 0),
    })),
  };
}

/** Most rooms, and participants per room, one `/admin/api/sfu` answer lists. */
export const SFU_MAX_ROOMS = 50;
export const SFU_MAX_PARTICIPANTS = 50;

/**
 * This node's SFU rooms for the page: the media plane's snapshot (bounded there too: at most 5000
 * producers + consumers), its counters when it has them, and whether anything was left out.
 */
async function sfuRooms(node: NodeCore, q: URLSearchParams) {
  const bound = (v: string | null, def: number, max: number) => Math.min(max, Math.max(1, Math.floor(Number(v)) || def));
  const maxRooms = bound(q.get('rooms'), 20, SFU_MAX_ROOMS);
  const maxParticipants = bound(q.get('participants'), 32, SFU_MAX_PARTICIPANTS);
  const sfu = node.sfu as (SfuService & { stats?: () => Record<string, number> }) | undefined;
  if (!sfu?.snapshot) return { node: node.options.name, enabled: false, rooms: [], totalRooms: 0, truncated: false };
  const snap = await sfu.snapshot({ maxRooms, maxParticipants });
  const truncated = snap.totalRooms > snap.rooms.length || snap.rooms.some((r) => r.participantCount > r.participants.length);
  return { node: node.options.name, enabled: true, time: Date.now(), ...(typeof sfu.stats === 'function' ? { stats: sfu.stats() } : {}), ...snap, truncated };
}

function describe(s: Session, node: NodeCore) {
  return {
    client: s.id,
    user: s.user,
    name: s.clientName,
    transport: s.transport.kind,
    remoteAddress: s.transport.remoteAddress,
    connectedFor: Math.round((node.clock.now() - s.startedAt) / 1000),
    subscriptions: [...(s.subs?.keys() ?? [])].slice(0, 50),
    subscriptionCount: s.subscriptionCount,
    queuedBytes: s.queuedBytes,
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(new Error(`over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}
