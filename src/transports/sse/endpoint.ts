/**
 * The SSE endpoint, `/connection/sse`:
 * - `GET` without `session`: a new session; the stream's first event names its key;
 * - `GET ?session=KEY` (+ `Last-Event-ID` header, or `lastEventId` query parameter for EventSource
 *   polyfills that cannot set headers): resume that session's stream after the given event;
 * - `POST ?session=KEY`: upstream frames; `DELETE ?session=KEY`: the client leaves; `OPTIONS`:
 *   CORS preflight (all three in ../http/endpoint.ts).
 * Wire details: docs/protocol.md, "SSE".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpSessionEndpoint, installOnce } from '../http/endpoint.ts';
import { parseSeq, sendError, type Headers, type HttpTransportHost } from '../http/http.ts';
import type { HttpTransportOptions } from '../http/options.ts';
import { SseTransport, type SseHost } from './transport.ts';

export const SSE_PATH = '/connection/sse';

export class SseEndpoint extends HttpSessionEndpoint<SseTransport> implements SseHost {
  constructor(node: HttpTransportHost, options: Partial<HttpTransportOptions> = {}) {
    super(node, SSE_PATH, options);
  }

  protected get(req: IncomingMessage, res: ServerResponse, url: URL, cors: Headers): void {
    const key = url.searchParams.get('session');
    if (key === null) {
      const t = this.open(req, res, cors, (k, ip) => new SseTransport(k, ip, this));
      t?.attach(req, res, cors, 0, false);
      return;
    }
    const t = this.find(key, res, cors);
    if (!t) return;
    // The header wins over the query: an EventSource opened with ?lastEventId=N sends a newer
    // Last-Event-ID header on its own reconnects while the URL keeps the old N.
    const header = req.headers['last-event-id'];
    const lastId = parseSeq(typeof header === 'string' ? header.trim() : url.searchParams.get('lastEventId'));
    if (Number.isNaN(lastId)) return sendError(res, 400, 'Last-Event-ID must be a non-negative integer', { headers: cors });
    t.attach(req, res, cors, lastId ?? 0, true);
  }
}

const installed = new WeakMap<HttpTransportHost, SseEndpoint>();

/** Serves SSE on `node` at `/connection/sse` (again: applies `options` to the installed endpoint). */
export function installSse(node: HttpTransportHost, options: Partial<HttpTransportOptions> = {}): SseEndpoint {
  return installOnce(installed, node, options, () => new SseEndpoint(node, options));
}
