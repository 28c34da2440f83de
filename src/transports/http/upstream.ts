/**
 * The upstream half of the HTTP transports: `POST ?session=KEY` bodies carrying one or more
 * frames (`\n`-separated JSON), handed to the session one body at a time, in the order the
 * requests arrived.
 *
 * Backpressure: while the session is paused (`maxInflight` commands running) no body is read —
 * waiting POSTs stay unread in a bounded queue, so TCP pushes back on the client just as a paused
 * WebSocket does; past `maxQueuedPosts` waiting requests the answer is 429.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Disconnect } from '../../protocol/codes.ts';
import { DisconnectCode } from '../../protocol/codes.ts';
import { acceptableBodyType, discard, readBody, sendError, TOO_LARGE, type Headers } from './http.ts';

/** The transport side of an Upstream. */
export interface UpstreamTarget {
  /** The disconnect the session ended with, or null while it still accepts frames. */
  readonly ended: Disconnect | null;
  /** Hands one body to the session. Returns the disconnect when the session closed while handling it. */
  deliver(body: Buffer): Disconnect | null;
  /** The body passed the size limit: closes the session (3504, as on WebSocket) and returns the disconnect. */
  tooLarge(): Disconnect;
}

interface Waiting {
  req: IncomingMessage;
  res: ServerResponse;
  cors: Headers;
}

export class Upstream {
  private readonly queue: Waiting[] = [];
  private busy = false;
  private paused = false;

  constructor(
    private readonly target: UpstreamTarget,
    private readonly limits: () => { maxBytes: number; maxQueued: number },
  ) {}

  /** Accepts one POST: checks what can be checked before reading, then queues it. */
  post(req: IncomingMessage, res: ServerResponse, cors: Headers): void {
    const ended = this.target.ended;
    if (ended) return this.refuse(req, res, 410, 'session ended', cors, ended);
    if (!acceptableBodyType(req.headers['content-type'])) {
      return this.refuse(req, res, 415, 'Content-Type must be application/json or text/plain (UTF-8)', cors);
    }
    const { maxBytes, maxQueued } = this.limits();
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > maxBytes) {
      const d = this.target.tooLarge();
      return this.refuse(req, res, 413, `body larger than ${maxBytes} bytes`, cors, d);
    }
    if (this.queue.length >= maxQueued) {
      return this.refuse(req, res, 429, 'too many POSTs waiting for this session; wait for answers before sending more', { ...cors, 'Retry-After': '1' });
    }
    this.queue.push({ req, res, cors });
    this.pump();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** The session ended: answer whatever is waiting (410) without reading it. */
  drain(): void {
    this.paused = false;
    this.pump();
  }

  private pump(): void {
    while (!this.busy && (!this.paused || this.target.ended) && this.queue.length > 0) {
      const w = this.queue.shift()!;
      if (w.req.destroyed || w.res.destroyed) continue;
      const ended = this.target.ended;
      if (ended) {
        this.refuse(w.req, w.res, 410, 'session ended', w.cors, ended);
        continue;
      }
      this.busy = true;
      this.handle(w).then(
        () => this.next(),
        () => this.next(),
      );
    }
  }

  private next(): void {
    this.busy = false;
    this.pump();
  }

  private async handle({ req, res, cors }: Waiting): Promise<void> {
    let body: Buffer | typeof TOO_LARGE;
    try {
      body = await readBody(req, this.limits().maxBytes);
    } catch {
      return; // aborted by the client: nothing was delivered
    }
    const ended = this.target.ended;
    if (ended) return sendError(res, 410, 'session ended', { headers: cors, disconnect: ended });
    if (body === TOO_LARGE) {
      const d = this.target.tooLarge();
      return sendError(res, 413, `body larger than ${this.limits().maxBytes} bytes`, { headers: cors, disconnect: d });
    }
    const d = this.target.deliver(body);
    if (d?.code === DisconnectCode.badRequest.code) return sendError(res, 400, d.reason, { headers: cors, disconnect: d });
    if (d?.code === DisconnectCode.messageTooLarge.code) return sendError(res, 413, d.reason, { headers: cors, disconnect: d });
    // Accepted (replies and any other disconnect travel downstream).
    res.writeHead(204, { ...cors, 'Cache-Control': 'no-store' });
    res.end();
  }

  /** Answers without reading the body (which is then discarded so the connection can be reused). */
  private refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: Headers, d?: Disconnect | null): void {
    discard(req);
    sendError(res, status, message, { headers, disconnect: d ?? null });
  }
}
