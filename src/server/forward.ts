/**
 * No sticky sessions needed: SSE and long-polling requests carry a session key that names the
 * node holding the session (`<random>.<base64url(node name)>`). A request that lands on another
 * node — a round-robin load balancer does that all the time — is proxied there over HTTP, using
 * the owner's advertised URL from the broker-carried cluster registry. The proxy streams both
 * ways, so long-held polls and SSE streams work through it too.
 *
 * A forwarded request carries `X-Switchboard-Forwarded`, and is never forwarded again (no loops).
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { SwitchboardNode } from './node.ts';
import { sendJson } from './node.ts';

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
export function forwardIfForeign(node: SwitchboardNode, req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  if (url.pathname !== '/connection/sse' && url.pathname !== '/connection/poll') return false;
  const key = url.searchParams.get('session');
  if (!key) return false;
  const owner = keyOwner(key);
  if (owner === null || owner === node.options.name) return false;
  if (req.headers[FORWARDED_HEADER]) return false; // already forwarded once: answer locally (404)
  const entry = node.clusterInfo().find((n) => n.name === owner);
  if (!entry || entry.stale || !entry.url) {
    sendJson(res, 404, { error: { code: 404, message: `unknown session: its node "${owner.slice(0, 64)}" is not in the cluster` } });
    return true;
  }
  node.stats.forwarded++;
  const target = new URL(url.pathname + url.search, entry.url);
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  headers[FORWARDED_HEADER] = node.options.name;
  headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
  const out = request(target, { method: req.method ?? 'GET', headers }, (up) => {
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
