/**
 * Collects a broker's publishes per channel until the end of the event-loop turn, then hands each
 * channel's batch to `send` (the Redis and NATS brokers store and deliver a batch as one message).
 *
 * Why the end of the turn (`setImmediate`, not `nextTick` or a timer): publishes issued anywhere in
 * this turn — every frame of every socket read in this poll phase, and the promise chains they
 * start — join the batch, and a publish made alone goes out at once, with no added delay.
 *
 * A batch holds items of one `tag` (the history settings they are stored with): an item with
 * another tag, or one that would pass `maxItems` or `maxBytes`, sends the open batch first, so
 * batches of one channel leave in call order and offsets follow call order.
 */
interface OpenBatch<T> {
  tag: string;
  items: T[];
  bytes: number;
}

export interface TurnBatcherOptions<T> {
  /** Most items per batch (≥ 1). */
  maxItems: number;
  /** Bytes at which a batch is sent even if it has room (one item alone may be larger). */
  maxBytes: number;
  /** Sends one channel's batch, in order; called synchronously, at most once per batch. */
  send(channel: string, items: T[]): void;
}

export class TurnBatcher<T> {
  private readonly open = new Map<string, OpenBatch<T>>();
  private scheduled = false;

  constructor(private readonly o: TurnBatcherOptions<T>) {}

  add(channel: string, tag: string, item: T, bytes: number): void {
    let b = this.open.get(channel);
    if (b && (b.tag !== tag || b.items.length >= this.o.maxItems || b.bytes + bytes > this.o.maxBytes)) {
      this.flush(channel);
      b = undefined;
    }
    if (!b) this.open.set(channel, (b = { tag, items: [], bytes: 0 }));
    b.items.push(item);
    b.bytes += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /** Sends the channel's open batch now: before something of that channel that is not batched. */
  flush(channel: string): void {
    const b = this.open.get(channel);
    if (!b) return;
    this.open.delete(channel);
    this.o.send(channel, b.items);
  }

  /** Sends every open batch (end of the turn, or closing). */
  readonly flushAll = (): void => {
    this.scheduled = false;
    for (const channel of [...this.open.keys()]) this.flush(channel);
  };
}
