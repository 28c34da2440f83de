/**
 * What the SSE and long-polling endpoints share: one path, the origin check and CORS, OPTIONS
 * preflights, `POST ?session=KEY` (upstream frames), `DELETE ?session=KEY` (the client leaves),
 * the session-key registry, and creating a session for a new transport. Each subclass says only
 * what its `GET` means (an event stream, or a poll).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Disconnect } from '../../protocol/codes.ts';
import { Session } from '../../server/session.ts';
import { admissionReason, log } from '../../util/log.ts';
import type { Transport } from '../../server/transport.ts';
import { corsHeaders, sendError, sendPreflight, type Headers, type HttpTransportHost } from './http.ts';
import { newSessionKey, SessionKeys } from './keys.ts';
import { PendingSessions } from './pending.ts';
import { resolveHttpTransportOptions, type HttpTransportOptions } from './options.ts';
import type { Upstream } from './upstream.ts';

/** A transport an HttpSessionEndpoint manages. */
export interface HttpSessionTransport extends Transport {
  readonly key: string;
  readonly upstream: Upstream;
  setHandler(session: Session): void;
  /** The client ended the session (DELETE). */
  leave(): void;
}

export abstract class HttpSessionEndpoint<T extends HttpSessionTransport> {
  options: HttpTransportOptions;
  readonly keys: SessionKeys<T>;

  constructor(
    protected readonly node: HttpTransportHost,
    readonly path: string,
    options: Partial<HttpTransportOptions> = {},
  ) {
    this.options = resolveHttpTransportOptions(options);
    this.keys = new SessionKeys(node.clock, () => this.options);
    this.pending = pendingOf(node);
  }

  /** Sessions of this node's HTTP endpoints not yet past connect (shared by SSE and polling). */
  readonly pending: PendingSessions;

  get clock(): HttpTransportHost['clock'] {
    return this.node.clock;
  }

  get maxMessageBytes(): number {
    return this.node.options.maxMessageBytes;
  }

  /** Changes options; timers already running keep their old durations. */
  configure(options: Partial<HttpTransportOptions>): void {
    this.options = resolveHttpTransportOptions(options, this.options);
  }

  /** The transport is finished: forget its key, remember why it ended. */
  ended(t: T, d: Disconnect): void {
    this.keys.end(t.key, d);
  }

  /** What a GET on this endpoint does. */
  protected abstract get(req: IncomingMessage, res: ServerResponse, url: URL, cors: Headers): void;

  /** The route handler. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname !== this.path) return false;
    if (!this.node.originAllowed(req)) {
      log.refused('origin_not_allowed', `${this.path} request refused: origin not allowed (allowedOrigins)`, { ip: req.socket.remoteAddress, origin: req.headers.origin?.slice(0, 200), host: req.headers.host?.slice(0, 200) });
      sendError(res, 403, 'origin not allowed');
      return true;
    }
    const cors = corsHeaders(req);
    switch (req.method) {
      case 'OPTIONS':
        sendPreflight(res, cors);
        break;
      case 'GET':
        this.get(req, res, url, cors);
        break;
      case 'POST': {
        const t = this.find(url.searchParams.get('session'), res, cors);
        if (t) t.upstream.post(req, res, cors);
        break;
      }
      case 'DELETE': {
        const t = this.find(url.searchParams.get('session'), res, cors);
        if (t) {
          t.leave();
          res.writeHead(204, cors);
          res.end();
        }
        break;
      }
      default:
        sendError(res, 405, `method ${req.method} not allowed on ${this.path}`, { headers: { ...cors, Allow: 'GET, POST, DELETE, OPTIONS' } });
    }
    return true;
  }

  /**
   * A new session on a new transport, if the node admits one from this address; otherwise answers
   * the refusal (503/429) and returns undefined.
   */
  protected open(req: IncomingMessage, res: ServerResponse, cors: Headers, make: (key: string, ip: string) => T): T | undefined {
    const ip = req.socket.remoteAddress ?? '';
    const refusal = this.node.admit(ip) ?? this.pending.admit(ip, this.options);
    if (refusal) {
      log.refused(admissionReason(refusal.message), `${this.path} session refused: ${refusal.message}`, { ip, status: refusal.status });
      sendError(res, refusal.status, refusal.message, { headers: { ...cors, 'Retry-After': refusal.retryAfter } });
      return undefined;
    }
    const t = make(newSessionKey(this.node.sessionKeyTag), ip);
    const session = new Session(this.node, t);
    t.setHandler(session);
    this.node.addSession(session, { pending: true });
    this.pending.add(session, this.options);
    this.keys.add(t.key, t);
    return t;
  }

  /** The live transport for `key`, or answers 400 / 404 / 410 and returns undefined. */
  protected find(key: string | null, res: ServerResponse, cors: Headers): T | undefined {
    if (key === null) {
      sendError(res, 400, `missing ?session=KEY (the key the first ${this.path} response named)`, { headers: cors });
      return undefined;
    }
    const found = this.keys.lookup(key);
    if (found === null) {
      sendError(res, 404, 'unknown session', { headers: cors });
      return undefined;
    }
    if ('ended' in found) {
      sendError(res, 410, 'session ended', { headers: cors, disconnect: found.ended });
      return undefined;
    }
    return found.live;
  }
}

const pendingByHost = new WeakMap<HttpTransportHost, PendingSessions>();

/** The pending-session registry of `node`, one for all its HTTP endpoints. */
function pendingOf(node: HttpTransportHost): PendingSessions {
  let p = pendingByHost.get(node);
  if (!p) pendingByHost.set(node, (p = new PendingSessions(node.clock)));
  return p;
}

/**
 * Installs an endpoint on `node` once: installing again applies `options` to the installed one
 * (how tests shorten timeouts) instead of adding a second route.
 */
export function installOnce<E extends HttpSessionEndpoint<HttpSessionTransport>>(
  registry: WeakMap<HttpTransportHost, E>,
  node: HttpTransportHost,
  options: Partial<HttpTransportOptions>,
  make: () => E,
): E {
  const existing = registry.get(node);
  if (existing) {
    existing.configure(options);
    return existing;
  }
  const ep = make();
  registry.set(node, ep);
  node.route((req, res, url) => ep.handle(req, res, url));
  return ep;
}
