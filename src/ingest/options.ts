/**
 * The `consumers` section: one entry per event source, validated here (unknown keys rejected, the
 * bad field named) when the node is created. docs/integrations.md is the reference.
 */
import { ConfigError } from '../util/errors.ts';

/** Fields every consumer has. */
interface CommonOptions {
  /** Unique name, the `consumer` label of its metrics. @default `${type}-${index}` */
  name: string;
  /** Connection URL of the source (postgres://…, amqp://…). */
  url: string;
  /** Inputs claimed per transaction (outbox) or unacknowledged at once (RabbitMQ prefetch). @default 100 */
  batchSize: number;
  /** Largest accepted `data` in bytes (its JSON text); larger inputs are dead-lettered as `too_large`. @default 65536 */
  maxBytes: number;
  /**
   * Namespaces this consumer may publish into (`""` is the default namespace); an input naming a
   * channel elsewhere is dead-lettered as `not_allowed`. Empty: every configured namespace. @default []
   */
  namespaces: string[];
}

/** A PostgreSQL transactional outbox (docs/integrations.md "PostgreSQL outbox"). */
export interface OutboxOptions extends CommonOptions {
  type: 'outbox';
  /** The outbox table; the dead-letter table is `${table}_dead`. @default 'switchboard_outbox' */
  table: string;
  /** Create the tables, index and notify trigger at start when absent (else run the SQL of docs/integrations.md yourself). @default true */
  migrate: boolean;
  /** Seconds between polls when no NOTIFY arrives (the fallback for lost notifications). @default 1 */
  pollInterval: number;
  /** Claim loops on this node (each holds one database connection while it works; each works on one partition at a time). @default 4 */
  concurrency: number;
}

/** Maps a routing key to a channel (RabbitMQ). */
export interface RouteOptions {
  /** AMQP topic pattern: words separated by `.`, `*` one word, `#` zero or more words. */
  match: string;
  /** Channel name; `{1}`, `{2}`… are the words (or, for `#`, the dotted word lists) the wildcards matched. */
  channel: string;
}

/** A RabbitMQ queue (docs/integrations.md "RabbitMQ"). */
export interface RabbitMqOptions extends CommonOptions {
  type: 'rabbitmq';
  /** The queue to consume (it must exist, or `declare` must be on). */
  queue: string;
  /** Declare the queue (durable) at start. @default false */
  declare: boolean;
  /** Header naming the channel; '' turns header routing off. Wins over `routes`. @default 'x-switchboard-channel' */
  channelHeader: string;
  /** Routing key → channel mappings, first match wins. @default [] */
  routes: RouteOptions[];
  /**
   * Queue that poison messages are copied to (declared durable at start), with the reason in
   * headers `x-switchboard-reason` and `x-switchboard-error`; the original is then acked. Empty:
   * poison messages are rejected without requeue, so they go to the queue's own dead-letter
   * exchange if it has one (RabbitMQ drops them otherwise). @default ''
   */
  deadLetterQueue: string;
  /** Dead-letter messages without a `message_id` (`no_message_id`): only with one is delivery exactly-once. @default false */
  requireMessageId: boolean;
  /**
   * Consume exclusively: one consumer (one node) has the queue at a time, the others stand by and
   * take over within about a second when it goes away. That keeps the queue's order per channel
   * with several nodes; turn it off to spread one queue over several nodes (then a channel's
   * messages are published by several nodes at once, out of order). @default true
   */
  exclusive: boolean;
}

/** Maps an MQTT topic filter to a channel (MQTT bridge, inbound). */
export interface MqttRouteOptions {
  /**
   * MQTT topic filter to subscribe to: levels separated by `/`, `+` one level, `#` the rest (last
   * level only). A `$share/<group>/` prefix subscribes as a shared subscription (MQTT 5), matched
   * without the prefix.
   */
  topic: string;
  /** Channel name; `{1}`, `{2}`… are the levels (for `#`, the `/`-joined rest) the wildcards matched. */
  channel: string;
}

/** Forwards a channel's publications to an MQTT topic (MQTT bridge, outbound). */
export interface MqttOutboundOptions {
  /** The channel whose publications are forwarded (one exact name). */
  channel: string;
  /** Topic published to (no wildcards); `{name}` is the channel name after its namespace. */
  topic: string;
  /** Publish retained, so a device that subscribes later gets the channel's latest value at once. @default false */
  retain: boolean;
  /** QoS of the forwarded publish (0 or 1). @default 1 */
  qos: number;
}

