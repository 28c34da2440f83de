/**
 * SSE transport: one session's downstream as a `text/event-stream` response, which may be
 * replaced by a new stream (EventSource reconnect) without the session noticing; its upstream is
 * POSTs (see upstream.ts).
 *
 * States: open → (session closed) closing → done, or open → done when the session was absent (no
 * stream) for `absenceTimeout`. "closing" exists because a session can end while no stream is open
 * (slow consumer, server disconnect): its last events, the `disconnect` frame included, wait for a
 * reconnecting stream until the absence timeout, so the client learns why.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { disconnect, type Disconnect } from '../../protocol/codes.ts';
import type { Format } from '../../server/format.ts';
import type { Transport, TransportHandler } from '../../server/transport.ts';
import type { Clock, TimerHandle } from '../../util/clock.ts';
import { eventBytes, KEEPALIVE, sessionEventBytes, sseJson } from './format.ts';
import { sendError, type Headers } from '../http/http.ts';
import type { HttpTransportOptions } from '../http/options.ts';
import { EventRing } from './ring.ts';
import { Upstream, type UpstreamTarget } from '../http/upstream.ts';

/** Response buffer size past which write() reports backpressure (as on WebSocket). */
const HIGH_WATERMARK = 64 * 1024;

/** Headers proxies need to pass a stream through unbuffered and untransformed. */
const STREAM_HEADERS: Headers = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
};

/** What an SseTransport needs from its endpoint. */
export interface SseHost {
  readonly clock: Clock;
  readonly options: HttpTransportOptions;
  readonly maxMessageBytes: number;
  /** The transport is finished: forget its key, remember why it ended. */
  ended(t: SseTransport, d: Disconnect): void;
}

type State = 'open' | 'closing' | 'done';

export class SseTransport implements Transport, UpstreamTarget {
  readonly kind = 'sse' as const;
  readonly format: Format = sseJson;
  readonly upstream: Upstream;
  private handler: TransportHandler | null = null;
  private state: State = 'open';
  private closedWith: Disconnect | null = null;
  private readonly ring: EventRing;
  private res: ServerResponse | null = null;
  private lastWriteAt = 0;
  private keepalive: TimerHandle | undefined;
  private absence: TimerHandle | undefined;
  private needDrain = false;

  constructor(
    readonly key: string,
    readonly remoteAddress: string,
    private readonly host: SseHost,
  ) {
    this.ring = new EventRing(() => ({ maxEvents: host.options.sseRetainEvents, maxBytes: host.options.sseRetainBytes }));
    this.upstream = new Upstream(this, () => ({ maxBytes: host.maxMessageBytes, maxQueued: host.options.maxQueuedPosts }));
  }

  setHandler(handler: TransportHandler): void {
    this.handler = handler;
  }

  // ---- Transport -------------------------------------------------------------------------------

  get bufferedBytes(): number {
    return this.res ? this.res.writableLength : this.ring.unwrittenBytes;
  }

  write(chunks: readonly Buffer[]): boolean {
    if (this.state !== 'open' || chunks.length === 0) return false;
    const res = this.res;
    const ev = this.ring.push(chunks, res !== null);
    if (res) this.send(res, eventBytes(ev.seq, ev.chunks));
    const ok = this.bufferedBytes < HIGH_WATERMARK;
    if (!ok) this.needDrain = true;
    return ok;
  }

  pause(): void {
    this.upstream.pause();
  }

  resume(): void {
    this.upstream.resume();
  }

  close(d: Disconnect): void {
    if (this.state !== 'open') return;
    this.closedWith = d;
    this.upstream.drain();
    if (this.res) this.finish(d);
    else this.state = 'closing'; // the last events wait for a reconnect (or the absence timeout)
  }

  // ---- UpstreamTarget --------------------------------------------------------------------------

  get ended(): Disconnect | null {
    return this.state === 'open' ? null : this.closedWith;
  }

  deliver(body: Buffer): Disconnect | null {
    this.handler?.onMessage(body);
    return this.ended;
  }

  tooLarge(): Disconnect {
    if (this.state === 'open') this.handler?.onTransportError(disconnect('messageTooLarge', { reason: `message too large (max ${this.host.maxMessageBytes} bytes)` }));
    return this.closedWith ?? disconnect('messageTooLarge');
  }

  // ---- streams ---------------------------------------------------------------------------------

