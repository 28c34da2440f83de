/**
 * The Redis broker: publications over Redis pub/sub (one subscription per node per channel; the
 * Hub reference-counts local subscribers), history in a Redis stream per channel with the
 * `(epoch, offset)` position in a hash beside it, presence in a hash + sorted set of expiries,
 * idempotency keys as `SET PX`. A publish is one Lua script that assigns the offset, appends to
 * history, sets the idempotency key and PUBLISHes the payload, so order on the wire is offset
 * order and offsets never repeat (redis-scripts.ts). With `cluster` it talks to a Redis Cluster
 * and uses sharded pub/sub (SSUBSCRIBE/SPUBLISH); hash tags keep a channel's keys in one slot.
 *
 * Batching: the publishes of one event-loop turn are collected per channel and go to Redis as one
 * script call (up to `publishBatch` publications), which assigns consecutive offsets and PUBLISHes
 * them as one message. A burst of publications therefore costs one EVALSHA, one PUBLISH and one
 * pub/sub message, and reaches every node in one piece (so each node's subscribers get it in one
 * socket write). On top of that, ioredis auto-pipelining sends every command issued in the same
 * tick in one write, so a node pays one round trip per turn, not per message.
 *
 * Wire format of a pub/sub message (JSON, built by the script without re-encoding `data`):
 * `{"o":<offset>,"e":"<epoch>","d":<data>,"i":<info>?}` for one publication,
 * `{"o":<first offset>,"e":"<epoch>","b":[[<data>],[<data>,<info>],…]}` for a batch (item k has
 * offset first + k), `{"j":<info>}` for a join and `{"l":<info>}` for a leave.
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { ClientInfo, StreamPosition } from '../protocol/frames.ts';
import { parseSeqCursor, randomId, type Broker, type BrokerHandler, type PresencePage, type PresencePageOptions, type HistoryOptions, type HistoryResult, type Publication, type PublishOptions } from './broker.ts';
import { channelKeys, HISTORY_SCRIPT, presenceKeys, PRESENCE_SCRIPT, PUBLISH_SCRIPT } from './redis-scripts.ts';
import { TurnBatcher } from './batcher.ts';
import { decodeWire } from './redis-wire.ts';
import { Sequencer } from './sequencer.ts';

export interface RedisBrokerOptions {
  /** URL of a single Redis (`redis://[:password@]host:port[/db]`). Ignored when `cluster` is set. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** Seed nodes of a Redis Cluster (`host:port` or `redis://host:port`). Turns on sharded pub/sub. @default undefined */
  cluster?: string[];
  /** Prefix of every key and pub/sub channel, so several deployments can share a Redis. @default 'sb' */
  prefix?: string;
  /** Milliseconds a stream's position (epoch, top offset) is kept after its last publication. @default 86400000 */
  streamTtlMs?: number;
  /** Idempotency window when a publish gives none. @default 300000 */
  idempotencyTtlMs?: number;
  /** Name for logs and metrics. @default 'redis' */
  name?: string;
  /** Where connection trouble is reported (rate-limited to one line per 5 s per kind). @default console.warn */
  log?: (message: string) => void;
  /** Extra ioredis options for every connection (timeouts, TLS, password). @default {} */
  redis?: RedisOptions;
  /**
   * Most publications to one channel sent in one script call and one pub/sub message. 1 sends
   * every publication on its own in the single-message form, which nodes of versions before
   * batching understand: use it while such nodes share the Redis (a rolling upgrade).
   * @default 256
   */
  publishBatch?: number;
  /**
   * Milliseconds between PINGs of the command connection; a PING unanswered for this long marks
   * the broker not connected (`connected` false, node not ready) until one is answered again. A
   * socket that stays open while Redis hangs (SIGSTOP, a black-holed network) is only noticed so.
   * 0 turns the probe off (then only the connection state counts). @default 1000
   */
  probeMs?: number;
}

/** Data bytes at which a batch is sent even if it has room for more publications. */
const BATCH_MAX_BYTES = 512 * 1024;

