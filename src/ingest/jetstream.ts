/**
 * NATS JetStream consumer (docs/integrations.md "NATS JetStream").
 *
 * Reads one stream through a durable pull consumer (created at start when absent: explicit acks,
 * `max_ack_pending = batchSize`, `ack_wait = ackWait`), pulling `batchSize` at a time. A message
 * names its channel by a header (`Switchboard-Channel`) or by its subject through `routes` (NATS
 * wildcards); its payload is the publication's JSON. Each message is published through the node
 * (`node.publish`, like the HTTP API) and acked only after the publish is stored.
 *
 * Exactly once in history: the idempotency key is `jetstream:<stream>:<stream sequence>`. The
 * server redelivers a message that was not acked (after `ackWait`, or at once after a nak), and a
 * redelivery has the same stream sequence, so the broker stores it once (within `idempotencyTtl`).
 *
 * Order per channel: one channel's messages are published one after the other in stream order,
 * channels in parallel. Pullers of one durable get different messages, so by default
 * (`exclusive`) one node at a time holds a lease (a key in a KV bucket whose entries live
 * `leaseTime`, renewed every third of it) and consumes; the others stand by. Redeliveries come back
 * later than the messages after them, so after a takeover (a dead node's unacked messages) or a
 * broker failure the consumer *gathers*: it holds what it receives, unpublished, until every
 * message the server counts as delivered-and-unacked is in its hands (`num_ack_pending` of the
 * consumer, counting those at or below its `delivered.stream_seq`), then publishes them sorted by
 * stream sequence, and only then streams on.
 *
 * When Switchboard's broker fails (114) the failed message and every later one held are nacked
 * with a delay (backoff 100 ms doubling to 5 s) and the consumer gathers again once the broker is
 * back. A message delivered more than `maxDeliver` times (failures, or a node that died while
 * holding it, again and again) is dead-lettered as `max_deliver` instead of tried again.
 *
 * Poison messages (bad JSON, too large, no or invalid channel, refused namespace) are published to
 * `deadLetterSubject` with the reason in headers (`Nats-Msg-Id` = stream:sequence, so JetStream
 * drops a second copy after a crash) and then acked.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer as JsConsumer, ConsumerMessages, JetStreamClient, JsMsg, KV, NatsConnection } from 'nats';
import type { NodeCore } from '../server/core.ts';
import { Backoff, ConsumerStats, Sleepers, type Consumer } from './consumer.ts';
import { LeaseKeeper } from './deliver.ts';
import { checkChannel, compileRoutes, decodeData, isPermanent, natsRouteChannel, PoisonError, poisonFromReply, sourceKey, type Route } from './input.ts';
import type { JetStreamOptions } from './options.ts';

/** Milliseconds between backlog samples and gather checks. */
const SAMPLE_INTERVAL = 5000;
const GATHER_INTERVAL = 200;
const STANDBY_INTERVAL = 500;

interface Item {
  channel: string;
  data: unknown;
  key: string;
}

class JetStats extends ConsumerStats {
  /** Stream sequence → when the message was stored in the stream (ms), for what this node holds. */
  readonly holding = new Map<number, number>();

  override lagSeconds(): number {
    let oldest = Infinity;
    for (const t of this.holding.values()) if (t < oldest) oldest = t;
    return oldest === Infinity ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
  }
}

export class JetStreamConsumer implements Consumer {
  readonly stats: JetStats;
  private readonly routes: Route[];
  private readonly token = randomUUID();
  private closed = false;
  private running: Promise<void> | null = null;
  private readonly sleepers = new Sleepers();
  private lastLogged = '';
  /** The session's message iterator, stopped by close() and on a lost lease. */
  private messages: ConsumerMessages | null = null;
  /** Gathering (after start, takeover or failure): messages are held, not published, until the broker is connected and (exclusive) every unacked message is here. */
  private gathering = true;
  private readonly held = new Map<number, JsMsg>();
  /** Bumped on every broker failure: chain work of an older generation is nacked, not published. */
  private gen = 0;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly nakBackoff = new Backoff();

