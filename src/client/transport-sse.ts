/**
 * The SSE client transport (docs/protocol.md "SSE"): downstream is `GET /connection/sse`, a
 * `text/event-stream` whose first event (`event: session`) names the session key; every other
 * event carries one or more JSON frames (`\n`-separated, exactly a JSON-codec message). Upstream is
 * `POST /connection/sse?session=KEY` (http-upstream.ts). JSON only.
 *
 * The stream is read with `EventSource` where there is one (browsers) and with a streaming `fetch`
 * otherwise (Node has no EventSource). EventSource's own reconnect is NOT used: it would reopen the
 * original URL, which creates a new session. Instead, when a stream breaks, the transport reopens it
 * once with `?session=KEY` and the last event id, so the server replays what was in flight; if that
 * fails the transport closes and the Client reconnects (and recovers through the protocol).
 */
import { endpointUrl, leaveSession, withQuery } from './endpoint.ts';
import { errorClose, PostQueue } from './http-upstream.ts';
import { SseParser, type SseEvent } from './sse-parser.ts';
import type { ClientTransport, EventSourceConstructor, FetchLike, TransportClose, TransportContext, TransportEvents, TransportFactory } from './transport.ts';

/** Delay before reopening a broken stream, ms (lets a flapping network settle a little). */
const RESUME_DELAY = 250;

interface SessionInfo {
  session: string;
  resumed: boolean;
}

function parseSession(data: string): SessionInfo {
  const v = JSON.parse(data) as { session?: unknown; resumed?: unknown };
  if (typeof v.session !== 'string' || v.session === '') throw new Error('SSE session event without a session key');
  return { session: v.session, resumed: v.resumed === true };
}

/** One open stream (an EventSource or a fetch reader), reporting events and its end. */
interface Stream {
  close(): void;
}

interface StreamHandlers {
  onEvent(ev: SseEvent): void;
  /** The stream ended or failed; `close` when the server said why (fetch only). */
  onEnd(reason: string, close?: TransportClose): void;
}

function openEventSource(Ctor: EventSourceConstructor, url: string, h: StreamHandlers): Stream {
  const es = new Ctor(url);
  let done = false;
  const end = (reason: string): void => {
    if (done) return;
    done = true;
    es.close();
    h.onEnd(reason);
  };
  es.addEventListener('session', (ev) => {
    if (!done) h.onEvent({ type: 'session', data: ev.data, lastEventId: ev.lastEventId });
  });
  es.onmessage = (ev) => {
    if (!done) h.onEvent({ type: 'message', data: ev.data, lastEventId: ev.lastEventId });
  };
  // EventSource says nothing about why; a refused request and a dropped stream look the same.
  es.onerror = () => end('SSE stream failed or ended (EventSource error)');
  return { close: () => end('closed') };
}

function openFetchStream(fetchFn: FetchLike, url: string, lastEventId: string, h: StreamHandlers): Stream {
  const abort = new AbortController();
  let done = false;
  const end = (reason: string, close?: TransportClose): void => {
    if (done) return;
    done = true;
    abort.abort();
    h.onEnd(reason, close);
  };
  void (async () => {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId) headers['Last-Event-ID'] = lastEventId;
    const res = await fetchFn(url, { headers, signal: abort.signal, cache: 'no-store' });
    if (!res.ok) {
      const c = await errorClose(res, 'GET');
      return end(c.message, c);
    }
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream')) return end(`GET: expected text/event-stream, got "${type}"`);
    if (!res.body) return end('GET: response has no body');
    const parser = new SseParser((ev) => {
      if (!done) h.onEvent(ev);
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done: eof } = await reader.read();
      if (eof || done) break;
      parser.push(value);
    }
    end('SSE stream ended');
  })().catch((err: unknown) => end(`SSE stream failed: ${(err as Error).message}`));
  return { close: () => end('closed') };
}

class SseTransport implements ClientTransport {
  readonly name = 'sse';
  private stream: Stream | undefined;
  private upstream: PostQueue | undefined;
  private key = '';
  private lastEventId = '';
  private closed = false;
  private resuming = false;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private opened: { resolve(t: ClientTransport): void; reject(err: Error): void } | undefined;

