/**
 * The long-polling client transport (docs/protocol.md "Long polling"):
 * - `GET /connection/poll` opens a session and answers `{"session":KEY,"seq":0,"frames":[]}`;
 * - `GET ?session=KEY&ack=N` returns the next batch `{"seq":M,"frames":[…]}`, held up to the
 *   server's `pollTimeout` when there is nothing to send;
 * - `POST ?session=KEY` carries client frames (http-upstream.ts).
 *
 * Exactly once: a batch is processed only if its `seq` is newer than the last processed one, and
 * the next poll acknowledges it (`ack`). A response lost on the way is redelivered by the server
 * with the same seq, so nothing is lost; a copy that arrives twice is dropped here.
 *
 * One poll is in flight at a time. A failed poll (network) is retried once after a short delay
 * (same ack: the server redelivers); a second failure, or an HTTP error, closes the transport.
 */
import { endpointUrl, leaveSession, linkSignal, withQuery } from './endpoint.ts';
import { errorClose, PostQueue } from './http-upstream.ts';
import { resolveFetch } from './transport-sse.ts';
import type { ClientTransport, FetchLike, TransportClose, TransportContext, TransportEvents, TransportFactory } from './transport.ts';

const RETRY_DELAY = 500;

interface Batch {
  session?: unknown;
  seq?: unknown;
  frames?: unknown;
}

async function readBatch(res: Response): Promise<{ seq: number; frames: unknown[]; session?: string }> {
  const b = (await res.json()) as Batch;
  if (typeof b !== 'object' || b === null || typeof b.seq !== 'number' || !Number.isSafeInteger(b.seq) || b.seq < 0 || !Array.isArray(b.frames)) {
    throw new Error('poll answer is not {"seq":N,"frames":[…]}');
  }
  const out: { seq: number; frames: unknown[]; session?: string } = { seq: b.seq, frames: b.frames };
  if (typeof b.session === 'string') out.session = b.session;
  return out;
}

class PollTransport implements ClientTransport {
  readonly name = 'poll';
  private key = '';
  private seq = 0;
  private closed = false;
  private upstream: PostQueue | undefined;
  private abort = new AbortController();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly url: string,
    private readonly fetchFn: FetchLike,
    private readonly maxMessageBytes: number,
    private readonly events: TransportEvents,
  ) {}

  async open(signal: AbortSignal | undefined): Promise<ClientTransport> {
    const onAbort = (): void => this.abort.abort();
    signal?.addEventListener('abort', onAbort);
    try {
      const res = await this.fetchFn(this.url, { signal: this.abort.signal, cache: 'no-store' });
      if (!res.ok) throw new Error((await errorClose(res, 'GET')).message);
      const first = await readBatch(res);
      if (!first.session) throw new Error('the first poll answer has no session key');
      this.key = first.session;
      this.seq = first.seq;
    } catch (err) {
      this.closed = true;
      throw signal?.aborted ? new Error('connection attempt aborted') : (err as Error);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    this.upstream = new PostQueue(this.fetchFn, withQuery(this.url, { session: this.key }), this.maxMessageBytes, (c) => this.end(c));
    void this.loop();
    return this;
  }

  send(data: Uint8Array): boolean {
    return this.upstream?.send(data) ?? false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.abort.abort();
    this.upstream?.close();
    leaveSession(this.fetchFn, this.url, this.key);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      // One linked signal per poll, released when its body is read (see linkSignal).
      const link = linkSignal(this.abort.signal);
      try {
        let res: Response;
        try {
          res = await this.fetchFn(withQuery(this.url, { session: this.key, ack: this.seq }), { signal: link.signal, cache: 'no-store' });
        } catch (err) {
          if (this.closed) return;
          if (++failures > 1) return this.end({ code: 1006, reason: `poll failed: ${(err as Error).message}`.slice(0, 120) });
          await new Promise<void>((r) => (this.retryTimer = setTimeout(r, RETRY_DELAY)));
          continue;
        }
        if (this.closed) return;
        if (!res.ok) return this.end(await errorClose(res, 'poll'));
        let batch;
        try {
          batch = await readBatch(res);
        } catch (err) {
          if (this.closed) return;
          // The body broke off mid-way: ask again with the same ack; the server redelivers.
          if (++failures > 1) return this.end({ code: 1006, reason: `poll failed: ${(err as Error).message}`.slice(0, 120) });
          continue;
        }
        failures = 0;
        if (this.closed) return;
        if (batch.seq <= this.seq || batch.frames.length === 0) continue; // a copy already processed, or empty
        this.seq = batch.seq;
        // Frames as one JSON-codec message, decoded by the Client like any other transport's.
        this.events.message(batch.frames.map((f) => JSON.stringify(f)).join('\n'));
      } finally {
        link.unlink();
      }
    }
  }

  private end(close: TransportClose): void {
    if (this.closed) return;
    this.close();
    this.events.close(close);
  }
}

/** The long-polling transport factory (JSON only). */
export const pollTransport: TransportFactory = {
  name: 'poll',
  formats: ['json'],
  create(ctx: TransportContext, events: TransportEvents): Promise<ClientTransport> {
    const t = new PollTransport(endpointUrl(ctx.url, 'poll'), resolveFetch(ctx.fetch), ctx.maxMessageBytes ?? 65536, events);
    return t.open(ctx.signal);
  },
};
