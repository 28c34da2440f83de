/**
 * The embedded single-node broker: history, presence and idempotency keys in process memory.
 * Delivery is synchronous inside publish(), which makes "append + deliver" trivially atomic.
 */
import type { ClientInfo, StreamPosition } from '../protocol/frames.ts';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { PresenceSet } from './presence-set.ts';
import { NO_STREAM, parseSeqCursor, randomId, type Broker, type PresencePage, type PresencePageOptions, type BrokerHandler, type HistoryOptions, type HistoryResult, type Publication, type PublishOptions } from './broker.ts';

interface Entry extends Publication {
  expireAt: number;
}

class Stream {
  readonly epoch = randomId();
  top = 0;
  /** Kept publications, oldest first; `head` is the index of the oldest live one. */
  items: Entry[] = [];
  head = 0;
  touchedAt = 0;

  trim(now: number, size: number): void {
    while (this.items.length - this.head > size) this.head++;
    while (this.head < this.items.length && this.items[this.head]!.expireAt <= now) this.head++;
    // Compact once the dead prefix dominates, so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  get live(): number {
    return this.items.length - this.head;
  }
}

/**
 * The state several MemoryBroker handles share: one backend with many handles behaves like one
 * Redis with many nodes (used to test multi-node behaviour in one process).
 */
class MemoryBackend {
  readonly streams = new Map<string, Stream>();
  readonly keys = new Map<string, { position: StreamPosition; expireAt: number }>();
  readonly presenceSets = new Map<string, PresenceSet>();
  readonly handles = new Set<MemoryBroker>();
}

export interface MemoryBrokerOptions {
  /** @default systemClock */
  clock?: Clock;
  /** Milliseconds a stream's position (epoch and top offset) is kept after its last publication once its history is empty. @default 86400000 */
  streamTtlMs?: number;
  /** Sweep period for expired presence, keys and streams. @default 5000 */
  sweepMs?: number;
}

export class MemoryBroker implements Broker {
  readonly name = 'memory';
  private handler: BrokerHandler | null = null;
  private readonly backend: MemoryBackend;
  private readonly streams: Map<string, Stream>;
  private readonly keys: Map<string, { position: StreamPosition; expireAt: number }>;
  private readonly presenceSets: Map<string, PresenceSet>;
  /** Channels this handle (node) subscribed to. */
  readonly subscribed = new Set<string>();
  private readonly options: MemoryBrokerOptions;
  private readonly clock: Clock;
  private readonly streamTtlMs: number;
  private sweeper: TimerHandle | undefined;
  private closed = false;

  constructor(options: MemoryBrokerOptions = {}, backend?: MemoryBackend) {
    this.options = options;
    this.backend = backend ?? new MemoryBackend();
    this.backend.handles.add(this);
    this.streams = this.backend.streams;
    this.keys = this.backend.keys;
    this.presenceSets = this.backend.presenceSets;
    this.clock = options.clock ?? systemClock;
    this.streamTtlMs = options.streamTtlMs ?? 86_400_000;
    this.sweeper = this.clock.setInterval(() => this.sweep(), options.sweepMs ?? 5000);
  }

  /** Channel streams held (every handle of the backend), for metrics and tests. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Idempotency keys held (every handle of the backend), for metrics and tests. */
  get keyCount(): number {
    return this.keys.size;
  }

  /** Another handle on the same in-memory state: a second "node" on the same broker. */
  peer(): MemoryBroker {
    return new MemoryBroker(this.options, this.backend);
  }

  setHandler(handler: BrokerHandler): void {
    this.handler = handler;
  }

  /** Calls `fn` with the handler of every open handle subscribed to `channel`. */
  private each(channel: string, fn: (h: BrokerHandler) => void): void {
    for (const b of this.backend.handles) if (b.handler && b.subscribed.has(channel)) fn(b.handler);
  }

  async publish(channel: string, data: unknown, opts: PublishOptions): Promise<StreamPosition> {
    this.checkOpen();
    const now = this.clock.now();
    let keyId: string | undefined;
    if (opts.idempotencyKey !== undefined) {
      keyId = `${channel}\u0000${opts.idempotencyKey}`;
      const seen = this.keys.get(keyId);
      if (seen && seen.expireAt > now) return { ...seen.position };
    }
    let stream = this.streams.get(channel);
    if (!stream) {
      stream = new Stream();
      this.streams.set(channel, stream);
    }
    const offset = ++stream.top;
    stream.touchedAt = now;
    const pub: Publication = { offset, data };
    if (opts.info) pub.info = opts.info;
    if (opts.historySize > 0) {
      stream.items.push({ ...pub, expireAt: now + opts.historyTtlMs });
      stream.trim(now, opts.historySize);
    }
    const position = { offset, epoch: stream.epoch };
    if (keyId !== undefined) this.keys.set(keyId, { position, expireAt: now + (opts.idempotencyTtlMs ?? 300_000) });
    const epoch = stream.epoch;
    this.each(channel, (h) => h.onPublication(channel, pub, epoch));
    return { ...position };
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    this.checkOpen();
    this.each(channel, (h) => h.onJoin(channel, info));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    this.checkOpen();
    this.each(channel, (h) => h.onLeave(channel, info));
  }