  constructor(
    private readonly url: string,
    private readonly fetchFn: FetchLike,
    private readonly EventSourceCtor: EventSourceConstructor | null,
    private readonly maxMessageBytes: number,
    private readonly events: TransportEvents,
  ) {}

  /** Opens the first stream; resolves on its `session` event. */
  open(signal: AbortSignal | undefined): Promise<ClientTransport> {
    return new Promise((resolve, reject) => {
      this.opened = { resolve, reject };
      signal?.addEventListener('abort', () => this.fail('connection attempt aborted'));
      if (signal?.aborted) return;
      this.stream = this.openStream(this.url);
    });
  }

  send(data: Uint8Array): boolean {
    return this.upstream?.send(data) ?? false;
  }

  close(): void {
    if (this.closed) return;
    this.end({ code: 1000, reason: 'closed by client' }, false);
    leaveSession(this.fetchFn, this.url, this.key);
  }

  private openStream(url: string): Stream {
    const h: StreamHandlers = { onEvent: (ev) => this.onEvent(ev), onEnd: (reason, close) => this.onStreamEnd(reason, close) };
    return this.EventSourceCtor ? openEventSource(this.EventSourceCtor, url, h) : openFetchStream(this.fetchFn, url, this.lastEventId, h);
  }

  private onEvent(ev: SseEvent): void {
    if (this.closed) return;
    if (ev.type === 'session') {
      let info: SessionInfo;
      try {
        info = parseSession(ev.data);
      } catch (err) {
        this.fail((err as Error).message);
        return;
      }
      this.resuming = false;
      if (!this.key) {
        this.key = info.session;
        this.upstream = new PostQueue(this.fetchFn, withQuery(this.url, { session: info.session }), this.maxMessageBytes, (c) => this.end(c, true));
        const o = this.opened;
        this.opened = undefined;
        o?.resolve(this);
      }
      return;
    }
    if (ev.type !== 'message' || !this.key) return;
    this.lastEventId = ev.lastEventId;
    this.events.message(ev.data);
  }

  private onStreamEnd(reason: string, close?: TransportClose): void {
    if (this.closed) return;
    this.stream = undefined;
    if (!this.key) return this.fail(reason);
    if (close) return this.end(close, true); // the server said why (e.g. 410 + the session's disconnect)
    if (this.resuming) return this.end({ code: 1006, reason: `SSE resume failed: ${reason}`.slice(0, 120) }, true);
    // One resume attempt: the server replays the events after lastEventId.
    this.resuming = true;
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (this.closed) return;
      const params: Record<string, string> = { session: this.key };
      if (this.lastEventId) params.lastEventId = this.lastEventId;
      this.stream = this.openStream(withQuery(this.url, params));
    }, RESUME_DELAY);
  }

  /** Failure before the session event: reject the open. */
  private fail(reason: string): void {
    const o = this.opened;
    this.opened = undefined;
    this.end({ code: 1006, reason }, false);
    o?.reject(new Error(reason));
  }

  private end(close: TransportClose, notify: boolean): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resumeTimer);
    this.stream?.close();
    this.stream = undefined;
    this.upstream?.close();
    if (notify && !this.opened) this.events.close(close);
  }
}

/** Resolves `fetch`: the option, else the platform's. */
export function resolveFetch(explicit?: FetchLike): FetchLike {
  if (explicit) return explicit;
  const f = (globalThis as { fetch?: FetchLike }).fetch;
  if (!f) throw new Error('no fetch available: pass options.fetch');
  return f.bind(globalThis);
}

/** The SSE transport factory (JSON only). */
export const sseTransport: TransportFactory = {
  name: 'sse',
  formats: ['json'],
  create(ctx: TransportContext, events: TransportEvents): Promise<ClientTransport> {
    const fetchFn = resolveFetch(ctx.fetch);
    const ES = ctx.eventSource === null ? null : (ctx.eventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource ?? null);
    const t = new SseTransport(endpointUrl(ctx.url, 'sse'), fetchFn, ES, ctx.maxMessageBytes ?? 65536, events);
    return t.open(ctx.signal);
  },
};
