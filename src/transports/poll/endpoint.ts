/**
 * The long-polling endpoint, `/connection/poll`:
 * - `GET` without `session`: a new session, answered at once with its key;
 * - `GET ?session=KEY&ack=SEQ`: the next batch, held up to `pollTimeout` when there is none;
 * - `POST ?session=KEY`: upstream frames (see ../sse/upstream.ts);
 * - `OPTIONS`: CORS preflight.
 * Wire details: docs/protocol.md, "Long polling".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Disconnect } from '../../protocol/codes.ts';
import { Session } from '../../server/session.ts';
import { corsHeaders, parseSeq, sendError, sendPreflight, type Headers, type HttpTransportHost } from '../sse/http.ts';
import { newSessionKey, SessionKeys } from '../sse/keys.ts';
import { resolveHttpTransportOptions, type HttpTransportOptions } from '../sse/options.ts';
import { PollTransport, type PollHost } from './transport.ts';

export const POLL_PATH = '/connection/poll';

export class PollEndpoint implements PollHost {
  options: HttpTransportOptions;
  readonly keys: SessionKeys<PollTransport>;

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

  ended(t: PollTransport, d: Disconnect): void {
    this.keys.end(t.key, d);
  }

  /** The route handler. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname !== POLL_PATH) return false;
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
        this.get(req, res, url, cors);
        break;
      case 'POST': {
        const t = this.find(url, res, cors);
        if (t) t.upstream.post(req, res, cors);
        break;
      }
      case 'DELETE': {
        const t = this.find(url, res, cors);
        if (t) {
          t.leave();
          res.writeHead(204, cors);
          res.end();
        }
        break;
      }
      default:
        sendError(res, 405, `method ${req.method} not allowed on ${POLL_PATH}`, { headers: { ...cors, Allow: 'GET, POST, DELETE, OPTIONS' } });
    }
    return true;
  }

  private get(req: IncomingMessage, res: ServerResponse, url: URL, cors: Headers): void {
    if (!url.searchParams.has('session')) return this.create(req, res, cors);
    const ack = parseSeq(url.searchParams.get('ack'));
    if (Number.isNaN(ack)) return sendError(res, 400, 'ack must be a non-negative integer', { headers: cors });
    const t = this.find(url, res, cors);
    if (t) t.poll(res, cors, ack);
  }

  private create(req: IncomingMessage, res: ServerResponse, cors: Headers): void {
    const node = this.node;
    const ip = req.socket.remoteAddress ?? '';
    const refusal = node.admit(ip);
    if (refusal) return sendError(res, refusal.status, refusal.message, { headers: { ...cors, 'Retry-After': refusal.retryAfter } });
    const t = new PollTransport(newSessionKey(this.node.sessionKeyTag), ip, this);
    const session = new Session(node, t);
    t.setHandler(session);
    node.addSession(session);
    this.keys.add(t.key, t);
    t.greet(res, cors);
  }

  /** The live transport named by `?session=`, or answers 400 / 404 / 410 and returns undefined. */
  private find(url: URL, res: ServerResponse, cors: Headers): PollTransport | undefined {
    const key = url.searchParams.get('session');
    if (key === null) {
      sendError(res, 400, 'missing ?session=KEY (from the first poll)', { headers: cors });
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

const installed = new WeakMap<HttpTransportHost, PollEndpoint>();

/**
 * Serves long polling on `node` at `/connection/poll`. Installing again on the same node does not
 * add a second route: it applies `options` to the installed endpoint (how tests shorten timeouts,
 * and how the node can pass its configuration once it has some for this transport).
 */
export function installPolling(node: HttpTransportHost, options: Partial<HttpTransportOptions> = {}): PollEndpoint {
  const existing = installed.get(node);
  if (existing) {
    existing.configure(options);
    return existing;
  }
  const ep = new PollEndpoint(node, options);
  installed.set(node, ep);
  node.route((req, res, url) => ep.handle(req, res, url));
  return ep;
}
