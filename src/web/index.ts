/**
 * The demo page and the browser SDK, served by the node:
 * - `GET /` — the demo chat (src/web/static/index.html, app.js, style.css);
 * - `GET /sdk/switchboard.js` — the SDK as one browser ESM file, built with esbuild on the first
 *   request and kept in memory (sdk.ts), so `npm install && npm start` needs no build step;
 * - `GET /sdk/switchboard.<hash>.js` — the same bytes under a content-hashed name (`<hash>`: 16 hex
 *   digits of the SHA-256 of the bundle), cached for a year as `immutable`; any other hash is 404;
 * - `GET /sdk/manifest.json` — `{js, integrity, hash, types}`: where the hashed file is (relative to
 *   the manifest) and its Subresource Integrity value, for pages that pin the SDK;
 * - `GET /sdk/switchboard.d.ts` — its types, generated from the SDK's sources on `npm install`
 *   (scripts/build-sdk-types.ts; generated on first request if missing).
 *
 * Static files are read once and cached with an ETag (a hash of the content); everything answers
 * `HEAD` too. The unhashed SDK files and the manifest revalidate on every use (`no-cache` + ETag,
 * 304), and `/sdk/switchboard.js` names its hashed twin in a `Link: <…>; rel="canonical"` header.
 * /sdk/* carries CORS headers for the origins in `allowedOrigins` (see sdkCorsHeaders), so a page
 * on another origin can `import` the SDK.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteHandler } from '../server/core.ts';
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
  if (allowed.includes('*')) return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': EXPOSED };
  const h: Record<string, string> = { Vary: 'Origin' };
  if (origin && allowed.includes(origin)) {
    h['Access-Control-Allow-Origin'] = origin;
    h['Access-Control-Expose-Headers'] = EXPOSED;
  }
  return h;
}

/** Response headers a cross-origin page may read from /sdk/* (fetch). */
const EXPOSED = 'ETag, Link';

/** `Cache-Control` of a content-hashed file: its URL changes with its bytes, so it never needs revalidating. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The SDK bundle's content hash as used in its file name: 16 hex digits of SHA-256. */
export function sdkHash(js: Buffer | string): string {
  return createHash('sha256').update(js).digest('hex').slice(0, 16);
}

/** Shape of `/sdk/manifest.json`. */
export interface SdkManifest {
  /** The hashed bundle, relative to the manifest's URL: `switchboard.<hash>.js`. */
  js: string;
  /** Its Subresource Integrity value (`sha384-…`), for `<script integrity>` or an import map. */
  integrity: string;
  /** The content hash in `js`. */
  hash: string;
  /** The declarations, relative to the manifest's URL (not hashed: they revalidate). */
  types: string;
}

const HASHED_SDK = /^\/sdk\/switchboard\.([0-9a-f]{16})\.js$/;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

interface SdkAsset extends Asset {
  hash: string;
  manifest: Asset;
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

function sdkAsset(js: string): SdkAsset {
  const a = asset(js, 'text/javascript; charset=utf-8');
  const hash = sdkHash(a.body);
  const m: SdkManifest = {
    js: `switchboard.${hash}.js`,
    integrity: `sha384-${createHash('sha384').update(a.body).digest('base64')}`,
    hash,
    types: 'switchboard.d.ts',
  };
  return { ...a, hash, manifest: asset(JSON.stringify(m), 'application/json; charset=utf-8') };
}

/**
 * Sends `a` with its ETag (304 on a matching If-None-Match). `cache` defaults to `no-cache`:
 * revalidate every time — cheap (304), and a restarted dev server never serves a stale SDK.
 */
function send(req: IncomingMessage, res: ServerResponse, a: Asset, extra: Record<string, string> = {}, cache = 'no-cache'): void {
  const headers = {
    ...extra,
    'Content-Type': a.type,
    ETag: a.etag,
    'Cache-Control': cache,
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
 * Registers the demo and SDK routes on `node`. Call once per node (the NodeCore
 * constructor does).
 */
export function installWeb(node: WebHost): void {
  const cache = new Map<string, Promise<Asset>>();
  // One key, one kind of asset (the SDK key always holds an SdkAsset), hence the cast.
  const cached = <T extends Asset>(key: string, make: () => Promise<T>): Promise<T> => {
    let p = cache.get(key);
    if (!p) {
      p = make();
      cache.set(key, p);
      p.catch(() => cache.delete(key)); // a failed build or read is retried on the next request
    }
    return p as Promise<T>;
  };

  node.route(async (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = url.pathname;
    const cors = path.startsWith('/sdk/') ? sdkCorsHeaders(node.options.allowedOrigins, req.headers.origin) : {};
    const hashed = HASHED_SDK.exec(path);
    if (path === '/sdk/switchboard.js' || path === '/sdk/manifest.json' || hashed) {
      let a: SdkAsset;
      try {
        a = await cached('/sdk/switchboard.js', async () => sdkAsset((await loadSdk()).js));
      } catch (err) {
        const msg = `cannot build the SDK bundle: ${(err as Error).message}`;
        res.writeHead(503, { ...cors, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(msg);
        return true;
      }
      if (path === '/sdk/manifest.json') send(req, res, a.manifest, cors);
      else if (!hashed) send(req, res, a, { ...cors, Link: `<switchboard.${a.hash}.js>; rel="canonical"` });
      else if (hashed[1] === a.hash) send(req, res, a, cors, IMMUTABLE);
      else {
        // Another build's name (an older or newer node): not these bytes, and not cacheable.
        res.writeHead(404, { ...cors, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(`no SDK build ${hashed[1]} on this node; the current one is switchboard.${a.hash}.js (see /sdk/manifest.json)`);
      }
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