interface QueuedPublish {
  data: string;
  info: string;
  key: string | undefined;
  historySize: number;
  historyTtlMs: number;
  idempotencyTtlMs: number;
  resolve(p: StreamPosition): void;
  reject(err: unknown): void;
}

/** Epoch, then per publication its new offset or the `epoch:offset` string of a duplicate. */
type Reply = [string, ...Array<number | string>];
type Entry = [string, string[]];

interface ScriptCommands {
  sbPublish(...args: Array<string | number>): Promise<Reply>;
  sbHistory(...args: Array<string | number>): Promise<[string, number | string, Entry[]]>;
  sbPresence(...args: Array<string | number>): Promise<unknown>;
}


export class RedisBroker implements Broker {
  readonly name: string;
  /** Command connection (or the cluster client). */
  readonly client: Redis | Cluster;
  private readonly sub: Redis | Cluster;
  private readonly clustered: boolean;
  private readonly prefix: string;
  private readonly streamTtlMs: number;
  private readonly idempotencyTtlMs: number;
  private readonly log: (message: string) => void;
  private readonly lastLog = new Map<string, number>();
  private handler: BrokerHandler | null = null;
  /** pub/sub channel name → channel. */
  private readonly byPubsub = new Map<string, string>();
  private readonly seq: Sequencer;
  private connectedOnce = false;
  /** The latest probe was answered in time (see probeMs). */
  private answering = true;
  /** When the unanswered probe was sent, 0 when none is outstanding. */
  private probeSentAt = 0;
  private probeTimer: ReturnType<typeof setInterval> | undefined;
  private closing: Promise<void> | null = null;
  /** The publishes of this turn, per channel (batcher.ts). */
  private readonly batcher: TurnBatcher<QueuedPublish>;

  constructor(options: RedisBrokerOptions = {}) {
    this.name = options.name ?? 'redis';
    this.prefix = options.prefix ?? 'sb';
    this.streamTtlMs = options.streamTtlMs ?? 86_400_000;
    this.idempotencyTtlMs = options.idempotencyTtlMs ?? 300_000;
    this.log = options.log ?? ((m) => console.warn(m));
    this.batcher = new TurnBatcher<QueuedPublish>({ maxItems: Math.max(1, Math.floor(options.publishBatch ?? 256)), maxBytes: BATCH_MAX_BYTES, send: (ch, items) => this.sendBatch(ch, items) });
    const base: RedisOptions = {
      maxRetriesPerRequest: 3,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      enableAutoPipelining: true,
      ...options.redis,
    };
    this.seq = new Sequencer({
      history: (ch, o) => this.history(ch, { ...o, create: true }),
      deliver: (ch, pub, epoch) => this.handler?.onPublication(ch, pub, epoch),
      reset: (ch) => this.reset(ch),
      onError: (ch, err) => this.warn('fill', `${this.name}: could not read history of ${ch} to fill a gap: ${(err as Error).message}`),
    });
    if (options.cluster && options.cluster.length > 0) {
      this.clustered = true;
      const cluster = new Cluster(options.cluster.map(parseNode), { enableAutoPipelining: true, shardedSubscribers: true, redisOptions: base });
      this.client = cluster;
      this.sub = cluster;
      cluster.on('smessage', (pubsub: string, message: string) => this.onMessage(pubsub, message));
      // The cluster's sharded subscribers reconnect and resubscribe by themselves; messages sent
      // while one was down are read back from history.
      cluster.on('subscribersReady', () => this.seq.resyncAll());
      cluster.on('+subscriber', () => this.seq.resyncAll());
    } else {
      this.clustered = false;
      const client = new Redis(options.url ?? 'redis://127.0.0.1:6379', base);
      // autoResubscribe is off: we resubscribe ourselves on `ready`, wait for it, then read
      // what was missed (resubscribing first means nothing falls between the read and the live feed).
      const sub = client.duplicate({ autoResubscribe: false, enableAutoPipelining: false, maxRetriesPerRequest: null });
      this.client = client;
      this.sub = sub;
      sub.on('message', (pubsub: string, message: string) => this.onMessage(pubsub, message));
      sub.on('ready', () => {
        if (!this.connectedOnce) {
          this.connectedOnce = true;
          return;
        }
        void this.resubscribe();
      });
    }
    for (const c of new Set([this.client, this.sub])) c.on('error', (err: Error) => this.warn('conn', `${this.name}: ${err.message}`));
    const probeMs = options.probeMs ?? 1000;
    if (probeMs > 0) {
      // Plain unref'd timer: this broker has no injected clock, and the probe is about wall time.
      this.probeTimer = setInterval(() => this.probe(probeMs), probeMs);
      this.probeTimer.unref();
    }
    // No numberOfKeys: the publish script takes one key per idempotency key, given per call.
    this.client.defineCommand('sbPublish', { lua: PUBLISH_SCRIPT });
    this.client.defineCommand('sbHistory', { numberOfKeys: 2, lua: HISTORY_SCRIPT });
    this.client.defineCommand('sbPresence', { numberOfKeys: 5, lua: PRESENCE_SCRIPT });
  }

