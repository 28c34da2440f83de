/**
 * RabbitMQ queue consumer (docs/integrations.md "RabbitMQ").
 *
 * Consumes one queue with manual acknowledgements and `prefetch = batchSize`. A message names its
 * channel by a header (`x-switchboard-channel`) or by its routing key through `routes`; its body is
 * the publication's JSON data. Each message is published through the node (`node.publish`, like
 * the HTTP API) and acked only after the publish is stored.
 *
 * Exactly once in history: the idempotency key is `amqp:<queue>:<message_id>`. RabbitMQ
 * redelivers every unacked message when a consumer dies (or its connection drops), and a
 * redelivery carries the same message_id, so the broker stores it once (within the node's
 * `idempotencyTtl`). A message without message_id has no identity that survives redelivery (the
 * delivery tag is per channel, the `redelivered` flag does not say whether the publish got
 * through), so it is delivered at least once; `requireMessageId` dead-letters those instead.
 *
 * Order per channel: messages of one channel are published one after the other in delivery
 * order (a per-channel promise chain; channels in parallel). The queue is consumed exclusively
 * (`exclusive`, the default), so with several nodes one consumes and the others stand by. When Switchboard's broker fails
 * (error 114) the consumer cancels its subscription, nacks with requeue the failed message and
 * every later one it holds, waits until the broker is back, and consumes again: a classic queue
 * puts requeued messages back at their original positions, so the order is kept.
 *
 * Poison messages (bad JSON, too large, no or invalid channel, refused namespace) are copied to
 * `deadLetterQueue` with the reason in headers and acked, or, without one, rejected without
 * requeue (to the queue's own dead-letter exchange, if it has one).
 */
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { NodeCore } from '../server/core.ts';
import { Backoff, ConsumerStats, Sleepers, type Consumer } from './consumer.ts';
import { checkChannel, compileRoutes, decodeData, isPermanent, PoisonError, poisonFromReply, routeChannel, sourceKey, type Route } from './input.ts';
import type { RabbitMqOptions } from './options.ts';

/** Milliseconds between queue-depth samples. */
const DEPTH_INTERVAL = 5000;
/** Milliseconds between checks whether an exclusively held queue is free (the failover time). */
const STANDBY_INTERVAL = 1000;

interface Item {
  channel: string;
  data: unknown;
  key: string | undefined;
}

/** Lag of a RabbitMQ consumer: the oldest message it holds, and while paused the oldest it handed back. */
class RabbitStats extends ConsumerStats {
  /** Delivery tag → when the message was produced (its `timestamp`) or, without one, received. */
  readonly holding = new Map<number, number>();
  /** While paused after a broker failure: the oldest held message's time at the pause. */
  pausedOldest = 0;

  override lagSeconds(): number {
    let oldest = this.pausedOldest || Infinity;
    for (const t of this.holding.values()) if (t < oldest) oldest = t;
    return oldest === Infinity ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
  }
}

export class RabbitMqConsumer implements Consumer {
  readonly stats: RabbitStats;
  private readonly routes: Route[];
  private closed = false;
  private running: Promise<void> | null = null;
  /** Every pending sleep, so close() ends them all. */
  private readonly sleepers = new Sleepers();
  /** The current session's channel; deliveries of an older one are never acked on this one. */
  private ch: ConfirmChannel | null = null;
  private consumerTag = '';
  private endSession: (() => void) | null = null;
  /** Tail of each channel's publish chain (kept across sessions, so a redelivery waits for a stale publish). */
  private readonly chains = new Map<string, Promise<void>>();
  /** Set on a broker failure: held messages are nacked (requeued) instead of published, until resumed. */
  private paused = false;
  private lastLogged = '';