/** An MQTT broker, both ways (docs/integrations.md "MQTT bridge"). */
export interface MqttOptions extends Omit<CommonOptions, 'batchSize'> {
  type: 'mqtt';
  /** MQTT protocol: 4 (3.1.1) or 5. @default 5 */
  protocolVersion: number;
  /** Fixed client id of the persistent session; it must be the same across restarts and unique per node. @default `switchboard-${node name}-${name}` */
  clientId: string;
  /** @default '' (none) */
  username: string;
  /** @default '' (none) */
  password: string;
  /** Seconds the broker keeps the session (subscriptions, unacked and queued QoS 1 messages) after a disconnect (MQTT 5; 3.1.1 sessions never expire). @default 3600 */
  sessionExpiry: number;
  /** Keepalive seconds. @default 30 */
  keepalive: number;
  /** QoS of the inbound subscriptions (0 or 1). @default 1 */
  qos: number;
  /** Payloads: `json` (parsed; bad JSON is dead-lettered) or `text` (UTF-8, published as a JSON string). @default 'json' */
  format: 'json' | 'text';
  /** Topic filter → channel mappings, first match wins. @default [] */
  routes: MqttRouteOptions[];
  /** Channel → topic forwards. @default [] */
  outbound: MqttOutboundOptions[];
  /** Poison messages are republished (QoS 1) to `${deadLetterTopic}/${reason}/${original topic}`; '' only counts and logs them. @default '' */
  deadLetterTopic: string;
  /** MQTT 5 user property carrying the message's identity (its idempotency key). @default 'message-id' */
  idProperty: string;
  /**
   * Without an identity (3.1.1, or no `idProperty` / correlation data): key the publish by a hash
   * of topic and payload, so a redelivery is stored once; two identical payloads on one topic
   * within `idempotencyTtl` are then stored once too. false: no key (at least once). @default true
   */
  contentKey: boolean;
  /** Retained messages: `latest` (published unless the same data is among the channel's 10 newest publications) or `ignore`. @default 'latest' */
  retained: 'latest' | 'ignore';
}

export type ConsumerOptions = OutboxOptions | RabbitMqOptions | MqttOptions;

const COMMON = { name: '', url: '', batchSize: 100, maxBytes: 65536, namespaces: [] as string[] };
const OUTBOX: Omit<OutboxOptions, 'name' | 'url' | 'type'> = { ...COMMON, table: 'switchboard_outbox', migrate: true, pollInterval: 1, concurrency: 4 };
const RABBIT: Omit<RabbitMqOptions, 'name' | 'url' | 'type' | 'queue'> = {
  ...COMMON,
  declare: false,
  channelHeader: 'x-switchboard-channel',
  routes: [],
  deadLetterQueue: '',
  requireMessageId: false,
  exclusive: true,
};

const MQTT: Omit<MqttOptions, 'name' | 'url' | 'type'> = {
  maxBytes: 65536,
  namespaces: [],
  protocolVersion: 5,
  clientId: '',
  username: '',
  password: '',
  sessionExpiry: 3600,
  keepalive: 30,
  qos: 1,
  format: 'json',
  routes: [],
  outbound: [],
  deadLetterTopic: '',
  idProperty: 'message-id',
  contentKey: true,
  retained: 'latest',
};

/** SQL identifiers we create tables from: unquoted-safe, and short enough for `${table}_dead` and index names. */
const TABLE = /^[a-z_][a-z0-9_]{0,47}$/;
/** AMQP short strings: at most 255 bytes; queue names here are printable ASCII. */
const QUEUE = /^[\x21-\x7e]{1,255}$/;
const ROUTE_WORD = /^([A-Za-z0-9_\-:]+|\*|#)$/;

function check(value: unknown, like: unknown, field: string): void {
  if (Array.isArray(like)) {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new ConfigError(`option "${field}" must be an array of strings`);
    return;
  }
  if (typeof value !== typeof like) throw new ConfigError(`option "${field}" must be a ${typeof like}, got ${JSON.stringify(value)}`);
  if (typeof like === 'number' && (!Number.isFinite(value as number) || (value as number) < 0)) throw new ConfigError(`option "${field}" must be a non-negative number`);
}

function integer(v: number, field: string, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`option "${field}" must be an integer ${min}–${max}`);
}

