/**
 * Commands in flight on one connection: ids, reply routing, timeouts, and the outbox that batches
 * every frame issued in the same event-loop turn into one transport message (the protocol allows
 * several frames per message), split so no message exceeds `maxMessageBytes`.
 */
import { MAX_FRAMES_PER_MESSAGE, type Codec } from '../protocol/codec.ts';
import type { ErrReply, OkReply } from '../protocol/frames.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import { ClientError, ConnectionLostError, MessageTooLargeError, NotConnectedError, ServerError, TimeoutError } from './errors.ts';
import type { ClientTransport } from './transport.ts';

/** Reply callbacks of one command. Sync, so a reply is applied before the frames that follow it. */
export interface ReplyHandlers {
  ok(reply: Record<string, unknown>): void;
  err(error: Error): void;
  /** The connection ended before the reply. */
  lost(): void;
}

interface Pending extends ReplyHandlers {
  timer: TimerHandle;
}

interface OutItem {
  frame: Record<string, unknown>;
  id?: number;
}

export class CommandChannel {
  private transport: ClientTransport | undefined;
  private readonly pending = new Map<number, Pending>();
  private outbox: OutItem[] = [];
  private flushScheduled = false;
  private nextId = 1;

  constructor(
    /** The codec of this connection. */
    readonly codec: Codec,
    private readonly clock: Clock,
    private readonly limits: { timeout: number; maxMessageBytes: number },
  ) {}

  /** Commands waiting for their reply. */
  get inflight(): number {
    return this.pending.size;
  }

  /** Whether a transport is attached. */
  get attached(): boolean {
    return this.transport !== undefined;
  }

  attach(transport: ClientTransport): void {
    this.transport = transport;
  }

  /**
   * Detaches the transport (the caller closes it): unsent frames are dropped and every command in
   * flight gets `lost()`.
   */
  detach(): void {
    this.transport = undefined;
    this.outbox = [];
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      this.clock.clearTimeout(p.timer);
      p.lost();
    }
  }

  /** Sends a command and waits for its reply. */
  request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.send(frame, {
        ok: resolve,
        err: reject,
        lost: () => reject(new ConnectionLostError(`connection lost before the reply to "${String(frame.t)}"`)),
      });
    });
  }

  /** Sends a command with sync reply callbacks; `err(NotConnectedError)` without a transport. */
  send(frame: Record<string, unknown>, handlers: ReplyHandlers): void {
    if (!this.transport) {
      handlers.err(new NotConnectedError('not connected'));
      return;
    }
    const id = this.nextId++;
    const timer = this.clock.setTimeout(() => {
      if (this.pending.delete(id)) handlers.err(new TimeoutError(`no reply to "${String(frame.t)}" within ${this.limits.timeout} ms`));
    }, this.limits.timeout);
    this.pending.set(id, { ...handlers, timer });
    this.push({ frame: { ...frame, id }, id });
  }

  /** Sends a frame that has no reply (pong). Dropped without a transport. */
  sendNoReply(frame: Record<string, unknown>): void {
    if (this.transport) this.push({ frame });
  }

  /** Routes an `ok` / `err` reply to its command. Unknown ids (timed out) are ignored. */
  onReply(f: OkReply | ErrReply): void {
    const p = this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id);
    this.clock.clearTimeout(p.timer);
    if (f.t === 'ok') p.ok(f);
    else p.err(new ServerError(f.code, f.message, f.temporary));
  }

  private push(item: OutItem): void {
    this.outbox.push(item);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const items = this.outbox;
    this.outbox = [];
    const t = this.transport;
    if (!t) return;
    for (let i = 0; i < items.length; i += MAX_FRAMES_PER_MESSAGE) this.sendChunk(t, items.slice(i, i + MAX_FRAMES_PER_MESSAGE));
  }

  /** Encodes frames into one message; halves the chunk while it exceeds `maxMessageBytes`. */
  private sendChunk(t: ClientTransport, items: OutItem[]): void {
    let bytes: Uint8Array | undefined;
    let failure: Error | undefined;
    try {
      bytes = this.codec.encodeMany(items.map((i) => i.frame));
    } catch (err) {
      failure = new ClientError(`cannot encode "${String(items[0]?.frame.t)}" with ${this.codec.name}`, { cause: err });
    }
    if (bytes && bytes.length <= this.limits.maxMessageBytes) {
      t.send(bytes);
      return;
    }
    if (items.length > 1) {
      const half = Math.ceil(items.length / 2);
      this.sendChunk(t, items.slice(0, half));
      this.sendChunk(t, items.slice(half));
      return;
    }
    // One frame that cannot go: fail that command locally rather than have the server close the
    // connection (WebSocket close 1009; 3504 on SSE and long polling).
    const item = items[0];
    if (item?.id === undefined) return;
    const p = this.pending.get(item.id);
    if (!p) return;
    this.pending.delete(item.id);
    this.clock.clearTimeout(p.timer);
    p.err(failure ?? new MessageTooLargeError(`"${String(item.frame.t)}" is ${bytes?.length} bytes, more than maxMessageBytes (${this.limits.maxMessageBytes})`));
  }
}
