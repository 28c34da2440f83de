/**
 * Channels spread over several brokers (typically several independent Redis instances) by
 * consistent hashing of the channel name. Each channel lives entirely on one shard — its position,
 * history, presence, idempotency keys and pub/sub — so every per-channel guarantee of the shard's
 * broker holds unchanged; nothing spans shards. Adding a shard moves about 1/N of the channels to
 * it (their streams start a new epoch there, and clients are told through recovery).
 *
 * For a Redis Cluster use one RedisBroker with `cluster` instead: the cluster shards by slot and
 * the broker uses sharded pub/sub (see redis.ts).
 */
import type { ClientInfo, StreamPosition } from '../protocol/frames.ts';
import type { Broker, BrokerHandler, HistoryOptions, HistoryResult, PresencePage, PresencePageOptions, PublishOptions } from './broker.ts';
import { HashRing } from './sharded-ring.ts';

export interface Shard {
  /** Stable id placing the shard on the ring (e.g. its URL). Keep it when moving the server. */
  id: string;
  broker: Broker;
}

export interface ShardedBrokerOptions {
  /** Virtual points per shard on the hash ring. @default 160 */
  points?: number;
}

export class ShardedBroker implements Broker {
  readonly name: string;
  readonly shards: readonly Shard[];
  private readonly ring: HashRing<Broker>;
  private closing: Promise<void> | null = null;

  constructor(shards: Shard[], options: ShardedBrokerOptions = {}) {
    this.shards = [...shards];
    this.ring = new HashRing(shards.map((s) => ({ id: s.id, shard: s.broker })), options.points ?? 160);
    this.name = `sharded(${shards[0]?.broker.name ?? 'none'}×${shards.length})`;
  }

  /** Connected only when every shard is: a channel on a shard that is down cannot be served. */
  get connected(): boolean {
    return this.shards.every((s) => s.broker.connected);
  }

  /** The broker a channel lives on. */
  shardOf(channel: string): Broker {
    return this.ring.get(channel);
  }

  setHandler(handler: BrokerHandler): void {
    for (const s of this.shards) s.broker.setHandler(handler);
  }

  publish(channel: string, data: unknown, opts: PublishOptions): Promise<StreamPosition> {
    return this.shardOf(channel).publish(channel, data, opts);
  }

  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    return this.shardOf(channel).publishJoin(channel, info);
  }

  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    return this.shardOf(channel).publishLeave(channel, info);
  }

  subscribe(channel: string): Promise<void> {
    return this.shardOf(channel).subscribe(channel);
  }

  unsubscribe(channel: string): Promise<void> {
    return this.shardOf(channel).unsubscribe(channel);
  }

  history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    return this.shardOf(channel).history(channel, opts);
  }

  removeHistory(channel: string): Promise<void> {
    return this.shardOf(channel).removeHistory(channel);
  }

  presenceAdd(channel: string, clientId: string, info: ClientInfo, ttlMs: number): Promise<void> {
    return this.shardOf(channel).presenceAdd(channel, clientId, info, ttlMs);
  }

  presenceRemove(channel: string, clientId: string): Promise<void> {
    return this.shardOf(channel).presenceRemove(channel, clientId);
  }

  presence(channel: string): Promise<Record<string, ClientInfo>> {
    return this.shardOf(channel).presence(channel);
  }

  presencePage(channel: string, opts: PresencePageOptions): Promise<PresencePage> {
    return this.shardOf(channel).presencePage(channel, opts);
  }

  presenceStats(channel: string): Promise<{ clients: number; users: number }> {
    return this.shardOf(channel).presenceStats(channel);
  }

  /** Closes every shard. Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all(this.shards.map((s) => s.broker.close())).then(() => undefined);
    return this.closing;
  }
}
