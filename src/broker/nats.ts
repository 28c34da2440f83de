/**
 * The NATS broker: history and positions in one JetStream stream (one subject per channel), live
 * delivery over core NATS, presence in a JetStream KV bucket. Works with nats-server ≥ 2.9.
 *
 * How a publish gets its offset: every stored message carries its channel's epoch and offset in
 * its JSON body. A node publishes offset N+1 to `<prefix>.h.<channel>` with the header
 * `Nats-Expected-Last-Subject-Sequence` set to the stream sequence of offset N; JetStream stores it
 * only if that is still the subject's last message, so two publishers can never take the same
 * offset (the loser re-reads the last message and retries). Publishes of one node to one channel
 * are queued so they do not race each other, and the key-less ones of one event-loop turn are
 * stored as one message holding the batch (`o` is then its last offset), so a hot channel pays one
 * round trip per batch, not per publication. Idempotency keys are JetStream's `Nats-Msg-Id`, so a
 * publication with a key is stored alone.
 *
 * Delivery: after JetStream acknowledges, the node publishes the same publication on the core
 * subject `<prefix>.d.<channel>`. Two nodes' deliveries may cross on the wire, and core NATS drops
 * what a disconnected subscriber misses; the Sequencer (sequencer.ts) puts them back in order
 * and reads holes from the stream. What NATS cannot do like Redis is listed in docs/brokers.md.
 *
 * Channel names are base64url-encoded into one subject token (and KV key part), because `.`, a
 * legal channel character, separates NATS subject tokens.
 */
import { connect, DeliverPolicy, DiscardPolicy, headers, JSONCodec, nanos, RetentionPolicy, StorageType, StringCodec, type JetStreamClient, type JetStreamManager, type KV, type NatsConnection, type Subscription } from 'nats';
import type { ClientInfo, StreamPosition } from '../protocol/frames.ts';
import { BadCursorError, NO_STREAM, randomId, type Broker, type PresencePage, type PresencePageOptions, type BrokerHandler, type HistoryOptions, type HistoryResult, type Publication, type PublishOptions } from './broker.ts';
import { TurnBatcher } from './batcher.ts';
import { Sequencer } from './sequencer.ts';

export interface NatsBrokerOptions {
  /** Server URL(s). @default 'nats://127.0.0.1:4222' */
  servers?: string | string[];
  /** Prefix of subjects, the stream name and the KV bucket. @default 'sb' */
  prefix?: string;
  /** Most publications kept per channel, whatever a namespace asks (JetStream's max_msgs_per_subject is stream-wide). @default 10000 */
  maxHistorySize?: number;
  /** Milliseconds a channel's position lives after its last publication (the stream's max_age). @default 86400000 */
  streamTtlMs?: number;
  /** Idempotency window: the stream's duplicate window, the same for every publish (see docs/brokers.md). @default 300000 */
  idempotencyWindowMs?: number;
  /** Longest presence TTL honoured (the KV bucket's max_age). @default 3600000 */
  presenceMaxTtlMs?: number;
  /** JetStream replicas of the stream and the bucket (3 in a NATS cluster). @default 1 */
  replicas?: number;
  /** Name for logs and metrics. @default 'nats' */
  name?: string;
  /** Where connection trouble is reported. @default console.warn */
  log?: (message: string) => void;
  /**
   * Most publications to one channel stored as one JetStream message (those of one event-loop
   * turn without an idempotency key). 1 stores each alone, which nodes of versions before
   * batching can read: use it while such nodes share the NATS. @default 256
   */
  publishBatch?: number;
}

/** Data bytes at which a batch is sent even if it has room (JetStream's default max_payload is 1 MiB). */
const BATCH_MAX_BYTES = 256 * 1024;

interface QueuedPublish {
  /** JSON of the data and of the publisher info ('' for none): encoded once, spliced into the batch. */
  json: string;
  info: string;
  historySize: number;
  historyTtlMs: number;
  resolve(p: StreamPosition): void;
  reject(err: unknown): void;
}

