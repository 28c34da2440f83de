import type { TransportKind } from './transport.ts';

/** Server frame types counted by {@link Stats.sent}; the index of each is its slot in the arrays. */
export const SENT_TYPES = ['pub', 'join', 'leave', 'gap', 'unsub', 'ping', 'ok', 'err', 'disconnect', 'other'] as const;
/** Client frame types counted by {@link Stats.received} (what validateCommand returns). */
export const RECEIVED_TYPES = ['connect', 'sub', 'unsub', 'pub', 'presence', 'presence_stats', 'history', 'refresh', 'signal', 'pong', 'unknown'] as const;
export const TRANSPORT_KINDS: readonly TransportKind[] = ['websocket', 'sse', 'poll', 'webtransport'];
const SENT_INDEX: Record<string, number> = Object.fromEntries(SENT_TYPES.map((t, i) => [t, i]));
const RECEIVED_INDEX: Record<string, number> = Object.fromEntries(RECEIVED_TYPES.map((t, i) => [t, i]));
const TRANSPORT_INDEX: Record<string, number> = Object.fromEntries(TRANSPORT_KINDS.map((t, i) => [t, i]));

/**
 * Plain counters on the hot path (a number increment, no label lookup); the metrics module reads
 * them at scrape time.
 */
export class Stats {
  messagesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  /** Transport writes (one per connection per flush): framesOut ÷ writes is how well writes coalesce. */
  writes = 0;
  bytesOut = 0;
  publishes = 0;
  slowDisconnects = 0;
  conflated = 0;
  /** Publications sent as unreliable datagrams (datagrams namespaces on WebTransport). */
  datagramsSent = 0;
  /** Datagram publications dropped because the bounded datagram send queue was full. */
  datagramsDropped = 0;
  recoveries = 0;
  recoveryGaps = 0;
  connectionsTotal = 0;
  /** SSE/poll requests proxied to the node holding their session. */
  forwarded = 0;
  readonly commands = new Map<string, number>();
  readonly errors = new Map<number, number>();
  readonly disconnects = new Map<number, number>();
  /** Connection lifetimes in seconds, observed on close; drained by the metrics module. */
  durations: number[] = [];

  /** Frames queued for clients, by SENT_TYPES index (queued: a conflated pub is counted too). */
  readonly sentFrames = new Float64Array(SENT_TYPES.length);
  readonly sentBytes = new Float64Array(SENT_TYPES.length);
  /** Valid frames received from clients, by RECEIVED_TYPES index. */
  readonly receivedFrames = new Float64Array(RECEIVED_TYPES.length);
  /** Transport messages and their bytes received, by TRANSPORT_KINDS index. */
  readonly inMessages = new Float64Array(TRANSPORT_KINDS.length);
  readonly inBytes = new Float64Array(TRANSPORT_KINDS.length);

  /** Counts one outbound frame of type `t` and returns `buf` (so a call site stays one expression). */
  sent(t: string, buf: Buffer): Buffer {
    const i = SENT_INDEX[t] ?? SENT_TYPES.length - 1;
    this.sentFrames[i]!++;
    this.sentBytes[i]! += buf.length;
    return buf;
  }

  /** Counts one validated inbound frame. */
  received(t: string): void {
    const i = RECEIVED_INDEX[t];
    if (i !== undefined) this.receivedFrames[i]!++;
  }

  /** Counts one inbound transport message. */
  inbound(kind: TransportKind, bytes: number): void {
    const i = TRANSPORT_INDEX[kind];
    if (i === undefined) return;
    this.inMessages[i]!++;
    this.inBytes[i]! += bytes;
  }

  count(map: Map<string | number, number>, key: string | number): void {
    (map as Map<string | number, number>).set(key, (map.get(key) ?? 0) + 1);
  }
}

/**
 * What an event consumer (src/ingest) reports while it runs, in NodeCore.consumers; read at
 * scrape time by /metrics (metrics/consumers.ts) and by the admin page (plain fields and cheap getters).
 */
export interface ConsumerMetricsSource {
  /** The consumer's configured name (label `consumer`). */
  readonly name: string;
  /** `outbox`, `rabbitmq`, `mqtt`, `redis-stream` or `jetstream` (label `kind`). */
  readonly kind: string;
  /** Connected to its source (consuming, or standing by while another node has an exclusive queue). */
  up(): boolean;
  /** Seconds the oldest not yet delivered input has waited (0 when caught up). */
  lagSeconds(): number;
  /** Inputs waiting at the source: outbox rows (counted up to a cap), ready messages in the queue. */
  backlog(): number;
  /** Inputs published into channels (a replay of one already in history counts again). */
  readonly published: number;
  /** Channel publications sent out to the source (the MQTT bridge's outbound direction; 0 for the others). */
  readonly forwarded: number;
  /** Inputs set aside, by reason (bad_json, too_large, invalid_channel, …). */
  readonly deadLetters: ReadonlyMap<string, number>;
  /** Failed attempts, by kind (`source`: the database, queue or MQTT broker; `broker`: Switchboard's broker; `outbound`: a forward to MQTT failed or was dropped). */
  readonly errors: ReadonlyMap<string, number>;
}
