/**
 * What the SSE and long-polling transports share: a session addressed by key whose downstream is a
 * series of HTTP responses (one stream, or one held poll at a time) and whose upstream is POSTs
 * (upstream.ts). The subclass owns the downstream; this class owns the lifecycle around it:
 *
 * States: open → (session closed) closing → done, or open → done when the client was absent (no
 * stream / no poll) for `absenceTimeout`. In "closing" the session's last frames, the `disconnect`
 * frame included, wait for the client until delivered or the absence timeout, so it learns why.
 */
import type { Disconnect } from '../../protocol/codes.ts';
import { disconnect } from '../../protocol/codes.ts';
import type { Format } from '../../server/format.ts';
import type { Transport, TransportHandler } from '../../server/transport.ts';
import type { Clock, TimerHandle } from '../../util/clock.ts';
import type { HttpTransportOptions } from './options.ts';
import { Upstream, type UpstreamTarget } from './upstream.ts';

/** Bytes held for the client past which write() reports backpressure (as on WebSocket). */
export const HIGH_WATERMARK = 64 * 1024;

/** What an HTTP session transport needs from its endpoint. */
export interface HttpSessionHost<T> {
  readonly clock: Clock;
  readonly options: HttpTransportOptions;
  readonly maxMessageBytes: number;
  /** The transport is finished: forget its key, remember why it ended. */
  ended(t: T, d: Disconnect): void;
}

export type HttpSessionState = 'open' | 'closing' | 'done';

export abstract class HttpSessionTransport<T extends HttpSessionTransport<T>> implements Transport, UpstreamTarget {
  abstract readonly kind: 'sse' | 'poll';
  abstract readonly format: Format;
  readonly upstream: Upstream;
  protected handler: TransportHandler | null = null;
  protected state: HttpSessionState = 'open';
  protected closedWith: Disconnect | null = null;
  private absence: TimerHandle | undefined;
  private needDrain = false;

  constructor(
    readonly key: string,
    readonly remoteAddress: string,
    protected readonly host: HttpSessionHost<T>,
  ) {
    this.upstream = new Upstream(this, () => ({ maxBytes: host.maxMessageBytes, maxQueued: host.options.maxQueuedPosts }));
  }

  setHandler(handler: TransportHandler): void {
    this.handler = handler;
  }

  abstract get bufferedBytes(): number;
  abstract write(chunks: readonly Buffer[]): boolean;
  abstract close(d: Disconnect): void;

  pause(): void {
    this.upstream.pause();
  }

  resume(): void {
    this.upstream.resume();
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

  // ---- for subclasses --------------------------------------------------------------------------

  /** After a write: false (and a later onDrain) once the client's backlog passes the watermark. */
  protected belowWatermark(): boolean {
    const ok = this.bufferedBytes < HIGH_WATERMARK;
    if (!ok) this.needDrain = true;
    return ok;
  }

  /** The backlog may have shrunk: tells the session to write again if it was told to stop. */
  protected checkDrain(): void {
    if (this.needDrain && this.bufferedBytes < HIGH_WATERMARK) {
      this.needDrain = false;
      this.handler?.onDrain();
    }
  }

  /** The client is here (a stream or a poll arrived): the absence clock stops. */
  protected present(): void {
    this.host.clock.clearTimeout(this.absence);
    this.absence = undefined;
  }

  /** The client is gone for now: the session ends unless it comes back within `absenceTimeout`. */
  protected startAbsence(): void {
    if (this.state === 'done') return;
    this.host.clock.clearTimeout(this.absence);
    this.absence = this.host.clock.setTimeout(() => this.onAbsent(), this.host.options.absenceTimeout * 1000);
  }

  /** Whether a downstream response (stream or held poll) is open right now. */
  protected abstract get attached(): boolean;

  /** What the client was missing, for the disconnect reason: "no SSE stream", "no poll". */
  protected abstract readonly absentWhat: string;

  /** Ends the downstream and drops what is queued for it (the session is over). */
  protected abstract release(d: Disconnect): void;

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
    if (this.state === 'done' || this.attached) return;
    if (this.state === 'closing') return this.finish(this.closedWith!);
    const d = disconnect('connectionClosed', { reason: `${this.absentWhat} for ${this.host.options.absenceTimeout} s` });
    this.closedWith = d;
    this.finish(d);
    this.handler?.onClose(1006, d.reason);
  }

  /** Ends for good: the downstream is released, the key forgotten. */
  protected finish(d: Disconnect): void {
    this.state = 'done';
    this.present();
    this.release(d);
    this.upstream.drain();
    this.host.ended(this as unknown as T, d);
  }
}
