/**
 * MQTT bridge (docs/integrations.md "MQTT bridge"): devices on an MQTT broker (3.1.1 or 5, the
 * `mqtt` client) in and out of channels.
 *
 * Inbound: the bridge subscribes to each route's topic filter with a fixed client id and a
 * persistent session (`clean: false`; MQTT 5 `sessionExpiryInterval`), so the broker keeps its
 * subscriptions and queues QoS 1 messages while it is away. Messages are handled one at a time in
 * arrival order (mqtt.js `handleMessage`, whose callback sends the PUBACK): each is published
 * through the node (`node.publish`, the path of the HTTP API) and acknowledged only once the
 * publish is stored in the channel's history. A message the bridge received but did not ack (it
 * was killed, the connection dropped) is redelivered by the broker to the same session.
 *
 * Exactly once in history, as far as the packet allows: the idempotency key is the message's own
 * identity when it has one (MQTT 5 user property `idProperty`, else its correlation data), else a
 * SHA-256 of topic and payload (`contentKey`). A packet id is not an identity: it is reused as
 * soon as a message is acked, and a redelivery to a new session may carry another. So without an
 * identity, redeliveries are stored once, and so are two equal payloads on one topic within
 * `idempotencyTtl` (a device that sends the same reading twice must add a sequence number or a
 * timestamp, or an MQTT 5 message id, for both to be kept).
 *
 * Retained messages (sent by the broker when the bridge subscribes) become the channel's latest
 * value: published unless one of the channel's 10 newest publications already is that data, so a
 * restart does not append the same value again. An empty retained payload (a deleted retained message) is
 * skipped.
 *
 * Outbound: the bridge subscribes in the node's hub to each `outbound` channel and publishes its
 * publications to the topic (live: publications made while the bridge is not running are not
 * replayed). Loops are cut both ways: publications the bridge itself made (info.client
 * `mqtt:<name>`) are not sent back out; messages the bridge sent out are not taken in again (MQTT 5:
 * no-local subscriptions and the user property `switchboard-bridge`; MQTT 3.1.1: a 60-second
 * memory of the topic+payload hashes it sent).
 *
 * Poison messages (too large, bad JSON or UTF-8, no route, refused channel) are republished to
 * `${deadLetterTopic}/${reason}/${topic}` (MQTT 5: with user properties reason and error) and
 * acked, counted in switchboard_consumer_dead_letters_total; they never stop the stream.
 */
import { createHash } from 'node:crypto';
import type { IClientOptions, IClientSubscribeOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Envelope, HubSubscriber } from '../server/hub.ts';
import type { NodeCore } from '../server/core.ts';
import { Backoff, ConsumerStats, Sleepers, type Consumer } from './consumer.ts';
import { checkChannel, decodeData, isPermanent, PoisonError, poisonFromReply, sourceKey } from './input.ts';
import { unshared, type MqttOptions, type MqttOutboundOptions } from './options.ts';

/** User property marking what a bridge published (loop prevention, MQTT 5). */
export const BRIDGE_PROPERTY = 'switchboard-bridge';
/** How long a 3.1.1 bridge remembers what it sent, to drop it when the broker echoes it back. */
const ECHO_MS = 60_000;
/** Remembered sends at most (older ones are forgotten first). */
const ECHO_MAX = 100_000;
/** Forwards waiting for the MQTT broker (disconnected or slow) before new ones are dropped. */
const OUTBOUND_MAX = 10_000;
/** Received messages waiting to be published (QoS 0 ones past this are dropped; QoS 1 ones are bounded by the in-flight window). */
const QUEUE_MAX = 10_000;
/** A retained value found among this many of the channel's newest publications is not published again. */
const RETAINED_SEEN = 10;
/** QoS 1 messages the broker may have in flight to the bridge at once (MQTT 5). */
const RECEIVE_MAXIMUM = 100;
const NOT_YET = new Error('acknowledged by the bridge once stored');

interface Route {
  readonly levels: readonly string[];
  readonly channel: string;
}

