/**
 * The demo page and the browser SDK, served by the node:
 * - `GET /` — the demo chat (src/web/static/index.html, app.js, style.css);
 * - `GET /sdk/switchboard.js` — the SDK as one browser ESM file, built with esbuild on the first
 *   request and kept in memory (sdk.ts), so `npm install && npm start` needs no build step;
 * - `GET /sdk/switchboard.d.ts` — its types, generated from the SDK's sources on `npm install`
 *   (scripts/build-sdk-types.ts; generated on first request if missing).
 *
 * Static files are read once and cached with an ETag (a hash of the content); everything answers
 * `HEAD` too. /sdk/* carries CORS headers for the origins in `allowedOrigins` (see sdkCorsHeaders),
 * so a page on another origin can `import` the SDK.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteHandler } from '../server/node.ts';
import { loadSdk, loadSdkTypes } from './sdk.ts';

/** What installWeb needs from a node. */
export interface WebHost {
  route(handler: RouteHandler): void;
  /** `allowedOrigins` also says which other origins may load /sdk/* (CORS). */
  readonly options: { readonly allowedOrigins: readonly string[] };
}

/**
 * The `Access-Control-Allow-Origin` of an /sdk/* reply: `*` when `allowedOrigins` has `*`, the
 * request's origin when it is listed, none otherwise (same origin only, the default). A page on
 * another origin that may connect to this node may also import its SDK.
 */
export function sdkCorsHeaders(allowed: readonly string[], origin: string | undefined): Record<string, string> {
  if (allowed.includes('*')) return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'ETag' };
  const h: Record<string, string> = { Vary: 'Origin' };
  if (origin && allowed.includes(origin)) {
    h['Access-Control-Allow-Origin'] = origin;
    h['Access-Control-Expose-Headers'] = 'ETag';
  }
  return h;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

const staticDir = new URL('./static/', import.meta.url);
const typesFile = new URL('./sdk/switchboard.d.ts', import.meta.url);

function asset(body: Buffer | string, type: string): Asset {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return { body: b, type, etag: `"${createHash('sha1').update(b).digest('base64url').slice(0, 20)}"` };
}

function send(req: IncomingMessage, res: ServerResponse, a: Asset, extra: Record<string, string> = {}): void {
  const headers = {
    ...extra,
    'Content-Type': a.type,
    ETag: a.etag,
    // Revalidate every time: cheap (304) and a restarted dev server never serves a stale SDK.
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  };
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Length': String(a.body.length) });
  res.end(req.method === 'HEAD' ? undefined : a.body);
}

/**
 * Registers the demo and SDK routes on `node`. Call once per node (the SwitchboardNode
 * constructor does).
 */
export function installWeb(node: WebHost): void {
  const cache = new Map<string, Promise<Asset>>();
  const cached = (key: string, make: () => Promise<Asset>): Promise<Asset> => {
    let p = cache.get(key);
    if (!p) {
      p = make();
      cache.set(key, p);
      p.catch(() => cache.delete(key)); // a failed build or read is retried on the next request
    }
    return p;
  };

  node.route(async (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = url.pathname;
    const cors = path.startsWith('/sdk/') ? sdkCorsHeaders(node.options.allowedOrigins, req.headers.origin) : {};
    if (path === '/sdk/switchboard.js') {
      let a: Asset;
      try {
        a = await cached(path, async () => asset((await loadSdk()).js, 'text/javascript; charset=utf-8'));
      } catch (err) {
        const msg = `cannot build the SDK bundle: ${(err as Error).message}`;
        res.writeHead(503, { ...cors, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(msg);
        return true;
      }
      send(req, res, a, cors);
      return true;
    }
    if (path === '/sdk/switchboard.d.ts') {
      let a: Asset;
      try {
        a = await cached(path, async () => asset(await loadSdkTypes(typesFile), 'text/plain; charset=utf-8'));
      } catch (err) {
        res.writeHead(503, { ...cors, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(`cannot generate the SDK declarations: ${(err as Error).message}`);
        return true;
      }
      send(req, res, a, cors);
      return true;
    }
    const s = STATIC[path];
    if (!s) return false;
    send(req, res, await cached(path, async () => asset(await readFile(new URL(s.file, staticDir)), s.type)));
    return true;
  });
}