/** What this broker does differently from the Redis and memory brokers (docs/brokers.md). */
export const NATS_CAPABILITIES = {
  /** A publish is stored, then delivered by a second message: a node dying between the two leaves it in history but not delivered live until the channel's next publication reveals the gap. */
  atomicAppendAndDeliver: false,
  /** Idempotency uses the stream's duplicate window; `idempotencyTtlMs` of a publish is ignored. */
  perPublishIdempotencyTtl: false,
  /** History TTL is judged against the reading node's clock (JetStream 2.9 has no per-message TTL). */
  serverClockTtl: false,
} as const;

const jc = JSONCodec();
const sc = StringCodec();
const WRONG_LAST_SEQUENCE = 10071;

interface Stored {
  /** epoch */
  e: string;
  /** offset; of a batch, its last publication's offset */
  o: number;
  /** a batch of publications without idempotency keys, offsets o - b.length + 1 … o: [data] or [data, info] each */
  b?: Array<[unknown, ClientInfo?]>;
  /** 'm': a position marker (stream created or history removed), not a publication */
  k?: 'm';
  /** history size and TTL asked at publish */
  s?: number;
  t?: number;
  d?: unknown;
  i?: ClientInfo;
}

interface Last {
  seq: number;
  epoch: string;
  offset: number;
}