/** The channel for `topic` from the first matching route, `{n}` filled with the n-th wildcard's match; null if none. */
export function mqttRouteChannel(routes: readonly Route[], topic: string): string | null {
  const levels = topic.split('/');
  for (const r of routes) {
    const caught: string[] = [];
    let ok = true;
    for (let i = 0; i < r.levels.length; i++) {
      const p = r.levels[i]!;
      if (p === '#') {
        // '#' also matches the parent level ("a/#" matches "a"); topics starting with '$' are not matched by wildcards at the first level.
        if (i === 0 && topic.startsWith('$')) ok = false;
        else caught.push(levels.slice(i).join('/'));
        break;
      }
      if (i >= levels.length) {
        ok = false;
        break;
      }
      if (p === '+') {
        if (i === 0 && topic.startsWith('$')) {
          ok = false;
          break;
        }
        caught.push(levels[i]!);
      } else if (p !== levels[i]) {
        ok = false;
        break;
      }
      if (i === r.levels.length - 1 && levels.length !== r.levels.length) ok = false;
    }
    if (ok) return r.channel.replace(/\{(\d+)\}/g, (_, n: string) => caught[Number(n) - 1] ?? '');
  }
  return null;
}

function hashOf(topic: string, payload: Buffer): string {
  return createHash('sha256').update(topic).update('\0').update(payload).digest('base64url');
}

/** Lag of the bridge: the message being handled, and while disconnected (after a first connect) the time since. */
class MqttStats extends ConsumerStats {
  handlingSince = 0;
  disconnectedAt = 0;