  private get scripts(): ScriptCommands {
    return this.client as unknown as ScriptCommands;
  }

  /** Both connections ready and the latest PING answered within probeMs. */
  get connected(): boolean {
    return this.closing === null && this.client.status === 'ready' && this.sub.status === 'ready' && this.answering;
  }

  /** One PING at a time; one outstanding longer than `ms` marks the broker not answering. */
  private probe(ms: number): void {
    if (this.probeSentAt > 0) {
      if (Date.now() - this.probeSentAt >= ms) this.answering = false;
      return;
    }
    if (this.client.status !== 'ready') return;
    const sent = (this.probeSentAt = Date.now());
    this.client.ping().then(
      () => {
        if (this.probeSentAt === sent) this.probeSentAt = 0;
        this.answering = true;
      },
      () => {
        if (this.probeSentAt === sent) this.probeSentAt = 0;
        this.answering = false;
      },
    );
  }

  setHandler(handler: BrokerHandler): void {
    this.handler = handler;
  }

  publish(channel: string, data: unknown, opts: PublishOptions): Promise<StreamPosition> {
    if (this.closing) return Promise.reject(new Error(`${this.name} broker is closed`));
    const json = JSON.stringify(data) ?? 'null';
    const info = opts.info ? JSON.stringify(opts.info) : '';
    const historySize = Math.max(0, Math.floor(opts.historySize));
    const historyTtlMs = Math.max(0, Math.floor(opts.historyTtlMs));
    const idempotencyTtlMs = Math.max(1, Math.floor(opts.idempotencyTtlMs ?? this.idempotencyTtlMs));
    return new Promise<StreamPosition>((resolve, reject) => {
      const item: QueuedPublish = { data: json, info, key: opts.idempotencyKey, historySize, historyTtlMs, idempotencyTtlMs, resolve, reject };
      this.batcher.add(channel, `${historySize}:${historyTtlMs}:${idempotencyTtlMs}`, item, json.length + info.length);
    });
  }

  /** One script call for a batch; its publications resolve with their positions. */
  private sendBatch(channel: string, items: QueuedPublish[]): void {
    const { historySize, historyTtlMs, idempotencyTtlMs } = items[0]!; // one tag per batch: all alike
    const k = channelKeys(this.prefix, channel);
    const keys: string[] = [k.meta, k.stream];
    const args: Array<string | number> = [k.pubsub, historySize, historyTtlMs, this.streamTtlMs, randomId(), idempotencyTtlMs, this.clustered ? 'SPUBLISH' : 'PUBLISH', items.length];
    for (const it of items) {
      let ki = 0;
      if (it.key !== undefined) {
        keys.push(k.idem + it.key);
        ki = keys.length;
      }
      args.push(it.data, it.info, ki);
    }
    let call: Promise<Reply>;
    try {
      call = this.scripts.sbPublish(keys.length, ...keys, ...args);
    } catch (err) {
      // Runs from the end-of-turn callback: a throw here would escape to the event loop.
      for (const it of items) it.reject(err);
      return;
    }
    call.then(
      (r) => {
        const epoch = String(r[0]);
        items.forEach((it, i) => {
          const v = r[i + 1];
          if (typeof v === 'number') return it.resolve({ epoch, offset: v });
          const s = String(v);
          const at = s.lastIndexOf(':');
          it.resolve({ epoch: s.slice(0, at), offset: Number(s.slice(at + 1)) });
        });
      },
      (err: unknown) => {
        for (const it of items) it.reject(err);
      },
    );
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.publishRaw(channel, JSON.stringify({ j: info }));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.publishRaw(channel, JSON.stringify({ l: info }));
  }