export class NatsBroker implements Broker {
  readonly name: string;
  readonly capabilities = NATS_CAPABILITIES;
  private readonly o: Required<Omit<NatsBrokerOptions, 'servers' | 'log' | 'name'>>;
  /** The key-less publishes of this turn, per channel (batcher.ts). */
  private readonly batcher: TurnBatcher<QueuedPublish>;
  private readonly servers: string | string[];
  private readonly log: (message: string) => void;
  private readonly streamName: string;
  private readonly ready: Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; kv: KV }>;
  private handler: BrokerHandler | null = null;
  private readonly subs = new Map<string, Subscription>();
  private readonly seq: Sequencer;
  /** Per channel: the tail of this node's publish queue, and the last message it knows. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly lastKnown = new Map<string, Last>();
  /** offset → stream sequence hints per channel, so a read after a known offset starts right there. */
  private readonly hints = new Map<string, Map<number, number>>();
  private closing: Promise<void> | null = null;
  /** Set once init() finished; cleared and set again by the connection's status events. */
  private up = false;

  constructor(options: NatsBrokerOptions = {}) {
    this.name = options.name ?? 'nats';
    this.servers = options.servers ?? 'nats://127.0.0.1:4222';
    this.log = options.log ?? ((m) => console.warn(m));
    this.o = {
      prefix: options.prefix ?? 'sb',
      maxHistorySize: options.maxHistorySize ?? 10_000,
      streamTtlMs: options.streamTtlMs ?? 86_400_000,
      idempotencyWindowMs: options.idempotencyWindowMs ?? 300_000,
      presenceMaxTtlMs: options.presenceMaxTtlMs ?? 3_600_000,
      replicas: options.replicas ?? 1,
      publishBatch: Math.max(1, Math.floor(options.publishBatch ?? 256)),
    };
    this.streamName = `${this.o.prefix.replace(/[^A-Za-z0-9_-]/g, '_')}_history`;
    this.batcher = new TurnBatcher<QueuedPublish>({ maxItems: this.o.publishBatch, maxBytes: BATCH_MAX_BYTES, send: (ch, items) => this.sendBatch(ch, items) });
    this.seq = new Sequencer({
      history: (ch, o) => this.history(ch, { ...o, create: true }),
      deliver: (ch, pub, epoch) => this.handler?.onPublication(ch, pub, epoch),
      reset: (ch) => this.handler?.onStreamReset(ch),
      onError: (ch, err) => this.log(`${this.name}: could not fill a gap on ${ch}: ${(err as Error).message}`),
    });
    this.ready = this.init();
    this.ready.catch(() => {}); // surfaced by the first call that awaits it
  }

  private async init() {
    const nc = await connect({ servers: this.servers, maxReconnectAttempts: -1, reconnectTimeWait: 250, name: `switchboard-${this.name}` });
    const jsm = await nc.jetstreamManager();
    const cfg = {
      name: this.streamName,
      subjects: [`${this.o.prefix}.h.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: this.o.maxHistorySize + 1,
      max_age: nanos(this.o.streamTtlMs),
      duplicate_window: nanos(this.o.idempotencyWindowMs),
      num_replicas: this.o.replicas,
    };
    try {
      await jsm.streams.add(cfg);
    } catch {
      await jsm.streams.update(this.streamName, cfg);
    }
    const js = nc.jetstream();
    const kv = await js.views.kv(`${this.o.prefix.replace(/[^A-Za-z0-9_-]/g, '_')}_presence`, { history: 1, ttl: this.o.presenceMaxTtlMs, replicas: this.o.replicas });
    this.up = true;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'staleConnection') this.up = false;
        if (s.type === 'reconnect') {
          this.up = true;
          this.log(`${this.name}: reconnected, reading what was missed on ${this.subs.size} channels`);
          await nc.flush().catch(() => {});
          this.seq.resyncAll();
        } else if (s.type === 'disconnect') this.log(`${this.name}: disconnected from ${String(s.data)}`);
      }
    })();
    return { nc, js, jsm, kv };
  }

  private tok(channel: string): string {
    return Buffer.from(channel, 'utf8').toString('base64url') || '_';
  }

  private histSubject(channel: string): string {
    return `${this.o.prefix}.h.${this.tok(channel)}`;
  }

  private deliverSubject(channel: string): string {
    return `${this.o.prefix}.d.${this.tok(channel)}`;
  }

  setHandler(handler: BrokerHandler): void {
    this.handler = handler;
  }

  // ---- positions -------------------------------------------------------------------------------

  /** The subject's last stored message, or null when it has none. */
  private async readLast(channel: string): Promise<(Last & { stored: Stored; time: number }) | null> {
    const { jsm } = await this.ready;
    try {
      const m = await jsm.streams.getMessage(this.streamName, { last_by_subj: this.histSubject(channel) });
      const stored = m.json<Stored>();
      const last = { seq: m.seq, epoch: stored.e, offset: stored.o };
      this.lastKnown.set(channel, last);
      this.hint(channel, stored.o, m.seq);
      return { ...last, stored, time: m.time.getTime() };
    } catch (err) {
      if (isNotFound(err)) {
        this.lastKnown.delete(channel);
        return null;
      }
      throw err;
    }
  }

  /** Stores `body(last)` as the subject's next message, retrying while other nodes win the race. */
  /**
   * `encode` turns the stored body into the message's bytes; a batch passes one that splices its
   * items' JSON in, so the data are encoded once (default: the JSON codec).
   */
  private async append(channel: string, body: (last: Last) => Stored, msgId?: string, encode: (s: Stored) => Uint8Array = (x) => jc.encode(x)): Promise<{ last: Last; stored: Stored; duplicate: boolean }> {
    const { js } = await this.ready;
    for (let attempt = 0; ; attempt++) {
      let last = this.lastKnown.get(channel);
      if (!last) {
        const l = await this.readLast(channel);
        last = l ?? { seq: 0, epoch: randomId(), offset: 0 };
      }
      const stored = body(last);
      const h = headers();
      h.set('Nats-Expected-Last-Subject-Sequence', String(last.seq));
      try {
        const ack = await js.publish(this.histSubject(channel), encode(stored), { headers: h, ...(msgId !== undefined ? { msgID: msgId } : {}) });
        if (ack.duplicate) {
          const { jsm } = await this.ready;
          const first = (await jsm.streams.getMessage(this.streamName, { seq: ack.seq })).json<Stored>();
          return { last: { seq: ack.seq, epoch: first.e, offset: first.o }, stored: first, duplicate: true };
        }
        const next = { seq: ack.seq, epoch: stored.e, offset: stored.o };
        this.lastKnown.set(channel, next);
        this.hint(channel, stored.o, ack.seq);
        return { last: next, stored, duplicate: false };
      } catch (err) {
        if (apiCode(err) === WRONG_LAST_SEQUENCE && attempt < 1000) {
          this.lastKnown.delete(channel);
          continue;
        }
        throw err;
      }
    }
  }

  /** Stores offset 0 with a new epoch unless the subject already has a message (another node's wins). */
  private async createMarker(channel: string): Promise<void> {
    const { js } = await this.ready;
    const h = headers();
    h.set('Nats-Expected-Last-Subject-Sequence', '0');
    try {
      await js.publish(this.histSubject(channel), jc.encode({ e: randomId(), o: 0, k: 'm' } satisfies Stored), { headers: h });
    } catch (err) {
      if (apiCode(err) !== WRONG_LAST_SEQUENCE) throw err;
    }
  }

  /** Runs `fn` after this node's earlier publishes to the channel, so they never race each other. */
  private serial<T>(channel: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(channel) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.queues.set(channel, tail);
    void tail.then(() => {
      if (this.queues.get(channel) === tail) this.queues.delete(channel);
    });
    return run;
  }

  private hint(channel: string, offset: number, seq: number): void {
    let m = this.hints.get(channel);
    if (!m) {
      if (this.hints.size >= 10_000) this.hints.delete(this.hints.keys().next().value!);
      this.hints.set(channel, (m = new Map()));
    }
    m.set(offset, seq);
    if (m.size > 256) m.delete(m.keys().next().value!);
  }

  // ---- Broker ----------------------------------------------------------------------------------

  /**
   * Publications without an idempotency key are collected per channel for the rest of the turn and
   * stored as one JetStream message (one round trip for the batch: a node's publishes to one
   * channel are serialized, so a hot channel would otherwise get one round trip per publication).
   * A publication with a key is stored alone (its key is the message's Nats-Msg-Id), after the
   * batch collected before it, so offsets follow call order.
   */
  publish(channel: string, data: unknown, opts: PublishOptions): Promise<StreamPosition> {
    if (this.closing) return Promise.reject(new Error(`${this.name} broker is closed`));
    if (opts.idempotencyKey !== undefined || this.o.publishBatch === 1) {
      this.batcher.flush(channel);
      return this.publishOne(channel, data, opts);
    }
    const historySize = Math.max(0, Math.floor(opts.historySize));
    const historyTtlMs = Math.max(0, Math.floor(opts.historyTtlMs));
    const json = JSON.stringify(data ?? null) ?? 'null';
    const info = opts.info ? JSON.stringify(opts.info) : '';
    return new Promise<StreamPosition>((resolve, reject) => {
      this.batcher.add(channel, `${historySize}:${historyTtlMs}`, { json, info, historySize, historyTtlMs, resolve, reject }, json.length + info.length);
    });
  }

  /**
   * Stores a batch as one message (a batch of one in the single form) and delivers it live. The
   * stored and the live message are built by splicing the items' JSON, never re-encoding the data.
   */
  private sendBatch(channel: string, items: QueuedPublish[]): void {
    const n = items.length;
    const { historySize, historyTtlMs } = items[0]!; // one tag per batch: all alike
    const payload = n === 1 ? `"d":${items[0]!.json}${items[0]!.info ? `,"i":${items[0]!.info}` : ''}` : `"b":[${items.map((it) => (it.info ? `[${it.json},${it.info}]` : `[${it.json}]`)).join(',')}]`;
    // serial() is entered now, so batches and lone publications keep their call order.
    const stored = this.serial(channel, async () => {
      const { nc } = await this.ready;
      const r = await this.append(
        channel,
        (last) => ({ e: last.epoch, o: last.offset + n, s: historySize, t: historyTtlMs }),
        undefined,
        (st) => sc.encode(`{"e":${JSON.stringify(st.e)},"o":${st.o},"s":${st.s},"t":${st.t},${payload}}`),
      );
      nc.publish(this.deliverSubject(channel), sc.encode(`{"e":${JSON.stringify(r.stored.e)},"o":${r.stored.o},"q":${r.last.seq},${payload}}`));
      return { epoch: r.last.epoch, offset: r.last.offset };
    });
    stored.then(
      (top) => items.forEach((it, k) => it.resolve({ epoch: top.epoch, offset: top.offset - n + 1 + k })),
      (err: unknown) => {
        for (const it of items) it.reject(err);
      },
    );
  }

  private liveMessage(stored: Stored, seq: number): Record<string, unknown> {
    const live: Record<string, unknown> = { e: stored.e, o: stored.o, q: seq, d: stored.d ?? null };
    if (stored.i) live.i = stored.i;
    return live;
  }

  /** A publication stored alone (it has an idempotency key, or batching is off). */
  private publishOne(channel: string, data: unknown, opts: PublishOptions): Promise<StreamPosition> {
    const msgId = opts.idempotencyKey !== undefined ? `${this.tok(channel)}.${opts.idempotencyKey}` : undefined;
    // serial() is entered now, not after an await, so this takes its place behind what was sent before it.
    return this.serial(channel, async () => {
      const { nc } = await this.ready;
      const r = await this.append(
        channel,
        (last) => {
          const s: Stored = { e: last.epoch, o: last.offset + 1, s: Math.max(0, Math.floor(opts.historySize)), t: Math.max(0, Math.floor(opts.historyTtlMs)), d: data ?? null };
          if (opts.info) s.i = opts.info;
          return s;
        },
        msgId,
      );
      if (!r.duplicate) nc.publish(this.deliverSubject(channel), jc.encode(this.liveMessage(r.stored, r.last.seq)));
      return { epoch: r.last.epoch, offset: r.last.offset };
    });
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    this.checkOpen();
    (await this.ready).nc.publish(this.deliverSubject(channel), jc.encode({ j: info }));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    this.checkOpen();
    (await this.ready).nc.publish(this.deliverSubject(channel), jc.encode({ l: info }));
  }

  async subscribe(channel: string): Promise<void> {
    this.checkOpen();
    const { nc } = await this.ready;
    if (this.subs.has(channel)) return;
    this.seq.track(channel);
    const sub = nc.subscribe(this.deliverSubject(channel), { callback: (err, msg) => !err && this.onMessage(channel, msg.data) });
    this.subs.set(channel, sub);
    try {
      await nc.flush(); // the server has the SUB once the PONG is back
      const top = await this.history(channel, { limit: 0, create: true });
      this.seq.seed(channel, top.position.epoch, top.position.offset);
    } catch (err) {
      if (this.subs.get(channel) === sub) {
        sub.unsubscribe();
        this.subs.delete(channel);
        this.seq.untrack(channel);
      }
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subs.get(channel)?.unsubscribe();
    this.subs.delete(channel);
    this.seq.untrack(channel);
  }

  async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    this.checkOpen();
    let last = await this.readLast(channel);
    if (!last) {
      // A plain read leaves nothing behind (any name a client sends would otherwise be stored).
      if (!opts.create) return { publications: [], position: { ...NO_STREAM } };
      // Materialise the stream with a position marker, so its epoch is fixed from this read on.
      await this.createMarker(channel);
      last = await this.readLast(channel);
      if (!last) throw new Error(`${this.name}: stream position of ${channel} vanished`);
    }
    const position = { epoch: last.epoch, offset: last.offset };
    const limit = Math.max(0, Math.floor(opts.limit));
    if (limit === 0) return { publications: [], position };
    if (opts.since && (opts.since.epoch !== last.epoch || opts.since.offset >= last.offset)) return { publications: [], position };
    // Which offsets are still history: the newest `s` (as asked by the latest publish), not expired.
    const keepFrom = last.offset - (last.stored.s ?? 0) + 1;
    const lowest = opts.since ? Math.max(keepFrom, opts.since.offset + 1) : keepFrom;
    if (lowest > last.offset) return { publications: [], position };
    const startSeq = opts.since ? this.hints.get(channel)?.get(opts.since.offset) : undefined;
    const all = await this.readRange(channel, startSeq !== undefined ? startSeq + 1 : undefined, last.seq);
    const now = Date.now();
    const live: Publication[] = [];
    for (const m of all) {
      const s = m.stored;
      if (s.k === 'm' || s.e !== last.epoch || s.o < lowest || !s.s || !s.t || m.time + s.t <= now) continue;
      for (const p of expand(s)) if (p.offset >= lowest) live.push(p);
    }
    let publications: Publication[];
    if (opts.since) publications = live.slice(0, limit);
    else if (opts.reverse) publications = live.slice(-limit).reverse();
    else publications = live.slice(-limit);
    return { publications, position };
  }

  /** Reads the channel's stored messages from `startSeq` (or its first) through `untilSeq`, with an ordered consumer. */
  private async readRange(channel: string, startSeq: number | undefined, untilSeq: number): Promise<Array<{ stored: Stored; time: number }>> {
    const { js } = await this.ready;
    const c = await js.consumers.get(this.streamName, {
      filterSubjects: this.histSubject(channel),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: startSeq ?? 1,
    });
    const out: Array<{ stored: Stored; time: number }> = [];
    try {
      for (;;) {
        const batch = await c.fetch({ max_messages: 1000, expires: 1000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          out.push({ stored: m.json<Stored>(), time: Number(m.info.timestampNanos / 1_000_000) });
          if (m.seq >= untilSeq || m.info.pending === 0) return out;
        }
        if (got === 0) return out;
      }
    } finally {
      await c.delete().catch(() => {});
    }
  }

  async removeHistory(channel: string): Promise<void> {
    this.checkOpen();
    const { jsm } = await this.ready;
    await this.serial(channel, async () => {
      const last = await this.readLast(channel);
      if (!last) return;
      // Keep the position: a marker with the top offset, then drop everything before it.
      await this.append(channel, (l) => ({ e: l.epoch, o: l.offset, k: 'm', s: 0 }));
      await jsm.streams.purge(this.streamName, { filter: this.histSubject(channel), keep: 1 });
    });
  }

  async presenceAdd(channel: string, clientId: string, info: ClientInfo, ttlMs: number): Promise<void> {
    this.checkOpen();
    const { kv } = await this.ready;
    await kv.put(`${this.tok(channel)}.${this.tok(clientId)}`, jc.encode({ x: Date.now() + ttlMs, i: info }));
  }

  async presenceRemove(channel: string, clientId: string): Promise<void> {
    this.checkOpen();
    const { kv } = await this.ready;
    await kv.purge(`${this.tok(channel)}.${this.tok(clientId)}`);
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    return this.presenceOf(await this.presenceKeys(channel));
  }

  /**
   * Pages in the order of the members' key tokens (base64url of the client id); the cursor is the
   * last token returned. KV has no ordered or counted key listing, so every page lists the
   * channel's keys: O(members) per page, unlike the memory and Redis brokers (docs/brokers.md).
   */
  async presencePage(channel: string, opts: PresencePageOptions): Promise<PresencePage> {
    const after = opts.cursor;
    if (after !== undefined && !/^[A-Za-z0-9_-]{1,512}$/.test(after)) throw new BadCursorError(after);
    const limit = Math.max(1, Math.floor(opts.limit));
    const prefix = this.tok(channel).length + 1;
    const keys = (await this.presenceKeys(channel)).filter((k) => after === undefined || k.slice(prefix) > after).sort();
    const clients: Record<string, ClientInfo> = {};
    let last: string | undefined;
    let i = 0;
    // Expired members are skipped, so read in slices until the page is full.
    while (i < keys.length && Object.keys(clients).length < limit) {
      const slice = keys.slice(i, i + limit - Object.keys(clients).length);
      i += slice.length;
      Object.assign(clients, await this.presenceOf(slice));
      last = slice[slice.length - 1]!.slice(prefix);
    }
    return i < keys.length && last !== undefined ? { clients, cursor: last } : { clients };
  }

  /** Counts by reading every member (KV keeps no counters): O(members), see docs/brokers.md. */
  async presenceStats(channel: string): Promise<{ clients: number; users: number }> {
    const p = await this.presence(channel);
    return { clients: Object.keys(p).length, users: new Set(Object.values(p).map((i) => i.user)).size };
  }

  private async presenceKeys(channel: string): Promise<string[]> {
    this.checkOpen();
    const { kv } = await this.ready;
    const keys: string[] = [];
    for await (const k of await kv.keys(`${this.tok(channel)}.*`)) keys.push(k);
    return keys;
  }

  /** The live members among `keys`, by client id. */
  private async presenceOf(keys: string[]): Promise<Record<string, ClientInfo>> {
    const { kv } = await this.ready;
    const out: Record<string, ClientInfo> = {};
    const now = Date.now();
    const entries = await Promise.all(keys.map((k) => kv.get(k)));
    for (const [i, e] of entries.entries()) {
      if (!e || e.operation !== 'PUT' || e.value.length === 0) continue;
      const v = e.json<{ x: number; i: ClientInfo }>();
      if (v.x <= now) continue;
      const k = keys[i]!;
      out[Buffer.from(k.slice(k.indexOf('.') + 1), 'base64url').toString('utf8')] = v.i;
    }
    return out;
  }

  /** Connected to a NATS server with the stream and KV bucket set up, and not closing. */
  get connected(): boolean {
    return this.up && this.closing === null;
  }

  /** Drains the connection, after storing the publishes still collected. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) this.batcher.flushAll();
    this.closing ??= (async () => {
      try {
        const { nc } = await this.ready;
        await nc.drain();
      } catch {
        /* never connected */
      }
    })();
    return this.closing;
  }

  private onMessage(channel: string, data: Uint8Array): void {
    if (!this.handler) return;
    let m: { e?: string; o?: number; q?: number; d?: unknown; i?: ClientInfo; b?: unknown; j?: ClientInfo; l?: ClientInfo };
    try {
      m = JSON.parse(sc.decode(data));
    } catch {
      return;
    }
    if (typeof m.o === 'number' && typeof m.e === 'string') {
      if (typeof m.q === 'number') this.hint(channel, m.o, m.q);
      if (m.b !== undefined && !Array.isArray(m.b)) return;
      for (const pub of expand(m as Stored)) this.seq.receive(channel, m.e, pub);
    } else if (m.j) this.handler.onJoin(channel, m.j);
    else if (m.l) this.handler.onLeave(channel, m.l);
  }

  private checkOpen(): void {
    if (this.closing) throw new Error(`${this.name} broker is closed`);
  }
}

/** The publications of a stored (or live) message: one, or a batch ending at offset `o`. */
function expand(s: Pick<Stored, 'o' | 'd' | 'i' | 'b'>): Publication[] {
  if (!s.b) {
    const p: Publication = { offset: s.o, data: s.d ?? null };
    if (s.i) p.info = s.i;
    return [p];
  }
  const first = s.o - s.b.length + 1;
  const out: Publication[] = [];
  s.b.forEach((item, k) => {
    if (!Array.isArray(item)) return;
    const p: Publication = { offset: first + k, data: item[0] ?? null };
    if (item[1]) p.info = item[1];
    out.push(p);
  });
  return out;
}

function apiCode(err: unknown): number | undefined {
  const e = err as { api_error?: { err_code?: number } };
  return e?.api_error?.err_code;
}

function isNotFound(err: unknown): boolean {
  const code = apiCode(err);
  return code === 10037 || /no message found|not found/i.test((err as Error)?.message ?? '');
}
