/**
 * Long-polling transport: one session's downstream as a series of held `GET` responses, each a
 * numbered batch (see batches.ts for the exactly-once rule); its upstream is POSTs (upstream.ts).
 *
 * At most one poll is held per session. A newer poll ends the held one at once with an empty
 * batch and takes its place: the client's newest request is the one it is waiting on, and since
 * batches only advance on acks, superseded polls can neither reorder nor lose frames.
 *
 * States: open → (session closed) closing → done, or open → done when no poll came for
 * `absenceTimeout`. In "closing" the last batch (ending with the `disconnect` frame) is held for
 * the client until acknowledged or the absence timeout.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { disconnect, type Disconnect } from '../../protocol/codes.ts';
import type { Format } from '../../server/format.ts';
import type { Transport, TransportHandler } from '../../server/transport.ts';
import type { Clock, TimerHandle } from '../../util/clock.ts';
import { sendError, type Headers } from '../http/http.ts';
import type { HttpTransportOptions } from '../http/options.ts';
import { Upstream, type UpstreamTarget } from '../http/upstream.ts';
import { BatchQueue } from './batches.ts';
import { emptyBody, pollJson } from './format.ts';

/** Bytes held for the client past which write() reports backpressure (as on WebSocket). */
const HIGH_WATERMARK = 64 * 1024;

/** What a PollTransport needs from its endpoint. */
export interface PollHost {
  readonly clock: Clock;
  readonly options: HttpTransportOptions;
  readonly maxMessageBytes: number;
  /** The transport is finished: forget its key, remember why it ended. */
  ended(t: PollTransport, d: Disconnect): void;
}

interface Held {
  res: ServerResponse;
  cors: Headers;
  timer: TimerHandle;
}

type State = 'open' | 'closing' | 'done';

export class PollTransport implements Transport, UpstreamTarget {
  readonly kind = 'poll' as const;
  readonly format: Format = pollJson;
  readonly upstream: Upstream;
  private handler: TransportHandler | null = null;
  private state: State = 'open';
  private closedWith: Disconnect | null = null;
  private readonly batches = new BatchQueue();
  private held: Held | null = null;
  private absence: TimerHandle | undefined;
  private needDrain = false;

  constructor(
    readonly key: string,
    readonly remoteAddress: string,
    private readonly host: PollHost,
  ) {
    this.upstream = new Upstream(this, () => ({ maxBytes: host.maxMessageBytes, maxQueued: host.options.maxQueuedPosts }));
  }

  setHandler(handler: TransportHandler): void {
    this.handler = handler;
  }

  // ---- Transport -------------------------------------------------------------------------------

  get bufferedBytes(): number {
    return this.batches.bytes;
  }

  write(chunks: readonly Buffer[]): boolean {
    if (this.state !== 'open' || chunks.length === 0) return false;
    this.batches.push(chunks);
    const held = this.held;
    if (held) this.answer(held.res, held.cors, this.batches.next()!.body);
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
    this.state = 'closing';
    this.upstream.drain();
    if (this.batches.empty) this.finish(d); // nothing left to deliver (a held poll gets the 410)
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

  // ---- polls -----------------------------------------------------------------------------------

  /** Answers a fresh session's first request: its key, and an empty batch 0. */
  greet(res: ServerResponse, cors: Headers): void {
    this.answer(res, cors, Buffer.from(`{"session":${JSON.stringify(this.key)},"seq":0,"frames":[]}`));
  }

  /**
   * One poll: applies `ack` (undefined: acknowledges nothing new), supersedes a held poll, then
   * answers with a batch at once or holds until frames come or `pollTimeout` passes.
   */
  poll(res: ServerResponse, cors: Headers, ack: number | undefined): void {
    if (this.state === 'done') return sendError(res, 410, 'session ended', { headers: cors, disconnect: this.closedWith });
    if (ack !== undefined && !this.batches.ack(ack)) {
      return sendError(res, 400, `ack ${ack} is ahead of the newest batch`, { headers: cors });
    }
    const old = this.held;
    if (old) this.answer(old.res, old.cors, emptyBody(this.batches.acked));
    this.host.clock.clearTimeout(this.absence);
    this.absence = undefined;
    if (this.needDrain && this.bufferedBytes < HIGH_WATERMARK) {
      this.needDrain = false;
      this.handler?.onDrain();
    }
    const batch = this.batches.next();
    if (batch) return this.answer(res, cors, batch.body);
    if (this.state === 'closing') {
      // Everything, the disconnect frame included, was delivered and acknowledged.
      sendError(res, 410, 'session ended', { headers: cors, disconnect: this.closedWith });
      return this.finish(this.closedWith!);
    }
    const timer = this.host.clock.setTimeout(() => {
      if (this.held?.res === res) this.answer(res, cors, emptyBody(this.batches.acked));
    }, this.host.options.pollTimeout * 1000);
    this.held = { res, cors, timer };
    res.on('close', () => {
      if (this.held?.res !== res) return;
      // The client gave up on this poll before an answer: nothing was taken from the queue.
      this.host.clock.clearTimeout(timer);
      this.held = null;
      this.startAbsence();
    });
  }

  /** Sends a poll response; the session is then without a poll until the next one comes. */
  private answer(res: ServerResponse, cors: Headers, body: Buffer): void {
    if (this.held?.res === res) {
      this.host.clock.clearTimeout(this.held.timer);
      this.held = null;
    }
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(200, { ...cors, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.length), 'Cache-Control': 'no-store' });
      res.end(body);
    }
    if (!this.held) this.startAbsence();
  }

  private startAbsence(): void {
    if (this.state === 'done') return;
    this.host.clock.clearTimeout(this.absence);
    this.absence = this.host.clock.setTimeout(() => this.onAbsent(), this.host.options.absenceTimeout * 1000);
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
    if (this.state === 'done' || this.held) return;
    if (this.state === 'closing') return this.finish(this.closedWith!);
    const d = disconnect('connectionClosed', { reason: `no poll for ${this.host.options.absenceTimeout} s` });
    this.closedWith = d;
    this.finish(d);
    this.handler?.onClose(1006, d.reason);
  }

  private finish(d: Disconnect): void {
    this.state = 'done';
    this.host.clock.clearTimeout(this.absence);
    this.absence = undefined;
    const held = this.held;
    if (held) {
      this.held = null;
      this.host.clock.clearTimeout(held.timer);
      sendError(held.res, 410, 'session ended', { headers: held.cors, disconnect: d });
    }
    this.batches.clear();
    this.upstream.drain();
    this.host.ended(this, d);
  }
}
