/**
 * The upstream half of the HTTP transports (SSE and long polling): client frames as `POST
 * ?session=KEY` bodies (docs/protocol.md "SSE", "Long polling").
 *
 * Why one POST at a time: the server hands bodies to the session in the order the requests
 * ARRIVE, and two concurrent fetches may travel on different connections and overtake each other.
 * So messages wait in a queue while a POST is in flight, and the next POST carries everything
 * queued (frames `\n`-separated, as in one WebSocket message), up to the message limits.
 *
 * A failed POST (network error, or an HTTP error) ends the transport: its frames may or may not
 * have reached the session, and the Client's reconnect + recovery (+ idempotent publish resend) is
 * what makes that safe. An error body's `disconnect` (e.g. 410 with the session's end reason) is
 * passed on as the close code.
 */
import { MAX_FRAMES_PER_MESSAGE } from '../protocol/codec.ts';
import type { FetchLike, TransportClose } from './transport.ts';
import { linkSignal } from './endpoint.ts';

/** Above this many queued bytes `send` returns false (backpressure hint). */
const HIGH_WATER_MARK = 1 << 20;
const textDecoder = new TextDecoder();

/** Counts frames in a JSON message (frames are `\n`-separated; JSON text never holds a raw LF). */
function frameCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Reads an HTTP transport error answer: `{"error":{"code","message"},"disconnect"?:{code,reason}}`.
 * Returns the close to report (the disconnect when present; else 3000-range "reconnect" for 5xx
 * and 404/410, the terminal 3501 for other 4xx) and a message naming the status.
 */
export async function errorClose(res: Response, what: string): Promise<TransportClose & { message: string }> {
  let body: { error?: { message?: unknown }; disconnect?: { code?: unknown; reason?: unknown } } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON (a proxy's error page): the status says enough
  }
  const msg = typeof body.error?.message === 'string' ? body.error.message : res.statusText;
  const message = `${what}: HTTP ${res.status}${msg ? ` ${msg}` : ''}`;
  const d = body.disconnect;
  if (d && typeof d.code === 'number') return { code: d.code, reason: typeof d.reason === 'string' ? d.reason : msg, message };
  // 404 unknown / 410 ended session, 429, 5xx, proxies' 502/503/504: reconnect with a new session.
  const reconnect = res.status >= 500 || res.status === 404 || res.status === 410 || res.status === 429 || res.status === 408;
  return { code: reconnect ? 3000 : 3501, reason: message.slice(0, 120), message };
}

export class PostQueue {
  private queue: string[] = [];
  private queuedBytes = 0;
  private busy = false;
  private closed = false;
  private readonly abort = new AbortController();

  /**
   * @param fetchFn the fetch to use
   * @param url the POST URL (`…?session=KEY`)
   * @param maxMessageBytes largest body (the server's `maxMessageBytes`)
   * @param onFail called once when a POST fails; the owner closes the transport with it
   */
  constructor(
    private readonly fetchFn: FetchLike,
    private readonly url: string,
    private readonly maxMessageBytes: number,
    private readonly onFail: (close: TransportClose) => void,
  ) {}

  /** Queues one message (JSON frames). Returns false past the high-water mark or when closed. */
  send(data: Uint8Array): boolean {
    if (this.closed) return false;
    this.queue.push(textDecoder.decode(data));
    this.queuedBytes += data.length;
    this.pump();
    return this.queuedBytes < HIGH_WATER_MARK;
  }

  /** Stops: queued messages are dropped and a POST in flight is aborted. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queuedBytes = 0;
    this.abort.abort();
  }

  private pump(): void {
    if (this.busy || this.closed || this.queue.length === 0) return;
    // Merge queued messages while the body stays within the server's message limits.
    let body = this.queue[0]!;
    let frames = frameCount(body);
    let n = 1;
    while (n < this.queue.length) {
      const next = this.queue[n]!;
      const f = frameCount(next);
      if (frames + f > MAX_FRAMES_PER_MESSAGE || body.length + 1 + next.length > this.maxMessageBytes) break;
      body += '\n' + next;
      frames += f;
      n++;
    }
    for (const m of this.queue.splice(0, n)) this.queuedBytes -= m.length;
    this.busy = true;
    void this.post(body);
  }

  private async post(body: string): Promise<void> {
    let failure: TransportClose | undefined;
    const link = linkSignal(this.abort.signal);
    try {
      // text/plain is a CORS-safelisted type: cross-origin pages POST without a preflight.
      const res = await this.fetchFn(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
        body,
        signal: link.signal,
        cache: 'no-store',
      });
      if (!res.ok) failure = await errorClose(res, 'POST');
      else void res.body?.cancel().catch(() => {});
    } catch (err) {
      failure = { code: 1006, reason: `POST failed: ${(err as Error).message}`.slice(0, 120) };
    } finally {
      link.unlink();
    }
    this.busy = false;
    if (this.closed) return;
    if (failure) {
      this.close();
      this.onFail(failure);
      return;
    }
    this.pump();
  }
}
