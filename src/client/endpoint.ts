/**
 * Endpoint URLs of the transports (docs/protocol.md "Transports and codecs"): one client URL, three
 * endpoints. Pure; works in browsers (relative URLs resolve against `location`) and in Node.
 */

/** The transports a node serves, by the last segment of their path. */
export type EndpointKind = 'websocket' | 'sse' | 'poll';

const KNOWN = /\/connection\/(websocket|sse|poll)\/?$/;

function baseHref(): string | undefined {
  const loc = (globalThis as { location?: { href?: string } }).location;
  return typeof loc?.href === 'string' ? loc.href : undefined;
}

/**
 * The URL of `kind`'s endpoint for the client URL `url`.
 *
 * `url` may be a WebSocket URL (`ws://h/connection/websocket`), an HTTP one (`https://h`), a base
 * path (`https://h/realtime`) or, in browsers, relative (`/connection/websocket`). A path ending in
 * `/connection/<transport>` has that segment replaced; any other path gets `/connection/<kind>`
 * appended. The scheme follows the kind: `ws(s)` for websocket, `http(s)` for the others.
 * The query string is kept (e.g. `?format=json`).
 */
export function endpointUrl(url: string, kind: EndpointKind): string {
  const u = new URL(url, baseHref());
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  if (kind === 'websocket') u.protocol = secure ? 'wss:' : 'ws:';
  else u.protocol = secure ? 'https:' : 'http:';
  if (KNOWN.test(u.pathname)) u.pathname = u.pathname.replace(KNOWN, `/connection/${kind}`);
  else u.pathname = `${u.pathname.replace(/\/+$/, '')}/connection/${kind}`;
  return u.toString();
}

/**
 * The key under which the working transport is remembered: scheme-independent host of the node
 * (`ws://h:8000` and `http://h:8000` are the same server) plus its base path.
 */
export function originKey(url: string): string {
  const u = new URL(url, baseHref());
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  return `${secure ? 's' : ''}//${u.host}${u.pathname.replace(KNOWN, '').replace(/\/+$/, '')}`;
}

/** Appends query parameters to a URL string. */
export function withQuery(url: string, params: Record<string, string | number>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
  return u.toString();
}

/**
 * Tells the server an SSE or long-polling session is over (`DELETE ?session=KEY`), so its presence
 * and subscriptions go now instead of after the server's absence timeout. Best effort: a failure
 * only means the server finds out later.
 */
export function leaveSession(fetchFn: (url: string, init?: RequestInit) => Promise<unknown>, url: string, key: string | undefined): void {
  if (!key) return;
  try {
    void fetchFn(withQuery(url, { session: key }), { method: 'DELETE', keepalive: true }).catch(() => {});
  } catch {
    /* fetch threw synchronously: nothing to do */
  }
}

/**
 * A signal for one request that aborts when `parent` does. Passing a long-lived signal straight to
 * many sequential fetches piles up abort listeners on it (undici releases each only when its request
 * is garbage-collected); a linked per-request signal keeps one listener per request in flight.
 * Call `unlink()` when the request (and its body) is done.
 */
export function linkSignal(parent: AbortSignal): { signal: AbortSignal; unlink(): void } {
  const ac = new AbortController();
  if (parent.aborted) {
    ac.abort();
    return { signal: ac.signal, unlink() {} };
  }
  const onAbort = (): void => ac.abort();
  parent.addEventListener('abort', onAbort, { once: true });
  return { signal: ac.signal, unlink: () => parent.removeEventListener('abort', onAbort) };
}