function resolveRoutes(value: unknown, where: string): RouteOptions[] {
  if (!Array.isArray(value)) throw new ConfigError(`option "${where}" must be an array of {match, channel}`);
  return value.map((r: unknown, i) => {
    const f = `${where}[${i}]`;
    if (typeof r !== 'object' || r === null) throw new ConfigError(`option "${f}" must be an object {match, channel}`);
    for (const k of Object.keys(r)) if (k !== 'match' && k !== 'channel') throw new ConfigError(`unknown option "${f}.${k}"`);
    const { match, channel } = r as Record<string, unknown>;
    if (typeof match !== 'string' || match === '' || !match.split('.').every((w) => ROUTE_WORD.test(w))) {
      throw new ConfigError(`option "${f}.match" must be dot-separated words, * or #`);
    }
    if (typeof channel !== 'string' || channel === '') throw new ConfigError(`option "${f}.channel" must be a non-empty string`);
    const wildcards = match.split('.').filter((w) => w === '*' || w === '#').length;
    for (const m of channel.matchAll(/\{(\d+)\}/g)) {
      const n = Number(m[1]);
      if (n < 1 || n > wildcards) throw new ConfigError(`option "${f}.channel": {${n}} has no wildcard in "${match}"`);
    }
    return { match, channel };
  });
}

/** An MQTT topic name (no wildcards) or filter: 1–1024 bytes, no NUL. */
function mqttTopic(t: unknown, filter: boolean, field: string): string {
  if (typeof t !== 'string' || t === '' || Buffer.byteLength(t) > 1024 || t.includes('\0')) throw new ConfigError(`option "${field}" must be an MQTT topic of 1–1024 bytes`);
  const levels = t.split('/');
  levels.forEach((l, i) => {
    const wild = l.includes('+') || l.includes('#');
    if (!wild) return;
    if (!filter) throw new ConfigError(`option "${field}": a topic to publish to has no wildcards`);
    if (l.length !== 1 || (l === '#' && i !== levels.length - 1)) throw new ConfigError(`option "${field}": + and # fill a whole level, # only the last`);
  });
  return t;
}

/** The filter of an MQTT route without its `$share/<group>/` prefix. */
export function unshared(filter: string): string {
  return filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;
}

function objects(value: unknown, where: string, keys: readonly string[]): Record<string, unknown>[] {
  if (!Array.isArray(value)) throw new ConfigError(`option "${where}" must be an array of objects`);
  return value.map((r: unknown, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new ConfigError(`option "${where}[${i}]" must be an object`);
    for (const k of Object.keys(r)) if (!keys.includes(k)) throw new ConfigError(`unknown option "${where}[${i}].${k}"`);
    return r as Record<string, unknown>;
  });
}

function resolveMqttRoutes(value: unknown, where: string): MqttRouteOptions[] {
  return objects(value, where, ['topic', 'channel']).map((r, i) => {
    const f = `${where}[${i}]`;
    const topic = mqttTopic(r.topic, true, `${f}.topic`);
    if (topic.startsWith('$share/') && topic.split('/').length < 3) throw new ConfigError(`option "${f}.topic": $share/<group>/<filter>`);
    if (typeof r.channel !== 'string' || r.channel === '') throw new ConfigError(`option "${f}.channel" must be a non-empty string`);
    const wildcards = unshared(topic).split('/').filter((w) => w === '+' || w === '#').length;
    for (const m of r.channel.matchAll(/\{(\d+)\}/g)) {
      const n = Number(m[1]);
      if (n < 1 || n > wildcards) throw new ConfigError(`option "${f}.channel": {${n}} has no wildcard in "${topic}"`);
    }
    return { topic, channel: r.channel };
  });
}

function resolveMqttOutbound(value: unknown, where: string): MqttOutboundOptions[] {
  return objects(value, where, ['channel', 'topic', 'retain', 'qos']).map((r, i) => {
    const f = `${where}[${i}]`;
    if (typeof r.channel !== 'string' || r.channel === '') throw new ConfigError(`option "${f}.channel" must be a non-empty string`);
    const topic = mqttTopic(r.topic, false, `${f}.topic`);
    const retain = r.retain ?? false;
    if (typeof retain !== 'boolean') throw new ConfigError(`option "${f}.retain" must be a boolean`);
    const qos = r.qos ?? 1;
    if (qos !== 0 && qos !== 1) throw new ConfigError(`option "${f}.qos" must be 0 or 1`);
    return { channel: r.channel, topic, retain, qos };
  });
}

