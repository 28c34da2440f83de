/**
 * The bounded queue of publishes waiting for a connection.
 *
 * Bound and policy: at most `max` publishes made while offline; one more is rejected (the NEWEST,
 * so what the app published first is what survives) with {@link OfflineQueueFullError}. Publishes
 * that were already accepted and sent, and whose ack was lost with the connection, are put back
 * with {@link OfflineQueue.requeue} regardless of the bound: refusing them now would turn an
 * accepted publish into a lost one.
 *
 * Order: entries are kept sorted by `seq` (the order the app called publish), so requeued in-flight
 * entries go back in front of later ones.
 */
import { OfflineQueueFullError } from './errors.ts';

export interface QueuedPublish {
  /** Order of the publish call, increasing. */
  seq: number;
  channel: string;
  data: unknown;
  /** Idempotency key; resends carry the same key so the server publishes at most once. */
  key: string | undefined;
  /** Number of times this publish was sent. */
  attempts: number;
  resolve(position: { epoch: string; offset: number }): void;
  reject(err: Error): void;
}

export class OfflineQueue {
  private items: QueuedPublish[] = [];

  /** @param max most publishes accepted while offline (requeued ones excepted) */
  constructor(readonly max: number) {}

  get size(): number {
    return this.items.length;
  }

  /** Adds a new publish. Throws OfflineQueueFullError when `max` are already queued. */
  enqueue(item: QueuedPublish): void {
    if (this.items.length >= this.max) {
      throw new OfflineQueueFullError(`offline publish queue is full (${this.max} publications waiting; option maxOfflineQueue)`);
    }
    this.insert(item);
  }

  /** Puts back a publish that was sent but not acknowledged. Never refused. */
  requeue(item: QueuedPublish): void {
    this.insert(item);
  }

  /** Removes and returns every entry, oldest first. */
  drain(): QueuedPublish[] {
    const out = this.items;
    this.items = [];
    return out;
  }

  /** Rejects and removes every entry. */
  rejectAll(err: Error): void {
    for (const item of this.drain()) item.reject(err);
  }

  private insert(item: QueuedPublish): void {
    // Appends are the common case; requeued entries are older, so search from the end.
    let i = this.items.length;
    while (i > 0 && this.items[i - 1]!.seq > item.seq) i--;
    this.items.splice(i, 0, item);
  }
}
