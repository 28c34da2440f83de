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

/** Fields the Redis Streams and JetStream consumers share: exclusivity and claiming. */
interface StreamCommonOptions extends CommonOptions {
  /**
   * Consume exclusively: one node at a time holds a lease (Redis: a key `SET NX PX`; JetStream: a
   * key in the KV bucket `switchboard_leases_<leaseTime>s`) and consumes, the others stand by and
   * take over when it lapses. That keeps source order per channel with several nodes; false
   * spreads the entries over the nodes (each once; a channel's entries then published by several
   * nodes at once, out of order). @default true
   */
  exclusive: boolean;
  /** Seconds a lease lives without renewal (renewed every third of it): the takeover time after a node dies. @default 5 */
  leaseTime: number;
}

/** A Redis stream read through a consumer group (docs/integrations.md "Redis Streams"). */
export interface RedisStreamOptions extends StreamCommonOptions {
  type: 'redis-stream';
  /** The stream key. */
  stream: string;
  /** Consumer group, created at start (`XGROUP CREATE … $ MKSTREAM`, or from `startId`) when absent. @default 'switchboard' */
  group: string;
  /** Where a new group starts: `$` (entries added from now on) or `0` (the whole stream). @default '0' */
  startId: string;
  /** This node's consumer name in the group; stable across restarts so its pending entries are resumed. @default the node's `name` */
  consumer: string;
  /** Entry field naming the channel; '' turns it off. Wins over `routes`. @default 'channel' */
  channelField: string;
  /** Entry field holding the data (JSON text). @default 'data' */
  dataField: string;
  /** Entry field matched against `routes` (dot-separated words) when there is no channel field. @default 'type' */
  routeField: string;
  /** routeField value → channel mappings (AMQP topic patterns), first match wins. @default [] */
  routes: RouteOptions[];
  /** Stream poison entries are added to (their fields plus `switchboard-reason` …), in one MULTI with the XACK. @default `${stream}:dead` */
  deadLetterStream: string;
  /** Seconds an entry pending at another consumer must have been idle before it is claimed (XAUTOCLAIM). @default 10 */
  claimIdle: number;
  /** Seconds one XREADGROUP blocks waiting for entries. @default 1 */
  block: number;
}

/** A JetStream stream read through a durable pull consumer (docs/integrations.md "NATS JetStream"). */
export interface JetStreamOptions extends StreamCommonOptions {
  type: 'jetstream';
  /** The stream (it must exist). */
  stream: string;
  /** Durable consumer name, created at start when absent (explicit acks, deliver all). @default 'switchboard' */
  durable: string;
  /** Subject filter of the durable when it is created ('' = the whole stream). @default '' */
  filterSubject: string;
  /** Message header naming the channel; '' turns it off. Wins over `routes`. @default 'Switchboard-Channel' */
  channelHeader: string;
  /** Subject → channel mappings (NATS wildcards: `*` one token, `>` the rest), first match wins. @default [] */
  routes: RouteOptions[];
  /** Subject poison messages are published to (a stream `${stream}_dead` is created for it when none captures it). @default `switchboard.dead.${stream}` */
  deadLetterSubject: string;
  /** Seconds the server waits for an ack before redelivering (a dead node's messages come back after it). @default 30 */
  ackWait: number;
  /** Deliveries of one message before it is dead-lettered as `max_deliver` instead of tried again. @default 10 */
  maxDeliver: number;
}

export type ConsumerOptions = OutboxOptions | RabbitMqOptions | MqttOptions | RedisStreamOptions | JetStreamOptions;

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

const STREAM_COMMON = { ...COMMON, exclusive: true, leaseTime: 5 };
const REDIS_STREAM: Omit<RedisStreamOptions, 'name' | 'url' | 'type'> = {
  ...STREAM_COMMON,
  stream: '',
  group: 'switchboard',
  startId: '0',
  consumer: '',
  channelField: 'channel',
  dataField: 'data',
  routeField: 'type',
  routes: [],
  deadLetterStream: '',
  claimIdle: 10,
  block: 1,
};
const JETSTREAM: Omit<JetStreamOptions, 'name' | 'url' | 'type'> = {
  ...STREAM_COMMON,
  stream: '',
  durable: 'switchboard',
  filterSubject: '',
  channelHeader: 'Switchboard-Channel',
  routes: [],
  deadLetterSubject: '',
  ackWait: 30,
  maxDeliver: 10,
};

/** Redis keys and fields we take from config: printable ASCII, bounded. */
const REDIS_NAME = /^[\x21-\x7e]{1,512}$/;
/** JetStream stream and consumer names (conservative: what also works as a KV key token). */
const JS_NAME = /^[A-Za-z0-9_-]{1,200}$/;
/** A NATS subject without wildcards, or (filter) with `*` tokens and a final `>`. */
function natsSubject(s: unknown, filter: boolean, field: string): string {
  if (typeof s !== 'string' || s === '' || s.length > 1024 || !/^[\x21-\x7e]+$/.test(s)) throw new ConfigError(`option "${field}" must be a NATS subject (printable ASCII, no spaces)`);
  const tokens = s.split('.');
  tokens.forEach((t, i) => {
    if (t === '') throw new ConfigError(`option "${field}": empty token in "${s}"`);
    if (t.includes('*') || t.includes('>')) {
      if (!filter) throw new ConfigError(`option "${field}": no wildcards here`);
      if (t.length !== 1 || (t === '>' && i !== tokens.length - 1)) throw new ConfigError(`option "${field}": * and > fill a whole token, > only the last`);
    }
  });
  return s;
}