  /**
   * Makes `res` this session's stream, replacing (ending) any open one, and replays the events
   * after `lastId` (0: the client has none). `resumed` is false for the stream that created the
   * session. When the events after `lastId` are no longer retained the session is closed with
   * `3009 insufficient state` (reconnect, then recover through the protocol).
   */
  attach(req: IncomingMessage, res: ServerResponse, cors: Headers, lastId: number, resumed: boolean): void {
    if (this.state === 'done') return sendError(res, 410, 'session ended', { headers: cors, disconnect: this.closedWith });
    let replay;
    try {
      replay = this.ring.resumeAfter(lastId);
    } catch (err) {
      return sendError(res, 400, (err as Error).message, { headers: cors });
    }
    const old = this.res;
    if (old) {
      this.detach(old);
      old.end();
    }
    this.host.clock.clearTimeout(this.absence);
    this.absence = undefined;
    req.socket.setNoDelay(true);
    res.writeHead(200, { ...STREAM_HEADERS, ...cors });
    this.res = res;
    res.on('close', () => this.onStreamClose(res));
    res.on('drain', () => this.onResDrain());
    this.send(res, sessionEventBytes(this.key, resumed, this.ring.lastSeq));
    if (replay === null && this.state === 'closing') {
      // Too late for a clean resume, but the session is over anyway: its last events (ending with
      // the disconnect frame) tell the client why.
      replay = this.ring.resumeAfter(this.ring.oldestSeq - 1);
    }
    if (replay === null) {
      this.ring.clear();
      this.handler?.onTransportError(disconnect('insufficientState', { reason: `SSE resume after event ${lastId}: later events are no longer retained` }));
      return;
    }
    for (const ev of replay) this.send(res, eventBytes(ev.seq, ev.chunks));
    if (this.state === 'closing') return this.finish(this.closedWith!);
    if (this.state === 'open') {
      this.keepalive = this.host.clock.setInterval(() => this.ping(), (this.host.options.sseKeepalive * 1000) / 3);
      this.onResDrain();
    }
  }

  /** No stream is open: the session ends unless one is opened within `absenceTimeout`. */
  private startAbsence(): void {
    this.host.clock.clearTimeout(this.absence);
    this.absence = this.host.clock.setTimeout(() => this.onAbsent(), this.host.options.absenceTimeout * 1000);
  }

  private send(res: ServerResponse, buf: Buffer): void {
    this.lastWriteAt = this.host.clock.now();
    res.write(buf);
  }

  private ping(): void {
    const res = this.res;
    if (res && this.host.clock.now() - this.lastWriteAt >= this.host.options.sseKeepalive * 1000) this.send(res, KEEPALIVE);
  }

  private onResDrain(): void {
    if (this.needDrain && this.bufferedBytes < HIGH_WATERMARK) {
      this.needDrain = false;
      this.handler?.onDrain();
    }
  }

  private detach(res: ServerResponse): void {
    if (this.res !== res) return;
    this.res = null;
    this.host.clock.clearInterval(this.keepalive);
    this.keepalive = undefined;
  }

  private onStreamClose(res: ServerResponse): void {
    if (this.res !== res) return;
    this.detach(res);
    if (this.state !== 'done') this.startAbsence();
  }

  /**
   * The client ended the session itself (`DELETE ?session=KEY`): closed at once, as a WebSocket
   * close with 1000 would, so presence and leave events do not wait for the absence timeout.
   */
  leave(): void {
    if (this.state === 'done') return;
    const d = disconnect('connectionClosed', { reason: 'client left' });
    this.closedWith = d;
    this.finish(d);
    this.handler?.onClose(1000, d.reason);
  }

  private onAbsent(): void {
    this.absence = undefined;
    if (this.state === 'done' || this.res) return;
    if (this.state === 'closing') return this.finish(this.closedWith!);
    const secs = this.host.options.absenceTimeout;
    const d = disconnect('connectionClosed', { reason: `no SSE stream for ${secs} s` });
    this.closedWith = d;
    this.finish(d);
    this.handler?.onClose(1006, d.reason);
  }

  /** Ends for good: the stream (if any) is ended after what was written, the key is forgotten. */
  private finish(d: Disconnect): void {
    this.state = 'done';
    this.host.clock.clearTimeout(this.absence);
    this.absence = undefined;
    const res = this.res;
    if (res) {
      this.detach(res);
      res.end();
    }
    this.ring.clear();
    this.upstream.drain();
    this.host.ended(this, d);
  }
}