/** Validates the `consumers` entries. Throws ConfigError naming the first bad field. */
export function resolveConsumers(input: readonly Record<string, unknown>[]): ConsumerOptions[] {
  const names = new Set<string>();
  return input.map((raw, i) => {
    const where = `consumers[${i}]`;
    const type = raw.type;
    if (type !== 'outbox' && type !== 'rabbitmq' && type !== 'mqtt') throw new ConfigError(`option "${where}.type" must be "outbox", "rabbitmq" or "mqtt"`);
    const base: Record<string, unknown> = type === 'outbox' ? { ...OUTBOX } : type === 'mqtt' ? { ...MQTT } : { ...RABBIT, queue: '' };
    const out: Record<string, unknown> = { ...base, type, name: `${type}-${i}`, url: '' };
    for (const [k, v] of Object.entries(raw)) {
      if (k === 'type' || v === undefined) continue;
      if (!Object.hasOwn(out, k)) throw new ConfigError(`unknown option "${where}.${k}"`);
      if (k === 'routes') {
        out.routes = type === 'mqtt' ? resolveMqttRoutes(v, `${where}.routes`) : resolveRoutes(v, `${where}.routes`);
        continue;
      }
      if (k === 'outbound' && type === 'mqtt') {
        out.outbound = resolveMqttOutbound(v, `${where}.outbound`);
        continue;
      }
      check(v, out[k], `${where}.${k}`);
      out[k] = Array.isArray(v) ? [...(v as string[])] : v;
    }
    const c = out as unknown as ConsumerOptions;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(c.name)) throw new ConfigError(`option "${where}.name" must be 1–64 letters, digits, _ . -`);
    if (names.has(c.name)) throw new ConfigError(`option "${where}.name": "${c.name}" is used twice`);
    names.add(c.name);
    integer(c.maxBytes, `${where}.maxBytes`, 2, 16 << 20);
    if (c.type === 'mqtt') {
      if (!/^mqtts?:\/\//.test(c.url)) throw new ConfigError(`option "${where}.url" must be an mqtt:// or mqtts:// URL`);
      if (c.protocolVersion !== 4 && c.protocolVersion !== 5) throw new ConfigError(`option "${where}.protocolVersion" must be 4 (MQTT 3.1.1) or 5`);
      if (c.qos !== 0 && c.qos !== 1) throw new ConfigError(`option "${where}.qos" must be 0 or 1`);
      if (c.format !== 'json' && c.format !== 'text') throw new ConfigError(`option "${where}.format" must be "json" or "text"`);
      if (c.retained !== 'latest' && c.retained !== 'ignore') throw new ConfigError(`option "${where}.retained" must be "latest" or "ignore"`);
      if (c.clientId !== '' && (Buffer.byteLength(c.clientId) > 256 || !/^[\x21-\x7e]+$/.test(c.clientId))) throw new ConfigError(`option "${where}.clientId" must be 1–256 printable ASCII characters`);
      integer(c.sessionExpiry, `${where}.sessionExpiry`, 0, 0xffffffff);
      integer(c.keepalive, `${where}.keepalive`, 0, 65_535);
      if (c.idProperty === '' || Buffer.byteLength(c.idProperty) > 256) throw new ConfigError(`option "${where}.idProperty" must be 1–256 bytes`);
      if (c.deadLetterTopic !== '') mqttTopic(c.deadLetterTopic, false, `${where}.deadLetterTopic`);
      if (c.routes.length === 0 && c.outbound.length === 0) throw new ConfigError(`option "${where}": give routes (inbound) or outbound, or the bridge does nothing`);
      return c;
    }
    integer(c.batchSize, `${where}.batchSize`, 1, 10_000);
    if (c.type === 'outbox') {
      if (!/^postgres(ql)?:\/\//.test(c.url)) throw new ConfigError(`option "${where}.url" must be a postgres:// URL`);
      if (!TABLE.test(c.table)) throw new ConfigError(`option "${where}.table" must match ${TABLE}`);
      integer(c.concurrency, `${where}.concurrency`, 1, 64);
      if (c.pollInterval <= 0) throw new ConfigError(`option "${where}.pollInterval" must be > 0`);
    } else {
      if (!/^amqps?:\/\//.test(c.url)) throw new ConfigError(`option "${where}.url" must be an amqp:// or amqps:// URL`);
      if (!QUEUE.test(c.queue)) throw new ConfigError(`option "${where}.queue" must be a queue name (printable ASCII, 1–255)`);
      if (c.deadLetterQueue !== '' && (!QUEUE.test(c.deadLetterQueue) || c.deadLetterQueue === c.queue)) {
        throw new ConfigError(`option "${where}.deadLetterQueue" must be another queue's name`);
      }
      integer(c.batchSize, `${where}.batchSize`, 1, 65_535);
      if (c.channelHeader === '' && c.routes.length === 0) throw new ConfigError(`option "${where}": give channelHeader or routes, or no message can name its channel`);
    }
    return c;
  });
}
