/**
 * No sticky sessions needed: SSE and long-polling requests carry a session key that names the
 * node holding the session (`<random>.<base64url(node name)>`). A request that lands on another
 * node — a round-robin load balancer does that all the time — is proxied there over HTTP, using
 * the owner's advertised URL from the broker-carried cluster registry. The proxy streams both
 * ways, so long-held polls and SSE streams work through it too.
 *
 * A forwarded request carries `X-Switchboard-Forwarded`, and is never forwarded again (no loops).
 *
 * Trust (docs/brokers.md, "Cluster trust"): the target URL comes only from a registry entry that
 * was signed with the cluster secret and is fresh (cluster.ts), never from the request. The node
 * the browser reached checks the `Origin` (its `Host` is the one the browser used) before
 * forwarding, and signs the forwarded request (`X-Switchboard-Forward-Auth`), so the owner accepts
 * it without a second origin check against its own address. A node without a cluster key has no
 * registry entries of other nodes and so forwards nothing.
 */
import { log } from '../util/log.ts';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { FORWARD_AUTH_HEADER, signForward, verifyForward } from './cluster-trust.ts';
import type { NodeCore } from './core.ts';
import { sendJson } from './http-host.ts';

export const FORWARDED_HEADER = 'x-switchboard-forwarded';

/** The owner tag for a node name, as put after the '.' of a session key. */
export function ownerTag(nodeName: string): string {
  return Buffer.from(nodeName, 'utf8').toString('base64url');
}

/** The node name a session key names, or null when the key has no (valid) owner tag. */
export function keyOwner(key: string): string | null {
  const dot = key.indexOf('.');
  if (dot === -1 || key.length > 200) return null;
  const tag = key.slice(dot + 1);
  if (!/^[A-Za-z0-9_-]{1,176}$/.test(tag)) return null;
  return Buffer.from(tag, 'base64url').toString('utf8');
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/**
 * Proxies `req` to the node that owns its session when that is not this node. Returns true when
 * the request was handled here (forwarded, or answered with an error), false to serve it locally.
 */
export function forwardIfForeign(node: NodeCore, req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  if (url.pathname !== '/connection/sse' && url.pathname !== '/connection/poll') return false;
  const key = url.searchParams.get('session');
  if (!key) return false;
  const owner = keyOwner(key);
  if (owner === null || owner === node.options.name) return false;
  if (req.headers[FORWARDED_HEADER]) return false; // already forwarded once: answer locally (404)
  // The one origin check for this request: here, where Host is what the browser sent.
  if (!node.originAllowed(req)) {
    log.refused('origin_not_allowed', `${url.pathname} request refused: origin not allowed (allowedOrigins)`, { ip: req.socket.remoteAddress, origin: req.headers.origin?.slice(0, 200), host: req.headers.host?.slice(0, 200) });
    sendJson(res, 403, { error: { code: 403, message: 'origin not allowed' } });
    return true;
  }
  const signKey = node.clusterKey;
  const entry = signKey === null ? undefined : node.clusterInfo().find((n) => n.name === owner);
  if (signKey === null || !entry || entry.stale) {
    const why = signKey === null ? ' (this node has no clusterSecret, so it forwards nothing)' : '';
    sendJson(res, 404, { error: { code: 404, message: `unknown session: its node "${owner.slice(0, 64)}" is not in the cluster${why}` } });
    return true;
  }
  node.stats.forwarded++;
  const path = url.pathname + url.search;
  // The owner's advertised URL may carry its `path` prefix (an embedded node): keep it.
  const base = new URL(entry.url);
  const target = new URL(base.pathname.replace(/\/+$/, '') + path, base);
  const method = req.method ?? 'GET';
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  headers[FORWARDED_HEADER] = node.options.name;
  headers[FORWARD_AUTH_HEADER] = signForward(signKey, node.options.name, method, path, node.clock.now());
  headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
  const out = request(target, { method, headers }, (up) => {
    const h: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) h[k] = v;
    res.writeHead(up.statusCode ?? 502, h);
    // Streams (SSE) must reach the client as they come.
    res.flushHeaders();
    up.pipe(res);
  });
  out.on('error', (err) => {
    if (!res.headersSent) sendJson(res, 502, { error: { code: 502, message: `session's node unreachable: ${err.message}` } });
    else res.destroy();
  });
  res.on('close', () => out.destroy());
  req.pipe(out);
  return true;
}

/**
 * Whether `req` was forwarded here by a node of this cluster: it names the node and carries a
 * fresh proof, signed with the cluster key, for exactly this method and request target. Such a
 * request had its origin checked by the forwarding node.
 */
export function forwardedByPeer(node: NodeCore, req: IncomingMessage): boolean {
  const from = req.headers[FORWARDED_HEADER];
  const proof = req.headers[FORWARD_AUTH_HEADER];
  if (node.clusterKey === null || typeof from !== 'string' || typeof proof !== 'string' || from === node.options.name) return false;
  return verifyForward(node.clusterKey, proof, from, req.method ?? 'GET', req.url ?? '', node.clock.now());
}
