/**
 * The long-polling endpoint, `/connection/poll`:
 * - `GET` without `session`: a new session, answered at once with its key;
 * - `GET ?session=KEY&ack=SEQ`: the next batch, held up to `pollTimeout` when there is none;
 * - `POST ?session=KEY`: upstream frames; `DELETE ?session=KEY`: the client leaves; `OPTIONS`:
 *   CORS preflight (all three in ../http/endpoint.ts).
 * Wire details: docs/protocol.md, "Long polling".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpSessionEndpoint, installOnce } from '../http/endpoint.ts';
import { parseSeq, sendError, type Headers, type HttpTransportHost } from '../http/http.ts';
import type { HttpTransportOptions } from '../http/options.ts';
import { PollTransport, type PollHost } from './transport.ts';

export const POLL_PATH = '/connection/poll';

export class PollEndpoint extends HttpSessionEndpoint<PollTransport> implements PollHost {
  constructor(node: HttpTransportHost, options: Partial<HttpTransportOptions> = {}) {
    super(node, POLL_PATH, options);
  }

  protected get(req: IncomingMessage, res: ServerResponse, url: URL, cors: Headers): void {
    const key = url.searchParams.get('session');
    if (key === null) {
      const t = this.open(req, res, cors, (k, ip) => new PollTransport(k, ip, this));
      t?.greet(res, cors);
      return;
    }
    const ack = parseSeq(url.searchParams.get('ack'));
    if (Number.isNaN(ack)) return sendError(res, 400, 'ack must be a non-negative integer', { headers: cors });
    const t = this.find(key, res, cors);
    if (t) t.poll(res, cors, ack);
  }
}

const installed = new WeakMap<HttpTransportHost, PollEndpoint>();

/** Serves long polling on `node` at `/connection/poll` (again: applies `options` to the installed endpoint). */
export function installPolling(node: HttpTransportHost, options: Partial<HttpTransportOptions> = {}): PollEndpoint {
  return installOnce(installed, node, options, () => new PollEndpoint(node, options));
}
