/**
 * HTTP plumbing shared by the SSE and long-polling transports: JSON error answers, CORS, the
 * request-body reader and the content-type check. No session logic here.
 *
 * (Shared by both transports; it lives in `sse/` only because that is where it was written first.)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Disconnect } from '../../protocol/codes.ts';
import type { SessionContext } from '../../server/context.ts';
import type { Session } from '../../server/session.ts';

/**
 * What the HTTP transports need from their node: the SessionContext (to create Sessions) plus
 * registration and admission. `NodeCore` (server/core.ts) satisfies it.
 */
export interface HttpTransportHost extends SessionContext {
  /** Null when a new session from `ip` may be created, else the HTTP refusal (draining, connection limits). */
  admit(ip: string): { status: number; message: string; retryAfter: string } | null;
  originAllowed(req: IncomingMessage): boolean;
  route(handler: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>): void;
  /** Registers a session; `pending` ones (not yet connected) do not count against maxConnections until they connect. */
  addSession(s: Session, opts?: { pending?: boolean }): void;
  /** Appended to session keys so any node can tell which node holds the session. */
  readonly sessionKeyTag?: string;
}

export type Headers = Record<string, string>;

/** Answers `{"error":{"code":status,"message"},"disconnect"?}`, the same shape as the node's own errors. */
export function sendError(res: ServerResponse, status: number, message: string, opts: { headers?: Headers; disconnect?: Disconnect | null } = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body: Record<string, unknown> = { error: { code: status, message } };
  if (opts.disconnect) body.disconnect = wireDisconnect(opts.disconnect);
  const json = JSON.stringify(body);
  res.writeHead(status, {
    ...opts.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(json)),
    'Cache-Control': 'no-store',
  });
  res.end(json);
}

/** A Disconnect as the protocol's `disconnect` frame carries it (no `t`). */
export function wireDisconnect(d: Disconnect): Record<string, unknown> {
  const o: Record<string, unknown> = { code: d.code, reason: d.reason, reconnect: d.reconnect };
  if (d.delay !== undefined) o.delay = d.delay;
  return o;
}

/**
 * CORS response headers for an allowed request (the caller checked `originAllowed`). No
 * credentials: the session key travels in the URL, never in a cookie, so a cross-origin page gains
 * nothing from the user's cookies here.
 */
export function corsHeaders(req: IncomingMessage): Headers {
  const origin = req.headers.origin;
  return origin ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {};
}

/** Answers a CORS preflight (https://fetch.spec.whatwg.org/#http-cors-protocol). */
export function sendPreflight(res: ServerResponse, cors: Headers): void {
  res.writeHead(204, {
    ...cors,
    'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
    'Access-Control-Allow-Headers': 'Content-Type, Last-Event-ID',
    'Access-Control-Max-Age': '600',
    'Content-Length': '0',
  });
  res.end();
}

/**
 * Upstream bodies must be `application/json` or `text/plain` (UTF-8). `text/plain` is accepted so
 * that cross-origin browsers can POST without a preflight (it is a CORS-safelisted type).
 */
export function acceptableBodyType(header: string | undefined): boolean {
  if (!header) return false;
  const [type, ...params] = header.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'application/json' && type !== 'text/plain') return false;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq === -1) continue;
    if (p.slice(0, eq).trim() === 'charset' && p.slice(eq + 1).trim().replace(/^"|"$/g, '') !== 'utf-8') return false;
  }
  return true;
}

export const TOO_LARGE = Symbol('tooLarge');

/** Bytes of an oversized body we read and throw away (to keep the connection usable) before dropping the socket. */
const DISCARD_LIMIT = 1 << 20;

/**
 * Reads a request body of at most `max` bytes. Resolves TOO_LARGE as soon as it is exceeded; the
 * rest is then discarded (up to DISCARD_LIMIT, past which the socket is destroyed). Rejects when
 * the request is aborted.
 */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer | typeof TOO_LARGE> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer): void => {
      n += c.length;
      if (n <= max) {
        chunks.push(c);
        return;
      }
      cleanup();
      discard(req);
      resolve(TOO_LARGE);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, n));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('request aborted'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Reads and drops the rest of a body, up to DISCARD_LIMIT. */
export function discard(req: IncomingMessage): void {
  let dropped = 0;
  req.on('data', (c: Buffer) => {
    dropped += c.length;
    if (dropped > DISCARD_LIMIT) req.socket.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/** Parses a non-negative integer query/header value; undefined when absent, NaN when malformed. */
export function parseSeq(v: string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  return /^\d{1,15}$/.test(v) ? Number(v) : NaN;
}