  constructor(
    private readonly node: NodeCore,
    private readonly o: JetStreamOptions,
  ) {
    this.stats = new JetStats(o.name, 'jetstream');
    this.routes = compileRoutes(o.routes);
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => this.log(`stopped: ${(err as Error).message}`));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.messages?.stop();
    this.sleepers.wakeAll();
    await this.running;
  }

  private sleep(ms: number): Promise<void> {
    return this.sleepers.sleep(ms);
  }

  private log(message: string): void {
    if (message === this.lastLogged) return;
    this.lastLogged = message;
    console.warn(`switchboard: consumer ${this.o.name} (jetstream ${this.o.stream}): ${message}`);
  }

  private async run(): Promise<void> {
    const { connect } = await import('nats');
    const backoff = new Backoff();
    while (!this.closed) {
      let nc: NatsConnection | null = null;
      try {
        // No reconnects inside the client: a lost connection ends the session, which starts over.
        nc = await connect({ servers: this.o.url, reconnect: false, name: `switchboard-${this.node.options.name}-${this.o.name}`, timeout: 5000 });
        await this.session(nc, backoff);
      } catch (err) {
        if (!this.closed) {
          this.stats.error('source');
          this.log(`cannot consume, retrying: ${(err as Error).message}`);
        }
      } finally {
        this.stats.connected = false;
        this.messages = null;
        await nc?.close().catch(() => {});
      }
      if (!this.closed) await this.sleep(backoff.next());
    }
  }

  private async session(nc: NatsConnection, backoff: Backoff): Promise<void> {
    const o = this.o;
    const jsm = await nc.jetstreamManager();
    const { AckPolicy, DeliverPolicy, nanos, StorageType, DiscardPolicy } = await import('nats');
    await jsm.streams.info(o.stream); // must exist
    const config = { ack_wait: nanos(o.ackWait * 1000), max_ack_pending: o.batchSize, max_deliver: -1 };
    try {
      await jsm.consumers.info(o.stream, o.durable);
      await jsm.consumers.update(o.stream, o.durable, config);
    } catch (err) {
      if (!/consumer not found/i.test((err as Error).message)) throw err;
      await jsm.consumers.add(o.stream, {
        ...config,
        durable_name: o.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ...(o.filterSubject ? { filter_subject: o.filterSubject } : {}),
      });
    }
    try {
      const holder = await jsm.streams.find(o.deadLetterSubject);
      if (holder === o.stream) throw new Error(`deadLetterSubject ${o.deadLetterSubject} is captured by the consumed stream ${o.stream} itself`);
    } catch (err) {
      if (!/no stream matches subject/i.test((err as Error).message)) throw err;
      await jsm.streams.add({ name: `${o.stream}_dead`, subjects: [o.deadLetterSubject], storage: StorageType.File, max_msgs: 100_000, discard: DiscardPolicy.Old });
    }
    const js = nc.jetstream();
    this.stats.connected = true;
    let keeper: LeaseKeeper | null = null;
    let kv: KV | null = null;
    let rev = 0;
    const key = `${o.stream}.${o.durable}`;
    if (o.exclusive) {
      kv = await js.views.kv(`switchboard_leases_${o.leaseTime}s`, { ttl: o.leaseTime * 1000, history: 1 });
      let logged = false;
      for (;;) {
        if (this.closed) return;
        try {
          rev = await kv.create(key, new TextEncoder().encode(this.token));
          break;
        } catch (err) {
          if (!/wrong last sequence|exists/i.test((err as Error).message)) throw err;
        }
        if (!logged) this.log('another node holds the lease (exclusive): standing by');
        logged = true;
        await this.sampleBacklog(js);
        await this.sleep(STANDBY_INTERVAL);
      }
      if (logged) this.log('the lease is free: taking over');
      const lease = kv;
      keeper = new LeaseKeeper(
        async () => {
          try {
            rev = await lease.update(key, new TextEncoder().encode(this.token), rev);
            return true;
          } catch {
            return false;
          }
        },
        Math.max(200, (o.leaseTime * 1000) / 3),
        (why) => {
          this.log(`lost the lease (${why}): stopping, another node takes over`);
          this.messages?.stop();
        },
      );
      keeper.start();
    }
    this.lastLogged = '';
    backoff.reset();
    const closed = nc.closed();
    try {
      await this.consume(js, await js.consumers.get(o.stream, o.durable), closed);
    } finally {
      keeper?.stop();
      if (kv && keeper && !keeper.lost) await kv.delete(key, { previousSeq: rev }).catch(() => {});
    }
  }

  private async consume(js: JetStreamClient, c: JsConsumer, closed: Promise<void | Error>): Promise<void> {
    this.gathering = true;
    this.held.clear();
    this.stats.holding.clear();
    const messages = await c.consume({ max_messages: this.o.batchSize, expires: 5000 });
    this.messages = messages;
    let ended = false;
    void closed.then(() => {
      ended = true;
      messages.stop();
    });
    const ticker = this.tick(js, c, () => ended);
    try {
      for await (const m of messages) {
        if (this.closed) {
          m.nak();
          continue;
        }
        this.stats.holding.set(m.seq, Math.floor(m.info.timestampNanos / 1e6));
        if (this.gathering) {
          this.held.set(m.seq, m);
          continue;
        }
        this.dispatch(js, m);
      }
    } finally {
      ended = true;
      await ticker;
      // Let started publishes finish and be acked; held (gathered) ones go back at once.
      while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
      for (const m of this.held.values()) m.nak();
      this.held.clear();
      this.stats.holding.clear();
    }
    if (!this.closed) this.log('message stream ended; reconnecting');
  }

  /** Background work of a session: the gather check, `working()` for held messages, backlog samples. */
  private async tick(js: JetStreamClient, c: JsConsumer, ended: () => boolean): Promise<void> {
    let lastSample = 0;
    let lastWorking = Date.now();
    while (!ended() && !this.closed) {
      try {
        if (this.gathering && this.node.broker.connected) {
          const info = await c.info();
          let old = 0;
          for (const seq of this.held.keys()) if (seq <= info.delivered.stream_seq) old++;
          // Not exclusive, other nodes hold messages all the time and there is no order to
          // restore: holding only waits for the broker.
          if (!this.o.exclusive || old >= info.num_ack_pending) {
            const batch = [...this.held.values()].sort((a, b) => a.seq - b.seq);
            this.held.clear();
            this.gathering = false;
            if (batch.some((m) => m.redelivered)) this.log(`gathered ${batch.length} unacked messages (redeliveries included): publishing them in stream order`);
            for (const m of batch) this.dispatch(js, m);
          }
          this.stats.pending = info.num_pending;
          lastSample = Date.now();
        } else if (Date.now() - lastSample > SAMPLE_INTERVAL) {
          this.stats.pending = (await c.info()).num_pending;
          lastSample = Date.now();
        }
        if (Date.now() - lastWorking > (this.o.ackWait * 1000) / 3) {
          for (const m of this.held.values()) m.working();
          lastWorking = Date.now();
        }
      } catch (err) {
        this.log(`consumer info failed: ${(err as Error).message}`);
      }
      await this.sleep(this.gathering ? GATHER_INTERVAL : 1000);
    }
  }

  private async sampleBacklog(js: JetStreamClient): Promise<void> {
    try {
      this.stats.pending = (await (await js.consumers.get(this.o.stream, this.o.durable)).info()).num_pending;
    } catch {
      // standby: the figure waits
    }
  }

  private dispatch(js: JetStreamClient, m: JsMsg): void {
    if (m.info.deliveryCount > this.o.maxDeliver) {
      void this.deadLetter(js, m, new PoisonError('max_deliver', `delivered ${m.info.deliveryCount} times, over maxDeliver ${this.o.maxDeliver}`));
      return;
    }
    let item: Item;
    try {
      item = this.inspect(m);
    } catch (err) {
      void this.deadLetter(js, m, err instanceof PoisonError ? err : new PoisonError('rejected', (err as Error).message));
      return;
    }
    const gen = this.gen;
    const next = (this.chains.get(item.channel) ?? Promise.resolve()).then(() => this.handle(js, m, item, gen));
    this.chains.set(item.channel, next);
    void next.finally(() => {
      if (this.chains.get(item.channel) === next) this.chains.delete(item.channel);
    });
  }

  private inspect(m: JsMsg): Item {
    if (m.data.length > this.o.maxBytes) throw new PoisonError('too_large', `payload is ${m.data.length} bytes, over maxBytes ${this.o.maxBytes}`);
    let channel: string | null = null;
    const header = this.o.channelHeader && m.headers?.has(this.o.channelHeader) ? m.headers.get(this.o.channelHeader) : undefined;
    if (header !== undefined) channel = header;
    else {
      channel = natsRouteChannel(this.routes, m.subject);
      if (channel === null) throw new PoisonError('no_channel', `no ${this.o.channelHeader || 'channel'} header and no route matches subject ${JSON.stringify(m.subject.slice(0, 255))}`);
    }
    checkChannel(channel, this.node.options, this.o.namespaces);
    return { channel, data: decodeData(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), this.o.maxBytes), key: sourceKey(`jetstream:${this.o.stream}`, String(m.seq)) };
  }

  /** Publishes one message (its channel's earlier ones are done) and acks it, or hands it back. */
  private async handle(js: JetStreamClient, m: JsMsg, item: Item, gen: number): Promise<void> {
    if (gen !== this.gen || !this.node.broker.connected) return this.handBack(m, gen);
    try {
      await this.node.publish(item.channel, item.data, { idempotencyKey: item.key });
    } catch (err) {
      if (isPermanent(err)) return this.deadLetter(js, m, poisonFromReply(err));
      this.log(`publish failed: ${(err as Error).message}`);
      return this.handBack(m, gen);
    }
    this.stats.published++;
    this.nakBackoff.reset();
    m.ack();
    this.stats.holding.delete(m.seq);
  }

  /** Naks with a delay after a broker failure; the first of a generation starts gathering again. */
  private handBack(m: JsMsg, gen: number): void {
    if (gen === this.gen) {
      this.gen++;
      this.gathering = true;
      this.stats.error('broker');
      this.log(`broker ${this.node.broker.name} is not connected or failed (114): held messages nacked, gathering them again once it is back`);
    }
    m.nak(Math.round(this.nakBackoff.next()));
    this.stats.holding.delete(m.seq);
  }

  /** Publishes a poison message with its reason to deadLetterSubject, then acks it. */
  private async deadLetter(js: JetStreamClient, m: JsMsg, err: PoisonError): Promise<void> {
    this.stats.dead(err.reason);
    this.log(`message ${this.o.stream}:${m.seq} dead-lettered: ${err.reason}: ${err.message}`);
    try {
      const { headers } = await import('nats');
      const h = headers();
      if (m.headers) for (const [k, vs] of m.headers) for (const v of vs) h.append(k, v);
      h.set('Switchboard-Reason', err.reason);
      h.set('Switchboard-Error', err.message.slice(0, 1000).replace(/[\r\n]/g, ' '));
      h.set('Switchboard-Stream', this.o.stream);
      h.set('Switchboard-Sequence', String(m.seq));
      h.set('Switchboard-Subject', m.subject);
      await js.publish(this.o.deadLetterSubject, m.data, { headers: h, msgID: `${this.o.stream}:${m.seq}` });
      m.ack();
    } catch (e) {
      this.stats.error('source');
      this.log(`dead-lettering failed: ${(e as Error).message}`);
      m.nak(1000);
    } finally {
      this.stats.holding.delete(m.seq);
    }
  }
}