  private async publishRaw(channel: string, message: string): Promise<void> {
    this.checkOpen();
    const { pubsub } = channelKeys(this.prefix, channel);
    if (this.clustered) await (this.client as Cluster).spublish(pubsub, message);
    else await this.client.publish(pubsub, message);
  }

  async subscribe(channel: string): Promise<void> {
    this.checkOpen();
    const { pubsub } = channelKeys(this.prefix, channel);
    this.byPubsub.set(pubsub, channel);
    this.seq.track(channel);
    try {
      if (this.clustered) await (this.sub as Cluster).ssubscribe(pubsub);
      else await this.sub.subscribe(pubsub);
      // Seed the sequencer with the top position, so a publication lost before the first one
      // that arrives is noticed as a gap (the sessions read their own start position after this).
      const top = await this.history(channel, { limit: 0, create: true });
      this.seq.seed(channel, top.position.epoch, top.position.offset);
    } catch (err) {
      if (this.byPubsub.get(pubsub) === channel) {
        this.byPubsub.delete(pubsub);
        this.seq.untrack(channel);
      }
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const { pubsub } = channelKeys(this.prefix, channel);
    this.byPubsub.delete(pubsub);
    this.seq.untrack(channel);
    if (this.closing) return;
    if (this.clustered) await (this.sub as Cluster).sunsubscribe(pubsub);
    else await this.sub.unsubscribe(pubsub);
  }

  async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    this.checkOpen();
    const k = channelKeys(this.prefix, channel);
    const limit = Math.max(0, Math.floor(opts.limit));
    const mode = limit === 0 ? 'top' : opts.since ? 'since' : opts.reverse ? 'reverse' : 'newest';
    // An empty epoch candidate tells the script not to create the stream (a plain read).
    const r = await this.scripts.sbHistory(k.meta, k.stream, opts.create ? randomId() : '', this.streamTtlMs, mode, opts.since?.epoch ?? '', opts.since?.offset ?? 0, limit);
    const position = { epoch: String(r[0]), offset: Number(r[1]) };
    return { publications: r[2].map(toPublication), position };
  }

  async removeHistory(channel: string): Promise<void> {
    this.checkOpen();
    await this.client.del(channelKeys(this.prefix, channel).stream);
  }

  async presenceAdd(channel: string, clientId: string, info: ClientInfo, ttlMs: number): Promise<void> {
    this.checkOpen();
    await this.scripts.sbPresence(...presenceKeys(this.prefix, channel), 'add', clientId, Math.max(1, Math.floor(ttlMs)), JSON.stringify(info), info.user);
  }

  async presenceRemove(channel: string, clientId: string): Promise<void> {
    this.checkOpen();
    await this.scripts.sbPresence(...presenceKeys(this.prefix, channel), 'remove', clientId);
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    this.checkOpen();
    const flat = (await this.scripts.sbPresence(...presenceKeys(this.prefix, channel), 'list')) as string[];
    const out: Record<string, ClientInfo> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = JSON.parse(flat[i + 1]!) as ClientInfo;
    return out;
  }

