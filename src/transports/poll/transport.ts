/**
 * Long-polling transport: one session's downstream as a series of held `GET` responses, each a
 * numbered batch (see batches.ts for the exactly-once rule); its upstream is POSTs (upstream.ts).
 *
 * At most one poll is held per session. A newer poll ends the held one at once with an empty
 * batch and takes its place: the client's newest request is the one it is waiting on, and since
 * batches only advance on acks, superseded polls can neither reorder nor lose frames.
 *
 * Lifecycle (open → closing → done, absence) in http/transport.ts. In "closing" the last batch
 * (ending with the `disconnect` frame) is held for the client until acknowledged or the absence
 * timeout.
 */
import type { ServerResponse } from 'node:http';
import type { Disconnect } from '../../protocol/codes.ts';
import type { Format } from '../../server/format.ts';
import type { TimerHandle } from '../../util/clock.ts';
import { sendError, type Headers } from '../http/http.ts';
import { HttpSessionTransport, type HttpSessionHost } from '../http/transport.ts';
import { BatchQueue } from './batches.ts';
import { emptyBody, pollJson } from './format.ts';

/** What a PollTransport needs from its endpoint. */
export type PollHost = HttpSessionHost<PollTransport>;

interface Held {
  res: ServerResponse;
  cors: Headers;
  timer: TimerHandle;
}

export class PollTransport extends HttpSessionTransport<PollTransport> {
  readonly kind = 'poll' as const;
  readonly format: Format = pollJson;
  protected readonly absentWhat = 'no poll';
  private readonly batches = new BatchQueue();
  private held: Held | null = null;

  // ---- Transport -------------------------------------------------------------------------------

  get bufferedBytes(): number {
    return this.batches.bytes;
  }

  write(chunks: readonly Buffer[]): boolean {
    if (this.state !== 'open' || chunks.length === 0) return false;
    this.batches.push(chunks);
    const held = this.held;
    if (held) this.answer(held.res, held.cors, this.batches.next()!.body);
    return this.belowWatermark();
  }

  close(d: Disconnect): void {
    if (this.state !== 'open') return;
    this.closedWith = d;
    this.state = 'closing';
    this.upstream.drain();
    if (this.batches.empty) this.finish(d); // nothing left to deliver (a held poll gets the 410)
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
    this.present();
    this.checkDrain();
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

  protected get attached(): boolean {
    return this.held !== null;
  }

  /** The session is over: a held poll gets 410 with the disconnect; queued batches are dropped. */
  protected release(d: Disconnect): void {
    const held = this.held;
    if (held) {
      this.held = null;
      this.host.clock.clearTimeout(held.timer);
      sendError(held.res, 410, 'session ended', { headers: held.cors, disconnect: d });
    }
    this.batches.clear();
  }
}