  constructor(
    private readonly node: NodeCore,
    private readonly o: RabbitMqOptions,
  ) {
    this.stats = new RabbitStats(o.name, 'rabbitmq');
    this.routes = compileRoutes(o.routes);
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => this.log(`stopped: ${(err as Error).message}`));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sleepers.wakeAll();
    await this.running;
  }

  /** A sleep that close() ends early. */
  private sleep(ms: number): Promise<void> {
    return this.sleepers.sleep(ms);
  }

  private log(message: string): void {
    if (message === this.lastLogged) return;
    this.lastLogged = message;
    console.warn(`switchboard: consumer ${this.o.name} (rabbitmq ${this.o.queue}): ${message}`);
  }

  private async run(): Promise<void> {
    const amqp = await import('amqplib');
    const backoff = new Backoff();
    while (!this.closed) {
      let conn: ChannelModel | null = null;
      try {
        conn = await amqp.connect(this.o.url, { clientProperties: { connection_name: `switchboard ${this.node.options.name} ${this.o.name}` } });
        const ended = new Promise<void>((resolve) => {
          this.endSession = resolve;
          conn!.on('error', (err: Error) => this.log(`connection error: ${err.message}`));
          conn!.on('close', () => resolve());
        });
        await this.session(conn, ended);
        backoff.reset();
      } catch (err) {
        this.stats.error('source');
        this.log(`cannot consume, retrying: ${(err as Error).message}`);
      } finally {
        this.stats.connected = false;
        this.ch = null;
        this.consumerTag = '';
        await conn?.close().catch(() => {});
      }
      if (!this.closed) await this.sleep(backoff.next());
    }
  }

  /** One connection's life: channel, prefetch, queue checks, consume, depth samples until it ends. */
  private async session(conn: ChannelModel, ended: Promise<void>): Promise<void> {
    const ch = await conn.createConfirmChannel();
    ch.on('error', (err: Error) => this.log(`channel error: ${err.message}`));
    ch.on('close', () => this.endSession?.());
    await ch.prefetch(this.o.batchSize);
    if (this.o.declare) await ch.assertQueue(this.o.queue, { durable: true });
    else await ch.checkQueue(this.o.queue);
    if (this.o.deadLetterQueue) await ch.assertQueue(this.o.deadLetterQueue, { durable: true });
    this.ch = ch;
    this.paused = false;
    this.stats.pausedOldest = 0;
    // Delivery tags count per channel: what an old channel held is RabbitMQ's again.
    this.stats.holding.clear();
    let done = false;
    void ended.then(() => (done = true));
    if (this.o.exclusive && !(await this.standBy(ch, () => done))) return;
    await this.consume(ch);
    this.stats.connected = true;
    this.lastLogged = '';
    while (!done && !this.closed) {
      try {
        this.stats.pending = (await ch.checkQueue(this.o.queue)).messageCount;
      } catch {
        break; // the channel is gone; the session ends
      }
      await Promise.race([ended, this.sleep(DEPTH_INTERVAL)]);
    }
    if (!this.closed) {
      this.log('connection closed; reconnecting');
      return;
    }
    // Closing: stop deliveries, let started publishes finish and be acked; whatever is still
    // unacked goes back to the queue when the connection closes.
    if (this.consumerTag) await ch.cancel(this.consumerTag).catch(() => {});
    this.consumerTag = '';
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
    // Close the channel before the connection: channel.close-ok comes after RabbitMQ has processed
    // the acks sent before it, while a connection close can overtake them (the acked messages
    // would be requeued and replayed).
    await ch.close().catch(() => {});
  }

  /**
   * Exclusive mode: waits while another consumer has the queue (its consumer count is not 0),
   * connected (up) and sampling the depth, checking every STANDBY_INTERVAL. Returns false if the
   * session ended or the consumer closed meanwhile. Two standbys that see the queue free at the
   * same moment both try; the loser's exclusive consume is refused (403), its session restarts.
   */
  private async standBy(ch: ConfirmChannel, ended: () => boolean): Promise<boolean> {
    let logged = false;
    for (;;) {
      if (ended() || this.closed) return false;
      const q = await ch.checkQueue(this.o.queue);
      if (q.consumerCount === 0) {
        if (logged) this.log('the queue is free: taking over');
        return true;
      }
      this.stats.pending = q.messageCount;
      this.stats.connected = true;
      if (!logged) this.log(`another consumer has the queue (exclusive): standing by`);
      logged = true;
      await this.sleep(STANDBY_INTERVAL);
    }
  }

  private async consume(ch: ConfirmChannel): Promise<void> {
    const r = await ch.consume(this.o.queue, (msg) => this.onMessage(ch, msg), { noAck: false, exclusive: this.o.exclusive });
    this.consumerTag = r.consumerTag;
  }

  private onMessage(ch: ConfirmChannel, msg: ConsumeMessage | null): void {
    // null: the server cancelled the subscription (the queue was deleted): start over.
    if (msg === null) {
      this.log('subscription cancelled by the server');
      this.endSession?.();
      return;
    }
    const tag = msg.fields.deliveryTag;
    const ts = msg.properties.timestamp as unknown;
    this.stats.holding.set(tag, typeof ts === 'number' && ts > 0 ? ts * 1000 : Date.now());
    let item: Item;
    try {
      item = this.inspect(msg);
    } catch (err) {
      // Nothing about one message may stop the stream: an unexpected failure dead-letters it too.
      void this.deadLetter(ch, msg, err instanceof PoisonError ? err : new PoisonError('rejected', (err as Error).message));
      return;
    }
    const next = (this.chains.get(item.channel) ?? Promise.resolve()).then(() => this.handle(ch, msg, item));
    this.chains.set(item.channel, next);
    void next.finally(() => {
      if (this.chains.get(item.channel) === next) this.chains.delete(item.channel);
    });
  }

  private inspect(msg: ConsumeMessage): Item {
    if (msg.content.length > this.o.maxBytes) throw new PoisonError('too_large', `body is ${msg.content.length} bytes, over maxBytes ${this.o.maxBytes}`);
    let channel: string | null = null;
    const header = this.o.channelHeader ? (msg.properties.headers?.[this.o.channelHeader] as unknown) : undefined;
    if (header !== undefined) {
      const h = Buffer.isBuffer(header) ? header.toString('utf8') : header;
      if (typeof h !== 'string') throw new PoisonError('invalid_channel', `header ${this.o.channelHeader} is not a string`);
      channel = h;
    } else {
      channel = routeChannel(this.routes, msg.fields.routingKey);
      if (channel === null) throw new PoisonError('no_channel', `no ${this.o.channelHeader || 'channel'} header and no route matches routing key ${JSON.stringify(msg.fields.routingKey.slice(0, 255))}`);
    }
    checkChannel(channel, this.node.options, this.o.namespaces);
    const data = decodeData(msg.content, this.o.maxBytes);
    const id = msg.properties.messageId as unknown;
    if ((typeof id !== 'string' || id === '') && this.o.requireMessageId) throw new PoisonError('no_message_id', 'no message_id: exactly-once delivery needs one (requireMessageId)');
    return { channel, data, key: typeof id === 'string' && id !== '' ? sourceKey(`amqp:${this.o.queue}`, id) : undefined };
  }

  /** Publishes one message (its channel's earlier ones are done) and acks it, or hands it back. */
  private async handle(ch: ConfirmChannel, msg: ConsumeMessage, item: Item): Promise<void> {
    const tag = msg.fields.deliveryTag;
    try {
      // An older session's delivery: its channel is closed and RabbitMQ has requeued it already.
      if (ch !== this.ch) return;
      if (this.paused || !this.node.broker.connected) return this.handBack(ch, msg);
      try {
        await this.node.publish(item.channel, item.data, item.key === undefined ? {} : { idempotencyKey: item.key });
      } catch (err) {
        if (isPermanent(err)) return await this.deadLetter(ch, msg, poisonFromReply(err));
        this.log(`publish failed: ${(err as Error).message}`);
        return this.handBack(ch, msg);
      }
      this.stats.published++;
      ack(ch, msg);
    } finally {
      if (ch === this.ch) this.stats.holding.delete(tag);
    }
  }

  /**
   * Nacks with requeue after a broker failure, and on the first one pauses: the subscription is
   * cancelled before the nack goes out (so RabbitMQ does not hand the message straight back), and
   * resumed once the broker is connected again and every held message has been handed back.
   */
  private handBack(ch: ConfirmChannel, msg: ConsumeMessage): void {
    if (!this.paused) {
      this.paused = true;
      this.stats.error('broker');
      this.log(`broker ${this.node.broker.name} is not connected or failed (114): held messages requeued, consuming paused until it is back`);
      let oldest = Infinity;
      for (const t of this.stats.holding.values()) if (t < oldest) oldest = t;
      this.stats.pausedOldest = oldest === Infinity ? Date.now() : oldest;
      const tag = this.consumerTag;
      this.consumerTag = '';
      if (tag) ch.cancel(tag).catch(() => {});
      void this.resume(ch);
    }
    try {
      ch.nack(msg, false, true);
    } catch {
      // The channel closed: RabbitMQ requeues unacked messages itself.
    }
  }

  private async resume(ch: ConfirmChannel): Promise<void> {
    const backoff = new Backoff();
    await this.sleep(backoff.next());
    await Promise.allSettled([...this.chains.values()]);
    while (!this.closed && ch === this.ch && !this.node.broker.connected) await this.sleep(backoff.next());
    if (this.closed || ch !== this.ch) return;
    this.paused = false;
    this.stats.pausedOldest = 0;
    try {
      await this.consume(ch);
      this.log('broker is back; consuming again');
    } catch (err) {
      this.log(`cannot resume: ${(err as Error).message}`);
      this.endSession?.();
    }
  }

  /** Sets a poison message aside: a copy with the reason to deadLetterQueue then ack, or reject to the queue's DLX. */
  private async deadLetter(ch: ConfirmChannel, msg: ConsumeMessage, err: PoisonError): Promise<void> {
    const tag = msg.fields.deliveryTag;
    this.stats.dead(err.reason);
    this.log(`message ${String(msg.properties.messageId ?? `#${tag}`).slice(0, 128)} dead-lettered: ${err.reason}: ${err.message}`);
    try {
      if (!this.o.deadLetterQueue) {
        ch.nack(msg, false, false);
        return;
      }
      const p = msg.properties;
      const opts: Options.Publish = {
        headers: {
          ...p.headers,
          'x-switchboard-reason': err.reason,
          'x-switchboard-error': err.message.slice(0, 1000),
          'x-switchboard-queue': this.o.queue,
          'x-switchboard-exchange': msg.fields.exchange,
          'x-switchboard-routing-key': msg.fields.routingKey,
        },
        persistent: true,
      };
      for (const k of ['contentType', 'contentEncoding', 'correlationId', 'messageId', 'timestamp', 'type', 'appId'] as const) {
        if (p[k] !== undefined) (opts as Record<string, unknown>)[k] = p[k];
      }
      await new Promise<void>((resolve, reject) => ch.sendToQueue(this.o.deadLetterQueue, msg.content, opts, (e: unknown) => (e ? reject(e as Error) : resolve())));
      ack(ch, msg);
    } catch (e) {
      // The copy was not confirmed (or the channel closed): requeue, to try again.
      this.stats.error('source');
      this.log(`dead-lettering failed: ${(e as Error).message}`);
      try {
        ch.nack(msg, false, true);
      } catch {
        // channel closed: requeued by RabbitMQ
      }
    } finally {
      if (ch === this.ch) this.stats.holding.delete(tag);
    }
  }
}

function ack(ch: ConfirmChannel, msg: ConsumeMessage): void {
  try {
    ch.ack(msg);
  } catch {
    // The channel closed after the publish: RabbitMQ redelivers it, the idempotency key dedups it.
  }
}
