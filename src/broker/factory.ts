/**
 * `createBroker(config)`: the broker named by the config file's `broker` section and the
 * SWITCHBOARD_* environment (environment wins, like every other option):
 *
 * | config (`broker.…`) | environment | meaning |
 * |---|---|---|
 * | `type` | `SWITCHBOARD_BROKER` | `memory` (default), `redis` or `nats` |
 * | `url` | `SWITCHBOARD_REDIS_URL` / `SWITCHBOARD_NATS_URL` | one Redis, or NATS server(s); a comma-separated Redis URL list means shards |
 * | `shards` | `SWITCHBOARD_REDIS_SHARDS` | Redis URLs, channels spread by consistent hashing |
 * | `cluster` | `SWITCHBOARD_REDIS_CLUSTER` | Redis Cluster seed nodes (`host:port`), sharded pub/sub |
 * | `urls` | `SWITCHBOARD_NATS_URL` (comma-separated) | NATS servers |
 * | `prefix` | `SWITCHBOARD_BROKER_PREFIX` | key / subject prefix, default `sb` |
 * | `streamTtl` | `SWITCHBOARD_BROKER_STREAM_TTL` | seconds a channel's position outlives its last publication, default 86400 |
 * | `maxHistorySize` | `SWITCHBOARD_NATS_MAX_HISTORY_SIZE` | NATS: publications kept per channel at most, default 10000 |
 * | `replicas` | `SWITCHBOARD_NATS_REPLICAS` | NATS: JetStream replicas, default 1 |
 * | `publishBatch` | `SWITCHBOARD_BROKER_PUBLISH_BATCH` | Redis and NATS: most publications to one channel sent as one (script call and pub/sub message; JetStream message), default 256 (1 while older nodes share the broker) |
 *
 * See docs/brokers.md.
 */
import { ConfigError } from '../util/errors.ts';
import type { Broker } from './broker.ts';
import { MemoryBroker } from './memory.ts';
import { NatsBroker } from './nats.ts';
import { RedisBroker } from './redis.ts';
import { ShardedBroker } from './sharded.ts';

export type BrokerType = 'memory' | 'redis' | 'nats';

/** The resolved broker configuration (after the file and the environment are merged). */
export interface BrokerConfig {
  /** @default 'memory' */
  type: BrokerType;
  /** Redis: one URL (`redis://…`). NATS: one server. */
  url?: string;
  /** NATS: several servers of one cluster. */
  urls?: string[];
  /** Redis: several independent instances, channels spread by consistent hashing. */
  shards?: string[];
  /** Redis Cluster seed nodes. */
  cluster?: string[];
  /** @default 'sb' */
  prefix?: string;
  /** Seconds. @default 86400 */
  streamTtl?: number;
  /** NATS only. @default 10000 */
  maxHistorySize?: number;
  /** NATS only. @default 1 */
  replicas?: number;
  /** Redis and NATS: most publications to one channel sent as one (Redis: one script call and pub/sub message; NATS: one JetStream message); 1 for a rolling upgrade from a version before batching. @default 256 */
  publishBatch?: number;
}

const KEYS: Record<keyof BrokerConfig, 'string' | 'strings' | 'number'> = {
  type: 'string',
  url: 'string',
  urls: 'strings',
  shards: 'strings',
  cluster: 'strings',
  prefix: 'string',
  streamTtl: 'number',
  maxHistorySize: 'number',
  replicas: 'number',
  publishBatch: 'number',
};

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

/**
 * Merges the config file's `broker` section with the environment and validates the result.
 * Throws ConfigError naming the bad field.
 */
