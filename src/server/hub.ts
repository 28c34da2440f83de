/**
 * Node-local index channel → sessions. Receives the broker's events for subscribed channels and
 * fans them out. A publication is encoded once per Format in use (not once per subscriber): the
 * Envelope caches the bytes, and every subscriber with that format gets the same Buffer.
 */
import type { Broker, BrokerHandler, Publication } from '../broker/broker.ts';
import type { ClientInfo, ServerFrame } from '../protocol/frames.ts';
import type { Format } from './format.ts';

/** What a subscriber of the hub must accept. Session implements it. */
export interface HubSubscriber {
  deliverPub(env: Envelope): void;
  deliverEvent(env: Envelope): void;
  /** The channel's stream lost continuity (see BrokerHandler.onStreamReset). */
  resetStream(channel: string): void;
}

/** One event for a channel, with its encoded bytes cached per format. */
export class Envelope {
  private k0: Format | null = null;
  private b0: Buffer | null = null;
  private k1: Format | null = null;
  private b1: Buffer | null = null;
  private more: Map<string, Buffer> | null = null;
  /** JSON text of the frame, shared by every JSON format. */
  private json: string | null = null;

  constructor(
    readonly channel: string,
    readonly frame: ServerFrame,
    /** Offset for publications, 0 for join/leave. */
    readonly offset: number,
    readonly epoch: string,
  ) {}

  /** The frame encoded for `format`, computed on first use. */
  bytes(format: Format): Buffer {
    if (this.k0 === format) return this.b0!;
    if (this.k1 === format) return this.b1!;
    if (this.k0 === null) {
      this.k0 = format;
      return (this.b0 = this.encode(format));
    }
    if (this.k1 === null) {
      this.k1 = format;
      return (this.b1 = this.encode(format));
    }
    this.more ??= new Map();
    let b = this.more.get(format.key);
    if (!b) this.more.set(format.key, (b = this.encode(format)));
    return b;
  }

  private encode(format: Format): Buffer {
    if (format.fromJson) return format.fromJson((this.json ??= JSON.stringify(this.frame)));
    return format.encode(this.frame);
  }
}

interface ChannelEntry {
  subscribers: Set<HubSubscriber>;
  /** Resolves once the broker subscription is active; every add() waits for it. */
  ready: Promise<void>;
}

export class Hub implements BrokerHandler {
  private readonly channels = new Map<string, ChannelEntry>();
  /** Deliveries counted for metrics (one per subscriber per event). */
  deliveries = 0;

  constructor(private readonly broker: Broker) {
    broker.setHandler(this);
  }

  /** Number of channels with at least one local subscriber. */
  get channelCount(): number {
    return this.channels.size;
  }

  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.subscribers.size ?? 0;
  }

  /** Channels by local subscriber count, busiest first. */
  busiest(n: number, skip?: (channel: string) => boolean): Array<{ channel: string; subscribers: number }> & { of: number } {
    // One pass keeping the n largest (most channels lose to the smallest kept and cost one
    // comparison), rather than sorting every channel: this runs on every node report. `of` is how
    // many channels were eligible, so a reader can tell whether the list is complete.
    const top = Object.assign([] as Array<{ channel: string; subscribers: number }>, { of: 0 });
    for (const [channel, e] of this.channels) {
      if (skip?.(channel)) continue;
      top.of++;
      const subscribers = e.subscribers.size;
      if (top.length === n && subscribers <= top[n - 1]!.subscribers) continue;
      let i = top.length;
      while (i > 0 && top[i - 1]!.subscribers < subscribers) i--;
      top.splice(i, 0, { channel, subscribers });
      if (top.length > n) top.pop();
    }
    return top;
  }

  /** Adds a local subscriber; the first one makes the node subscribe at the broker. Resolves once events flow. */
  async add(channel: string, sub: HubSubscriber): Promise<void> {
    let entry = this.channels.get(channel);
    if (!entry) {
      const subscribers = new Set<HubSubscriber>();
      const ready = this.broker.subscribe(channel);
      entry = { subscribers, ready };
      this.channels.set(channel, entry);
      ready.catch(() => {
        // The broker refused: forget the entry so a later add() tries again.
        if (this.channels.get(channel) === entry) this.channels.delete(channel);
      });
    }
    entry.subscribers.add(sub);
    await entry.ready;
  }

  /** Removes a local subscriber; the last one unsubscribes the node at the broker. */
  remove(channel: string, sub: HubSubscriber): void {
    const entry = this.channels.get(channel);
    if (!entry || !entry.subscribers.delete(sub)) return;
    if (entry.subscribers.size === 0) {
      this.channels.delete(channel);
      this.broker.unsubscribe(channel).catch(() => {
        /* the broker reconnects and resubscribes only what it still has; nothing to undo */
      });
    }
  }

  onPublication(channel: string, pub: Publication, epoch: string): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    const frame: ServerFrame = { t: 'pub', ch: channel, data: pub.data, o: pub.offset, e: epoch };
    if (pub.info) frame.info = pub.info;
    const env = new Envelope(channel, frame, pub.offset, epoch);
    for (const s of entry.subscribers) s.deliverPub(env);
    this.deliveries += entry.subscribers.size;
  }

  onStreamReset(channel: string): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    for (const s of [...entry.subscribers]) s.resetStream(channel);
  }

  onJoin(channel: string, info: ClientInfo): void {
    this.event(channel, 'join', info);
  }

  onLeave(channel: string, info: ClientInfo): void {
    this.event(channel, 'leave', info);
  }

  private event(channel: string, t: 'join' | 'leave', info: ClientInfo): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    const env = new Envelope(channel, { t, ch: channel, info }, 0, '');
    for (const s of entry.subscribers) s.deliverEvent(env);
  }
}
