/**
 * The SSE endpoint, `/connection/sse`:
 * - `GET` without `session`: a new session; the stream's first event names its key;
 * - `GET ?session=KEY` (+ `Last-Event-ID` header, or `lastEventId` query parameter for EventSource
 *   polyfills that cannot set headers): resume that session's stream after the given event;
 * - `POST ?session=KEY`: upstream frames (see upstream.ts);
 * - `OPTIONS`: CORS preflight.
 * Wire details: docs/protocol.md, "SSE".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Disconnect } from '../../protocol/codes.ts';
import { Session } from '../../server/session.ts';
import { corsHeaders, parseSeq, sendError, sendPreflight, type Headers, type HttpTransportHost } from './http.ts';
import { newSessionKey, SessionKeys } from './keys.ts';
import { resolveHttpTransportOptions, type HttpTransportOptions } from './options.ts';
import { SseTransport, type SseHost } from './transport.ts';

export const SSE_PATH = '/connection/sse';

export class SseEndpoint implements SseHost {
  options: HttpTransportOptions;
  readonly keys: SessionKeys<SseTransport>;

  constructor(
    private readonly node: HttpTransportHost,
    options: Partial<HttpTransportOptions> = {},
  ) {
    this.options = resolveHttpTransportOptions(options);
    this.keys = new SessionKeys(node.clock, () => this.options);
  }

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

  ended(t: SseTransport, d: Disconnect): void {
    this.keys.end(t.key, d);
  }

  /** The route handler. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname !== SSE_PATH) return false;
    if (!this.node.originAllowed(req)) {
      sendError(res, 403, 'origin not allowed');
      return true;
    }
    const cors = corsHeaders(req);
    switch (req.method) {
      case 'OPTIONS':
        sendPreflight(res, cors);
        break;
      case 'GET':
        this.stream(req, res, url, cors);
        break;
      case 'POST':
        this.post(req, res, url, cors);
        break;
      case 'DELETE': {
        const key = url.searchParams.get('session');
        if (key === null) {
          sendError(res, 400, 'DELETE needs ?session=KEY', { headers: cors });
          break;
        }
        const t = this.find(key, res, cors);
        if (t) {
          t.leave();
          res.writeHead(204, cors);
          res.end();
        }
        break;
      }
      default:
        sendError(res, 405, `method ${req.method} not allowed on ${SSE_PATH}`, { headers: { ...cors, Allow: 'GET, POST, DELETE, OPTIONS' } });
    }
    return true;
  }

  private stream(req: IncomingMessage, res: ServerResponse, url: URL, cors: Headers): void {
    const key = url.searchParams.get('session');
    if (key === null) return this.create(req, res, cors);
    const t = this.find(key, res, cors);
    if (!t) return;
    // The header wins over the query: an EventSource opened with ?lastEventId=N sends a newer
    // Last-Event-ID header on its own reconnects while the URL keeps the old N.
    const header = req.headers['last-event-id'];
    const lastId = parseSeq(typeof header === 'string' ? header.trim() : url.searchParams.get('lastEventId'));
    if (Number.isNaN(lastId)) return sendError(res, 400, 'Last-Event-ID must be a non-negative integer', { headers: cors });
    t.attach(req, res, cors, lastId ?? 0, true);
  }

  private create(req: IncomingMessage, res: ServerResponse, cors: Headers): void {
    const node = this.node;
    const ip = req.socket.remoteAddress ?? '';
    const refusal = node.admit(ip);
    if (refusal) return sendError(res, refusal.status, refusal.message, { headers: { ...cors, 'Retry-After': refusal.retryAfter } });
    const t = new SseTransport(newSessionKey(this.node.sessionKeyTag), ip, this);
    const session = new Session(node, t);
    t.setHandler(session);
    node.addSession(session);
    this.keys.add(t.key, t);
    t.attach(req, res, cors, 0, false);
  }

  private post(req: IncomingMessage, res: ServerResponse, url: URL, cors: Headers): void {
    const key = url.searchParams.get('session');
    if (key === null) return sendError(res, 400, 'POST needs ?session=KEY (from the stream\'s first event)', { headers: cors });
    const t = this.find(key, res, cors);
    if (t) t.upstream.post(req, res, cors);
  }

  /** The live transport for `key`, or answers 404 / 410 and returns undefined. */
  private find(key: string, res: ServerResponse, cors: Headers): SseTransport | undefined {
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

const installed = new WeakMap<HttpTransportHost, SseEndpoint>();

/**
 * Serves SSE on `node` at `/connection/sse`. Installing again on the same node does not add a
 * second route: it applies `options` to the installed endpoint (how tests shorten timeouts, and
 * how the node can pass its configuration once it has some for this transport).
 */
export function installSse(node: HttpTransportHost, options: Partial<HttpTransportOptions> = {}): SseEndpoint {
  const existing = installed.get(node);
  if (existing) {
    existing.configure(options);
    return existing;
  }
  const ep = new SseEndpoint(node, options);
  installed.set(node, ep);
  node.route((req, res, url) => ep.handle(req, res, url));
  return ep;
}