export function resolveBrokerConfig(section: unknown, env: NodeJS.ProcessEnv = {}): BrokerConfig {
  if (section !== undefined && (typeof section !== 'object' || section === null || Array.isArray(section))) {
    throw new ConfigError('broker must be an object like {"type": "redis", "url": "redis://127.0.0.1:6379"}');
  }
  const raw: Record<string, unknown> = { ...(section as Record<string, unknown> | undefined) };
  for (const [k, v] of Object.entries(raw)) {
    const kind = KEYS[k as keyof BrokerConfig];
    if (!kind) throw new ConfigError(`broker.${k} is not a broker option (known: ${Object.keys(KEYS).join(', ')})`);
    const ok = kind === 'string' ? typeof v === 'string' : kind === 'number' ? typeof v === 'number' && Number.isFinite(v) && v >= 0 : Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (!ok) throw new ConfigError(`broker.${k} must be ${kind === 'strings' ? 'an array of strings' : kind === 'number' ? 'a non-negative number' : 'a string'}`);
  }
  const e = (name: string) => (env[name] !== undefined && env[name] !== '' ? env[name] : undefined);
  const num = (name: string) => {
    const v = e(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${name} must be a non-negative number, got "${v}"`);
    return n;
  };
  if (e('SWITCHBOARD_BROKER')) raw.type = e('SWITCHBOARD_BROKER');
  const type = (raw.type ?? 'memory') as string;
  if (type !== 'memory' && type !== 'redis' && type !== 'nats') throw new ConfigError(`broker.type must be memory, redis or nats, got "${type}"`);
  if (type === 'redis') {
    const url = e('SWITCHBOARD_REDIS_URL');
    if (url !== undefined) {
      delete raw.url;
      delete raw.shards;
      delete raw.cluster;
      const urls = list(url);
      if (urls.length > 1) raw.shards = urls;
      else raw.url = urls[0];
    }
    if (e('SWITCHBOARD_REDIS_SHARDS')) raw.shards = list(e('SWITCHBOARD_REDIS_SHARDS')!);
    if (e('SWITCHBOARD_REDIS_CLUSTER')) raw.cluster = list(e('SWITCHBOARD_REDIS_CLUSTER')!);
    const modes = ['shards', 'cluster'].filter((k) => raw[k] !== undefined);
    if (modes.length > 1) throw new ConfigError('broker: give either shards or cluster, not both');
    if (modes.length === 1 && raw.url !== undefined) throw new ConfigError(`broker: give either url or ${modes[0]}, not both`);
    for (const k of ['shards', 'cluster'] as const) if (raw[k] !== undefined && (raw[k] as string[]).length === 0) throw new ConfigError(`broker.${k} must list at least one address`);
  }
  if (type === 'nats' && e('SWITCHBOARD_NATS_URL')) {
    delete raw.url;
    raw.urls = list(e('SWITCHBOARD_NATS_URL')!);
  }
  if (e('SWITCHBOARD_BROKER_PREFIX')) raw.prefix = e('SWITCHBOARD_BROKER_PREFIX');
  const ttl = num('SWITCHBOARD_BROKER_STREAM_TTL');
  if (ttl !== undefined) raw.streamTtl = ttl;
  const mh = num('SWITCHBOARD_NATS_MAX_HISTORY_SIZE');
  if (mh !== undefined) raw.maxHistorySize = mh;
  const rep = num('SWITCHBOARD_NATS_REPLICAS');
  if (rep !== undefined) raw.replicas = rep;
  const pb = num('SWITCHBOARD_BROKER_PUBLISH_BATCH');
  if (pb !== undefined) raw.publishBatch = pb;
  if (raw.publishBatch !== undefined && (!Number.isInteger(raw.publishBatch) || (raw.publishBatch as number) < 1)) throw new ConfigError(`broker.publishBatch must be a whole number ≥ 1, got ${String(raw.publishBatch)}`);
  if (type === 'memory' && raw.publishBatch !== undefined) throw new ConfigError('broker.publishBatch is a Redis and NATS option; broker.type is memory');
  if (type !== 'nats') for (const k of ['urls', 'maxHistorySize', 'replicas']) if (raw[k] !== undefined) throw new ConfigError(`broker.${k} is a NATS option; broker.type is ${type}`);
  if (type !== 'redis') for (const k of ['shards', 'cluster']) if (raw[k] !== undefined) throw new ConfigError(`broker.${k} is a Redis option; broker.type is ${type}`);
  return { ...(raw as Omit<BrokerConfig, 'type'>), type };
}

/** The broker config as a log line, passwords in URLs masked. */
export function describeBroker(c: BrokerConfig): string {
  const mask = (u: string) => u.replace(/\/\/([^@/]*)@/, '//***@');
  const masked: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) masked[k] = typeof v === 'string' ? mask(v) : Array.isArray(v) ? v.map((x) => mask(String(x))) : v;
  return JSON.stringify(masked);
}

/**
 * Builds the broker. For `memory` it returns a MemoryBroker; the caller closes whatever it gets.
 * Network brokers connect in the background and reconnect forever: a node starts even while its
 * Redis or NATS is down, and answers publishes with `114 broker unavailable` until it is back.
 */
export function createBroker(config: BrokerConfig): Broker {
  const streamTtlMs = (config.streamTtl ?? 86_400) * 1000;
  const prefix = config.prefix ?? 'sb';
  const publishBatch = config.publishBatch ?? 256;
  switch (config.type) {
    case 'memory':
      return new MemoryBroker({ streamTtlMs });
    case 'redis':
      if (config.cluster) return new RedisBroker({ cluster: config.cluster, prefix, streamTtlMs, publishBatch, name: 'redis-cluster' });
      if (config.shards && config.shards.length > 1) {
        return new ShardedBroker(config.shards.map((url) => ({ id: url, broker: new RedisBroker({ url, prefix, streamTtlMs, publishBatch, name: `redis ${url.replace(/\/\/([^@/]*)@/, '//***@')}` }) })));
      }
      return new RedisBroker({ url: config.shards?.[0] ?? config.url ?? 'redis://127.0.0.1:6379', prefix, streamTtlMs, publishBatch });
    case 'nats': {
      const servers = config.urls ?? (config.url ? [config.url] : ['nats://127.0.0.1:4222']);
      return new NatsBroker({
        servers,
        prefix,
        streamTtlMs,
        ...(config.maxHistorySize !== undefined ? { maxHistorySize: config.maxHistorySize } : {}),
        ...(config.replicas !== undefined ? { replicas: config.replicas } : {}),
        publishBatch,
      });
    }
  }
}