function resolveNatsRoutes(value: unknown, where: string): RouteOptions[] {
  return objects(value, where, ['match', 'channel']).map((r, i) => {
    const f = `${where}[${i}]`;
    const match = natsSubject(r.match, true, `${f}.match`);
    if (typeof r.channel !== 'string' || r.channel === '') throw new ConfigError(`option "${f}.channel" must be a non-empty string`);
    const wildcards = match.split('.').filter((w) => w === '*' || w === '>').length;
    for (const m of r.channel.matchAll(/\{(\d+)\}/g)) {
      const n = Number(m[1]);
      if (n < 1 || n > wildcards) throw new ConfigError(`option "${f}.channel": {${n}} has no wildcard in "${match}"`);
    }
    return { match, channel: r.channel };
  });
}

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
    if (type !== 'outbox' && type !== 'rabbitmq' && type !== 'mqtt' && type !== 'redis-stream' && type !== 'jetstream') {
      throw new ConfigError(`option "${where}.type" must be "outbox", "rabbitmq", "mqtt", "redis-stream" or "jetstream"`);
    }
    const base: Record<string, unknown> =
      type === 'outbox' ? { ...OUTBOX } : type === 'mqtt' ? { ...MQTT } : type === 'redis-stream' ? { ...REDIS_STREAM } : type === 'jetstream' ? { ...JETSTREAM } : { ...RABBIT, queue: '' };
    const out: Record<string, unknown> = { ...base, type, name: `${type}-${i}`, url: '' };
    for (const [k, v] of Object.entries(raw)) {
      if (k === 'type' || v === undefined) continue;
      if (!Object.hasOwn(out, k)) throw new ConfigError(`unknown option "${where}.${k}"`);
      if (k === 'routes') {
        out.routes = type === 'mqtt' ? resolveMqttRoutes(v, `${where}.routes`) : type === 'jetstream' ? resolveNatsRoutes(v, `${where}.routes`) : resolveRoutes(v, `${where}.routes`);
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
    if (c.type === 'redis-stream' || c.type === 'jetstream') {
      if (c.leaseTime < 1 || c.leaseTime > 300) throw new ConfigError(`option "${where}.leaseTime" must be 1–300 seconds`);
      if (!Number.isInteger(c.leaseTime)) throw new ConfigError(`option "${where}.leaseTime" must be a whole number of seconds`);
    }
    if (c.type === 'redis-stream') {
      if (!/^rediss?:\/\//.test(c.url)) throw new ConfigError(`option "${where}.url" must be a redis:// or rediss:// URL`);
      if (!REDIS_NAME.test(c.stream)) throw new ConfigError(`option "${where}.stream" must be a stream key (printable ASCII, 1–512)`);
      if (!REDIS_NAME.test(c.group)) throw new ConfigError(`option "${where}.group" must be a group name (printable ASCII, 1–512)`);
      if (c.consumer !== '' && !REDIS_NAME.test(c.consumer)) throw new ConfigError(`option "${where}.consumer" must be printable ASCII, 1–512`);
      if (c.startId !== '$' && !/^\d+(-\d+)?$/.test(c.startId)) throw new ConfigError(`option "${where}.startId" must be "$" or a stream id like "0"`);
      if (c.dataField === '' || Buffer.byteLength(c.dataField) > 256) throw new ConfigError(`option "${where}.dataField" must be 1–256 bytes`);
      if (Buffer.byteLength(c.channelField) > 256 || Buffer.byteLength(c.routeField) > 256) throw new ConfigError(`option "${where}.channelField" and routeField must be at most 256 bytes`);
      if (c.channelField === '' && (c.routes.length === 0 || c.routeField === '')) throw new ConfigError(`option "${where}": give channelField or routes (with routeField), or no entry can name its channel`);
      if (c.deadLetterStream === '') c.deadLetterStream = `${c.stream}:dead`;
      if (!REDIS_NAME.test(c.deadLetterStream) || c.deadLetterStream === c.stream) throw new ConfigError(`option "${where}.deadLetterStream" must be another stream's key`);
      if (c.claimIdle < 0.1 || c.claimIdle > 86_400) throw new ConfigError(`option "${where}.claimIdle" must be 0.1–86400 seconds`);
      if (c.block < 0.01 || c.block > 60) throw new ConfigError(`option "${where}.block" must be 0.01–60 seconds`);
      return c;
    }
    if (c.type === 'jetstream') {
      if (!/^(nats|tls):\/\//.test(c.url)) throw new ConfigError(`option "${where}.url" must be a nats:// or tls:// URL`);
      if (!JS_NAME.test(c.stream)) throw new ConfigError(`option "${where}.stream" must be a stream name (letters, digits, _ -; 1–200)`);
      if (!JS_NAME.test(c.durable)) throw new ConfigError(`option "${where}.durable" must be a consumer name (letters, digits, _ -; 1–200)`);
      if (c.filterSubject !== '') natsSubject(c.filterSubject, true, `${where}.filterSubject`);
      if (c.deadLetterSubject === '') c.deadLetterSubject = `switchboard.dead.${c.stream}`;
      natsSubject(c.deadLetterSubject, false, `${where}.deadLetterSubject`);
      if (c.channelHeader !== '' && !/^[\x21-\x39\x3b-\x7e]{1,256}$/.test(c.channelHeader)) throw new ConfigError(`option "${where}.channelHeader" must be a header name (printable ASCII without ":")`);
      if (c.channelHeader === '' && c.routes.length === 0) throw new ConfigError(`option "${where}": give channelHeader or routes, or no message can name its channel`);
      if (c.ackWait < 1 || c.ackWait > 3600) throw new ConfigError(`option "${where}.ackWait" must be 1–3600 seconds`);
      integer(c.maxDeliver, `${where}.maxDeliver`, 1, 1000);
      return c;
    }
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
