/**
 * SSE transport: one session's downstream as a `text/event-stream` response, which may be
 * replaced by a new stream (EventSource reconnect) without the session noticing; its upstream is
 * POSTs (see upstream.ts). Lifecycle (open → closing → done, absence) in http/transport.ts.
 *
 * "closing" matters here because a session can end while no stream is open (slow consumer, server
 * disconnect): its last events, the `disconnect` frame included, wait for a reconnecting stream
 * until the absence timeout, so the client learns why.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { disconnect, type Disconnect } from '../../protocol/codes.ts';
import type { Format } from '../../server/format.ts';
import type { TimerHandle } from '../../util/clock.ts';
import { eventBytes, KEEPALIVE, sessionEventBytes, sseJson } from './format.ts';
import { sendError, type Headers } from '../http/http.ts';
import { HttpSessionTransport, type HttpSessionHost } from '../http/transport.ts';
import { EventRing } from './ring.ts';

/** Headers proxies need to pass a stream through unbuffered and untransformed. */
const STREAM_HEADERS: Headers = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
};

/** What an SseTransport needs from its endpoint. */
export type SseHost = HttpSessionHost<SseTransport>;

export class SseTransport extends HttpSessionTransport<SseTransport> {
  readonly kind = 'sse' as const;
  readonly format: Format = sseJson;
  protected readonly absentWhat = 'no SSE stream';
  private readonly ring: EventRing;
  private res: ServerResponse | null = null;
  private lastWriteAt = 0;
  private keepalive: TimerHandle | undefined;

  constructor(key: string, remoteAddress: string, host: SseHost) {
    super(key, remoteAddress, host);
    this.ring = new EventRing(() => ({ maxEvents: host.options.sseRetainEvents, maxBytes: host.options.sseRetainBytes }));
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
    return this.belowWatermark();
  }

  close(d: Disconnect): void {
    if (this.state !== 'open') return;
    this.closedWith = d;
    this.upstream.drain();
    if (this.res) this.finish(d);
    else this.state = 'closing'; // the last events wait for a reconnect (or the absence timeout)
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
    this.present();
    req.socket.setNoDelay(true);
    res.writeHead(200, { ...STREAM_HEADERS, ...cors });
    this.res = res;
    res.on('close', () => this.onStreamClose(res));
    res.on('drain', () => this.checkDrain());
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
      this.checkDrain();
    }
  }

  protected get attached(): boolean {
    return this.res !== null;
  }

  private send(res: ServerResponse, buf: Buffer): void {
    this.lastWriteAt = this.host.clock.now();
    res.write(buf);
  }

  private ping(): void {
    const res = this.res;
    if (res && this.host.clock.now() - this.lastWriteAt >= this.host.options.sseKeepalive * 1000) this.send(res, KEEPALIVE);
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
    this.startAbsence();
  }

  /** The session is over: the stream (if any) is ended after what was written. */
  protected release(): void {
    const res = this.res;
    if (res) {
      this.detach(res);
      res.end();
    }
    this.ring.clear();
  }
}