  override lagSeconds(): number {
    const since = this.handlingSince || (this.connected ? 0 : this.disconnectedAt);
    return since === 0 ? 0 : Math.max(0, (Date.now() - since) / 1000);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class MqttBridge implements Consumer {
  readonly stats: MqttStats;
  private readonly routes: Route[];
  private readonly marker: string;
  private readonly clientId: string;
  private client: MqttClient | null = null;
  private closed = false;
  private starting: Promise<void> | null = null;
  /** Incremented on every connect and close: a handling that outlives its connection must not ack on the next one. */
  private generation = 0;
  private readonly sleepers = new Sleepers();
  /** Messages received, in order, with the connection generation they came on. */
  private readonly queue: Array<{ packet: IPublishPacket; gen: number }> = [];
  private pumping = false;
  /** Settles when the queue is idle (close() waits for the message being handled). */
  private current: Promise<void> = Promise.resolve();
  private readonly subscribers: Array<{ channel: string; sub: HubSubscriber }> = [];
  /** MQTT 3.1.1 loop prevention: hash of topic+payload sent → how many echoes to drop, until when. */
  private readonly sent = new Map<string, { n: number; until: number }>();
  private outboundPending = 0;
  private lastLogged = '';

  constructor(
    private readonly node: NodeCore,
    private readonly o: MqttOptions,
  ) {
    this.stats = new MqttStats(o.name, 'mqtt');
    if (o.outbound.length > 0) this.stats.errors.set('outbound', 0);
    this.routes = o.routes.map((r) => ({ levels: unshared(r.topic).split('/'), channel: r.channel }));
    this.marker = `mqtt:${o.name}`;
    this.clientId = o.clientId || `switchboard-${node.options.name}-${o.name}`;
  }

  start(): void {
    this.starting ??= this.run().catch((err: unknown) => this.log(`stopped: ${(err as Error).message}`));
  }

  async close(): Promise<void> {
    if (this.closed) return this.starting ?? undefined;
    this.closed = true;
    this.sleepers.wakeAll();
    await this.starting;
    for (const { channel, sub } of this.subscribers) this.node.hub.remove(channel, sub);
    this.subscribers.length = 0;
    // The message being handled finishes (and is acked) first; then the client disconnects,
    // waiting for the broker's acks of the forwards in flight (bounded).
    await Promise.race([this.current, this.sleep(5000)]);
    const c = this.client;
    this.client = null;
    if (c) {
      this.generation++;
      await Promise.race([c.endAsync(false).catch(() => {}), new Promise((r) => setTimeout(r, 3000).unref())]);
      await c.endAsync(true).catch(() => {});
    }
    this.stats.connected = false;
  }

  private sleep(ms: number): Promise<void> {
    return this.sleepers.sleep(ms);
  }

  private log(message: string): void {
    if (message === this.lastLogged) return;
    this.lastLogged = message;
    console.warn(`switchboard: consumer ${this.o.name} (mqtt ${this.o.url.replace(/\/\/[^@/]*@/, '//')}): ${message}`);
  }

  private async run(): Promise<void> {
    const mqtt = await import('mqtt');
    if (this.closed) return;
    const o = this.o;
    const opts: IClientOptions = {
      clientId: this.clientId,
      protocolVersion: o.protocolVersion as 4 | 5,
      clean: false,
      keepalive: o.keepalive,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      resubscribe: false,
      queueQoSZero: false,
    };
    if (o.protocolVersion === 5) opts.properties = { sessionExpiryInterval: o.sessionExpiry, receiveMaximum: RECEIVE_MAXIMUM };
    if (o.username) opts.username = o.username;
    if (o.password) opts.password = o.password;
    const client = mqtt.connect(o.url, opts);
    this.client = client;
    // mqtt.js handles incoming packets one at a time, its PUBACKs and PINGRESPs included: a
    // handler that waited for the publish there would stall the connection (and its keepalive,
    // and the PUBACK of a dead-letter publish: a deadlock). So every message is queued and the
    // queue acks it itself once stored, in arrival order; the broker's in-flight window (MQTT 5
    // receiveMaximum, Mosquitto's max_inflight_messages) bounds how many QoS 1 messages wait.
    client.handleMessage = (packet, callback) => {
      if (packet.qos === 0 && this.queue.length >= QUEUE_MAX) {
        this.stats.error('source');
        this.log(`${QUEUE_MAX} messages wait; dropping a QoS 0 message`);
      } else {
        this.queue.push({ packet, gen: this.generation });
        this.stats.pending = this.queue.length;
        if (!this.pumping) this.current = this.pump(client);
      }
      // An error: mqtt.js sends no PUBACK; pump() sends it once the publish is stored.
      callback(NOT_YET);
    };
    client.on('connect', (connack) => {
      this.generation++;
      this.stats.connected = true;
      this.stats.disconnectedAt = 0;
      this.lastLogged = '';
      if (this.routes.length > 0) void this.subscribe(client, connack.sessionPresent);
    });
    client.on('close', () => {
      if (this.stats.connected && !this.closed) {
        this.stats.disconnectedAt = Date.now();
        this.log('connection closed; reconnecting');
      }
      this.generation++;
      this.stats.connected = false;
    });
    client.on('error', (err: Error) => {
      this.stats.error('source');
      this.log(`error: ${err.message}`);
    });
    client.on('offline', () => this.stats.error('source'));
    for (const out of o.outbound) await this.addOutbound(out);
  }

  /** Publishes the queued messages one after the other and acks each once stored. */
  private async pump(client: MqttClient): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        const next = this.queue.shift();
        this.stats.pending = this.queue.length;
        if (!next) return;
        // A message of an earlier connection: the broker redelivers it on this one (unacked).
        if (next.gen !== this.generation) continue;
        let ack = false;
        try {
          ack = await this.handle(next.packet, next.gen);
        } catch (err) {
          this.log(`unexpected: ${(err as Error).message}`);
        }
        if (ack && next.packet.qos > 0 && next.gen === this.generation && client.connected && this.client === client) {
          // mqtt.js has no public call for a PUBACK sent later; this is the one its own handler makes.
          (client as unknown as { _sendPacket(p: object, cb: undefined, put: undefined, noStore: boolean): void })._sendPacket({ cmd: 'puback', messageId: next.packet.messageId }, undefined, undefined, true);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async subscribe(client: MqttClient, sessionPresent: boolean): Promise<void> {
    const opts: IClientSubscribeOptions = { qos: this.o.qos as 0 | 1 };
    // MQTT 5: never our own publishes back (no-local), and retained messages only for a new
    // subscription (not again on every reconnect of a present session).
    if (this.o.protocolVersion === 5) Object.assign(opts, { nl: true, rh: 1 });
    try {
      const granted = await client.subscribeAsync(this.o.routes.map((r) => r.topic), opts);
      for (const g of granted) if (g.qos === 128 || g.qos > 2) this.log(`subscription ${g.topic} refused by the broker (${g.qos})`);
      if (!sessionPresent) this.log(`subscribed (new session ${this.clientId})`);
    } catch (err) {
      this.stats.error('source');
      this.log(`subscribe failed: ${(err as Error).message}`);
    }
  }

  /** Handles one message; true to ack it. */
  private async handle(packet: IPublishPacket, gen: number): Promise<boolean> {
    this.stats.handlingSince = Date.now();
    try {
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (this.isEcho(packet, payload)) return true;
      let item: { channel: string; data: unknown; key: string | undefined };
      try {
        const inspected = this.inspect(packet, payload);
        if (inspected === null) return true;
        item = inspected;
      } catch (err) {
        return await this.deadLetter(packet, payload, err instanceof PoisonError ? err : new PoisonError('rejected', (err as Error).message));
      }
      if (packet.retain && this.o.retained === 'latest' && (await this.isLatest(item.channel, item.data))) return true;
      const backoff = new Backoff();
      for (;;) {
        try {
          await this.node.publish(item.channel, item.data, { ...(item.key === undefined ? {} : { idempotencyKey: item.key }), info: { user: '', client: this.marker, info: { topic: packet.topic } } });
          this.stats.published++;
          return true;
        } catch (err) {
          if (isPermanent(err)) return await this.deadLetter(packet, payload, poisonFromReply(err));
          this.stats.error('broker');
          this.log(`publish failed, retrying (the message stays unacked): ${(err as Error).message}`);
        }
        // The connection this message came on is gone (the broker redelivers it on the next one), or the bridge stops.
        if (gen !== this.generation || this.closed) return false;
        await this.sleep(backoff.next());
      }
    } finally {
      this.stats.handlingSince = 0;
    }
  }

  /** Whether the message is one this bridge (or another of the same name) sent out. */
  private isEcho(packet: IPublishPacket, payload: Buffer): boolean {
    const mark = packet.properties?.userProperties?.[BRIDGE_PROPERTY];
    if (mark !== undefined) return (Array.isArray(mark) ? mark : [mark]).includes(this.o.name);
    if (this.o.deadLetterTopic && packet.topic.startsWith(this.o.deadLetterTopic + '/')) return true;
    if (this.sent.size === 0) return false;
    const h = hashOf(packet.topic, payload);
    const e = this.sent.get(h);
    if (!e) return false;
    if (--e.n <= 0 || e.until < Date.now()) this.sent.delete(h);
    return e.until >= Date.now();
  }

  /** Channel, data and key of a message; null to skip it (an empty retained payload). Throws PoisonError. */
  private inspect(packet: IPublishPacket, payload: Buffer): { channel: string; data: unknown; key: string | undefined } | null {
    if (payload.length > this.o.maxBytes) throw new PoisonError('too_large', `payload is ${payload.length} bytes, over maxBytes ${this.o.maxBytes}`);
    if (packet.retain && payload.length === 0) return null;
    const channel = mqttRouteChannel(this.routes, packet.topic);
    if (channel === null) throw new PoisonError('no_channel', `no route matches topic ${JSON.stringify(packet.topic.slice(0, 256))}`);
    checkChannel(channel, this.node.options, this.o.namespaces);
    let data: unknown;
    if (this.o.format === 'json') data = decodeData(payload, this.o.maxBytes);
    else {
      try {
        data = utf8.decode(payload);
      } catch {
        throw new PoisonError('bad_utf8', 'payload is not valid UTF-8 (format text)');
      }
    }
    return { channel, data, key: this.keyOf(packet, payload) };
  }

  /** The idempotency key: the message's identity (MQTT 5), else a hash of topic and payload (contentKey). */
  private keyOf(packet: IPublishPacket, payload: Buffer): string | undefined {
    const prefix = `mqtt:${this.o.name}`;
    const id = packet.properties?.userProperties?.[this.o.idProperty];
    const first = Array.isArray(id) ? id[0] : id;
    if (typeof first === 'string' && first !== '') return sourceKey(prefix, `id:${first}`);
    const cd = packet.properties?.correlationData;
    if (cd && cd.length > 0) return sourceKey(prefix, `cd:${cd.toString('base64url')}`);
    return this.o.contentKey ? `${prefix}:h:${hashOf(packet.topic, payload)}` : undefined;
  }

  /**
   * Whether a retained value is in the channel already: among its RETAINED_SEEN newest
   * publications (the newest one after a restart; an older one when the channel moved on since,
   * e.g. the bridge's own retained forward to a topic it also takes in, which MQTT 3.1.1 cannot mark).
   */
  private async isLatest(channel: string, data: unknown): Promise<boolean> {
    try {
      const top = await this.node.broker.history(channel, { limit: RETAINED_SEEN, reverse: true });
      const text = JSON.stringify(data);
      return top.publications.some((p) => JSON.stringify(p.data) === text);
    } catch {
      return false; // publish it: the idempotency key still holds a redelivery back
    }
  }

  /** Republishes a poison message to the dead-letter topic; true to ack the original (false: retry later). */
  private async deadLetter(packet: IPublishPacket, payload: Buffer, err: PoisonError): Promise<boolean> {
    this.stats.dead(err.reason);
    this.log(`message on ${JSON.stringify(packet.topic.slice(0, 128))} dead-lettered: ${err.reason}: ${err.message}`);
    const c = this.client;
    if (!this.o.deadLetterTopic || !c) return true;
    const topic = `${this.o.deadLetterTopic}/${err.reason}/${packet.topic}`;
    try {
      const properties = this.o.protocolVersion === 5 ? { userProperties: { [BRIDGE_PROPERTY]: this.o.name, reason: err.reason, error: err.message.slice(0, 1000), topic: packet.topic } } : undefined;
      await c.publishAsync(topic, payload, { qos: 1, ...(properties ? { properties } : {}) });
      return true;
    } catch (e) {
      this.stats.error('source');
      this.log(`dead-lettering failed (the message stays unacked): ${(e as Error).message}`);
      return false;
    }
  }

  // ---- outbound ---------------------------------------------------------------------------------

  private async addOutbound(out: MqttOutboundOptions): Promise<void> {
    const name = out.channel.includes(':') ? out.channel.slice(out.channel.indexOf(':') + 1) : out.channel;
    const topic = out.topic.replaceAll('{name}', name);
    const sub: HubSubscriber = {
      deliverPub: (env) => this.forward(env, topic, out),
      deliverEvent: () => {},
      resetStream: () => {
        this.stats.error('outbound');
        this.log(`channel ${out.channel}: stream reset, publications may have been missed outbound`);
      },
    };
    const backoff = new Backoff();
    while (!this.closed) {
      try {
        await this.node.hub.add(out.channel, sub);
        this.subscribers.push({ channel: out.channel, sub });
        return;
      } catch (err) {
        this.node.hub.remove(out.channel, sub);
        this.stats.error('broker');
        this.log(`cannot subscribe to channel ${out.channel}, retrying: ${(err as Error).message}`);
        await this.sleep(backoff.next());
      }
    }
  }

  private forward(env: Envelope, topic: string, out: MqttOutboundOptions): void {
    const frame = env.frame as { data?: unknown; info?: { client?: string } };
    if (frame.info?.client === this.marker) return; // came in from MQTT through this bridge
    const c = this.client;
    if (!c || this.closed) return;
    if (this.outboundPending >= OUTBOUND_MAX) {
      this.stats.error('outbound');
      this.log(`outbound: ${OUTBOUND_MAX} forwards wait for the MQTT broker; dropping`);
      return;
    }
    const data = frame.data;
    const payload = Buffer.from(this.o.format === 'text' && typeof data === 'string' ? data : JSON.stringify(data));
    if (this.o.protocolVersion !== 5) this.remember(topic, payload);
    this.outboundPending++;
    const properties = this.o.protocolVersion === 5 ? { userProperties: { [BRIDGE_PROPERTY]: this.o.name } } : undefined;
    c.publish(topic, payload, { qos: out.qos as 0 | 1, retain: out.retain, ...(properties ? { properties } : {}) }, (err) => {
      this.outboundPending--;
      if (err) {
        this.stats.error('outbound');
        this.log(`forward to ${topic} failed: ${err.message}`);
      } else this.stats.forwarded++;
    });
  }

  private remember(topic: string, payload: Buffer): void {
    const h = hashOf(topic, payload);
    const e = this.sent.get(h);
    const until = Date.now() + ECHO_MS;
    if (e) {
      e.n++;
      e.until = until;
      return;
    }
    // Oldest first (a Map iterates in insertion order).
    for (const k of this.sent.keys()) {
      if (this.sent.size < ECHO_MAX) break;
      this.sent.delete(k);
    }
    this.sent.set(h, { n: 1, until });
  }
}