  async presencePage(channel: string, opts: PresencePageOptions): Promise<PresencePage> {
    this.checkOpen();
    const after = parseSeqCursor(opts.cursor);
    const limit = Math.max(1, Math.floor(opts.limit));
    const flat = (await this.scripts.sbPresence(...presenceKeys(this.prefix, channel), 'page', after, limit)) as Array<string | number>;
    const clients: Record<string, ClientInfo> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) clients[String(flat[i])] = JSON.parse(String(flat[i + 1])) as ClientInfo;
    const next = String(flat[flat.length - 1] ?? '');
    return next === '' ? { clients } : { clients, cursor: next };
  }

  async presenceStats(channel: string): Promise<{ clients: number; users: number }> {
    this.checkOpen();
    const [clients, users] = (await this.scripts.sbPresence(...presenceKeys(this.prefix, channel), 'stats')) as number[];
    return { clients: Number(clients), users: Number(users) };
  }

  /** Closes both connections, after sending the publishes still collected. Idempotent. */
  close(): Promise<void> {
    this.batcher.flushAll();
    clearInterval(this.probeTimer);
    this.closing ??= (async () => {
      const conns = [...new Set([this.sub, this.client])];
      await Promise.all(conns.map((c) => c.quit().catch(() => c.disconnect())));
    })();
    return this.closing;
  }

  // ---- receiving -------------------------------------------------------------------------------

  private onMessage(pubsub: string, message: string): void {
    const channel = this.byPubsub.get(pubsub);
    if (channel === undefined || !this.handler) return;
    const ev = decodeWire(message);
    if (ev === null) {
      this.warn('decode', `${this.name}: undecodable message on ${pubsub}`);
      return;
    }
    if (ev.kind === 'pubs') for (const pub of ev.pubs) this.seq.receive(channel, ev.epoch, pub);
    else if (ev.kind === 'join') this.handler.onJoin(channel, ev.info);
    else this.handler.onLeave(channel, ev.info);
  }

  /** After a reconnect: subscribe to everything again, then read what was missed meanwhile. */
  private async resubscribe(): Promise<void> {
    const names = [...this.byPubsub.keys()];
    try {
      for (let i = 0; i < names.length; i += 1000) await (this.sub as Redis).subscribe(...names.slice(i, i + 1000));
    } catch (err) {
      // The connection dropped again; the next `ready` repeats this.
      this.warn('resub', `${this.name}: resubscribe failed: ${(err as Error).message}`);
      return;
    }
    if (names.length > 0) this.log(`${this.name}: reconnected, resubscribed ${names.length} channels`);
    this.seq.resyncAll();
  }

  /**
   * A channel's continuity is broken (its epoch changed while we were away, or history no longer
   * covers what we missed): the handler's onStreamReset makes every local subscriber resubscribe,
   * and the resubscribe's recovery says whether anything was lost.
   */
  private reset(channel: string): void {
    const h = this.handler;
    if (!h) return;
    this.warn(`reset:${channel}`, `${this.name}: stream ${channel} lost continuity; its subscribers resubscribe`);
    h.onStreamReset(channel);
  }

  private warn(kind: string, message: string): void {
    const now = Date.now();
    if ((this.lastLog.get(kind) ?? 0) + 5000 > now) return;
    this.lastLog.set(kind, now);
    this.log(message);
  }

  private checkOpen(): void {
    if (this.closing) throw new Error(`${this.name} broker is closed`);
  }
}


function toPublication(e: Entry): Publication {
  const [id, f] = e;
  const pub: Publication = { offset: Number(id.slice(0, id.indexOf('-'))), data: null };
  for (let i = 0; i + 1 < f.length; i += 2) {
    if (f[i] === 'd') pub.data = JSON.parse(f[i + 1]!);
    else if (f[i] === 'i') pub.info = JSON.parse(f[i + 1]!) as ClientInfo;
  }
  return pub;
}

/** `host:port` or `redis://host:port` → ioredis cluster node. */
export function parseNode(s: string): ClusterNode {
  const u = new URL(s.includes('://') ? s : `redis://${s}`);
  return { host: u.hostname, port: Number(u.port || 6379) };
}
