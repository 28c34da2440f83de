/**
 * The publish pipeline: send now when connected, else queue (bounded, {@link OfflineQueue});
 * resend publishes whose ack was lost with the connection (same idempotency key, so the server
 * stores them once); retry publishes refused with a temporary error after a backoff.
 *
 * Order: publishes go out in call order, queued ones first after a reconnect. A publish refused
 * with a temporary error (111 too many requests, 114, 100) is retried after a delay and may
 * therefore land after publishes made later.
 */
import type { StreamPosition } from '../protocol/frames.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import { backoffDelay } from './backoff.ts';
import type { ReplyHandlers } from './commands.ts';
import { ConnectionLostError, ServerError } from './errors.ts';
import { replyPosition } from './inbound.ts';
import { OfflineQueue, type QueuedPublish } from './offline-queue.ts';

export interface PublisherHost {
  /** Whether publishes can go out now. */
  isConnected(): boolean;
  send(frame: Record<string, unknown>, handlers: ReplyHandlers): void;
  /** Error 109 on a publish: refresh the token (single flight); undefined when impossible. */
  refreshToken: (() => void) | undefined;
}

export interface PublisherOptions {
  maxOfflineQueue: number;
  idempotencyKeys: boolean;
  publishRetries: number;
  minDelay: number;
  maxDelay: number;
  clock: Clock;
  random: () => number;
}

function randomPrefix(): string {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint32Array) => Uint32Array } }).crypto;
  const a = new Uint32Array(2);
  if (c?.getRandomValues) c.getRandomValues(a);
  else for (let i = 0; i < a.length; i++) a[i] = Math.floor(Math.random() * 2 ** 32);
  return Array.from(a, (n) => n.toString(36)).join('');
}

export class Publisher {
  private readonly queue: OfflineQueue;
  private readonly retries = new Map<TimerHandle, QueuedPublish>();
  private seq = 0;
  /** Keys are `<random per client>-<seq>`: unique across clients, cheap to make. */
  private readonly keyPrefix = randomPrefix();

  constructor(
    private readonly host: PublisherHost,
    private readonly opts: PublisherOptions,
  ) {
    this.queue = new OfflineQueue(opts.maxOfflineQueue);
  }

  /** Publishes waiting for a connection. */
  get queued(): number {
    return this.queue.size;
  }

  publish(channel: string, data: unknown, key: string | undefined): Promise<StreamPosition> {
    return new Promise<StreamPosition>((resolve, reject) => {
      const k = key ?? (this.opts.idempotencyKeys ? `${this.keyPrefix}-${this.seq}` : undefined);
      const entry: QueuedPublish = { seq: this.seq++, channel, data, key: k, attempts: 0, resolve, reject };
      if (this.host.isConnected()) {
        this.send(entry);
        return;
      }
      try {
        this.queue.enqueue(entry);
      } catch (err) {
        reject(err as Error);
      }
    });
  }

  /** Connected: sends everything queued, oldest first. */
  flush(): void {
    for (const entry of this.queue.drain()) this.send(entry);
  }

  /** Rejects every queued and retrying publish. */
  close(err: Error): void {
    this.queue.rejectAll(err);
    for (const [timer, entry] of this.retries) {
      this.opts.clock.clearTimeout(timer);
      entry.reject(err);
    }
    this.retries.clear();
  }

  private send(entry: QueuedPublish): void {
    entry.attempts++;
    const frame: Record<string, unknown> = { t: 'pub', ch: entry.channel, data: entry.data };
    if (entry.key !== undefined) frame.key = entry.key;
    this.host.send(frame, {
      ok: (reply) => {
        try {
          entry.resolve(replyPosition(reply, 'pub'));
        } catch (err) {
          entry.reject(err as Error);
        }
      },
      err: (err) => this.onError(entry, err),
      lost: () => {
        // Resent after reconnecting: with its key the server publishes it at most once.
        if (entry.key !== undefined) this.queue.requeue(entry);
        else entry.reject(new ConnectionLostError('connection lost before the publish was acknowledged (no idempotency key, so it is not resent; its outcome is unknown)'));
      },
    });
  }

  private onError(entry: QueuedPublish, err: Error): void {
    const expired = err instanceof ServerError && err.code === 109 && this.host.refreshToken !== undefined;
    const retryable = err instanceof ServerError && (err.temporary || expired);
    if (!retryable || entry.key === undefined || entry.attempts > this.opts.publishRetries) {
      entry.reject(err);
      return;
    }
    if (expired) this.host.refreshToken?.();
    const timer = this.opts.clock.setTimeout(() => {
      this.retries.delete(timer);
      if (this.host.isConnected()) this.send(entry);
      else this.queue.requeue(entry);
    }, backoffDelay(entry.attempts - 1, this.opts, this.opts.random, 100));
    this.retries.set(timer, entry);
  }
}