  async subscribe(channel: string): Promise<void> {
    this.checkOpen();
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
  }

  async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    this.checkOpen();
    let stream = this.streams.get(channel);
    if (!stream) {
      // A plain read leaves nothing behind (any name a client sends would otherwise stay for streamTtl).
      if (!opts.create) return { publications: [], position: { ...NO_STREAM } };
      // Materialise the stream so its epoch is stable from the subscriber's first read on.
      stream = new Stream();
      stream.touchedAt = this.clock.now();
      this.streams.set(channel, stream);
    }
    const now = this.clock.now();
    stream.trim(now, Number.MAX_SAFE_INTEGER);
    const position = { offset: stream.top, epoch: stream.epoch };
    const limit = Math.max(0, opts.limit);
    if (limit === 0) return { publications: [], position };
    const out: Publication[] = [];
    const items = stream.items;
    if (opts.since) {
      if (opts.since.epoch !== stream.epoch) return { publications: [], position };
      // Offsets are consecutive among kept items: jump straight to the first one after `since`.
      const first = stream.live > 0 ? items[stream.head]!.offset : stream.top + 1;
      let i = stream.head + Math.max(0, opts.since.offset + 1 - first);
      for (; i < items.length && out.length < limit; i++) out.push(strip(items[i]!));
      return { publications: out, position };
    }
    if (opts.reverse) {
      for (let i = items.length - 1; i >= stream.head && out.length < limit; i--) out.push(strip(items[i]!));
    } else {
      for (let i = Math.max(stream.head, items.length - limit); i < items.length; i++) out.push(strip(items[i]!));
    }
    return { publications: out, position };
  }

  async removeHistory(channel: string): Promise<void> {
    const s = this.streams.get(channel);
    if (s) {
      s.items = [];
      s.head = 0;
    }
  }

  async presenceAdd(channel: string, clientId: string, info: ClientInfo, ttlMs: number): Promise<void> {
    this.checkOpen();
    let set = this.presenceSets.get(channel);
    if (!set) {
      set = new PresenceSet();
      this.presenceSets.set(channel, set);
    }
    set.add(clientId, info, this.clock.now() + ttlMs);
  }

  async presenceRemove(channel: string, clientId: string): Promise<void> {
    const set = this.presenceSets.get(channel);
    if (!set) return;
    set.remove(clientId);
    if (set.size === 0) this.presenceSets.delete(channel);
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    this.checkOpen();
    return this.presenceSets.get(channel)?.all(this.clock.now()) ?? {};
  }

  async presencePage(channel: string, opts: PresencePageOptions): Promise<PresencePage> {
    this.checkOpen();
    const after = parseSeqCursor(opts.cursor);
    return this.presenceSets.get(channel)?.page(this.clock.now(), after, Math.max(1, Math.floor(opts.limit))) ?? { clients: {} };
  }

  async presenceStats(channel: string): Promise<{ clients: number; users: number }> {
    this.checkOpen();
    return this.presenceSets.get(channel)?.stats(this.clock.now()) ?? { clients: 0, users: 0 };
  }

  /** In-process: always connected until closed. */
  get connected(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.backend.handles.delete(this);
    this.subscribed.clear();
    this.clock.clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Drops expired presence entries, idempotency keys, history and idle streams. */
  sweep(): void {
    const now = this.clock.now();
    for (const [k, v] of this.keys) if (v.expireAt <= now) this.keys.delete(k);
    for (const [ch, set] of this.presenceSets) {
      set.sweep(now);
      if (set.size === 0) this.presenceSets.delete(ch);
    }
    for (const [ch, s] of this.streams) {
      s.trim(now, Number.MAX_SAFE_INTEGER);
      if (s.live === 0 && ![...this.backend.handles].some((b) => b.subscribed.has(ch)) && now - s.touchedAt > this.streamTtlMs) this.streams.delete(ch);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('broker is closed');
  }
}

function strip(e: Entry): Publication {
  const p: Publication = { offset: e.offset, data: e.data };
  if (e.info) p.info = e.info;
  return p;
}
