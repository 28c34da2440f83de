/**
 * Redis Streams consumer (docs/integrations.md "Redis Streams").
 *
 * Reads one stream through a consumer group (created at start, `XGROUP CREATE … MKSTREAM`) with
 * `XREADGROUP COUNT batchSize BLOCK block`. An entry names its channel by a field (`channel`) or,
 * through `routes`, by the value of `routeField`; its `data` field is the publication's JSON. Each
 * batch is published through the node (`node.publish`, like the HTTP API) and the stored entries
 * are acked (`XACK`) only then.
 *
 * Exactly once in history: the idempotency key is `redis:<stream>:<entry id>`. An entry that was
 * delivered and not acked stays in the group's pending entries list (PEL) with the consumer that
 * read it; it is read again by the same consumer name after a restart, or claimed by another node
 * once it has been idle `claimIdle` (`XAUTOCLAIM`), and a replay carries the same entry id, so the
 * broker stores it once (within the node's `idempotencyTtl`).
 *
 * Order per channel: one channel's entries are published one after the other in id order (the
 * stream's order), channels in parallel. Several consumers of one group each get different entries,
 * which would interleave a channel, so by default (`exclusive`) one node at a time holds a lease
 * key (`SET NX PX`, renewed every third of `leaseTime`) and consumes; the others stand by. A node
 * that takes the lease first reads its own pending entries (from id 0), then claims every entry
 * pending at other consumers (a SIGKILLed node's, once idle `claimIdle`; it waits until none is left)
 * and only then reads new entries: what a dead node held is published before anything after it.
 * When Switchboard's broker fails (114) the rest of that channel's batch stays pending, and the
 * consumer waits for the broker and re-reads its pending entries from id 0, in order.
 *
 * Poison entries (bad JSON, too large, no data or channel, refused namespace) are added to
 * `deadLetterStream` with the reason, in one MULTI with their XACK (so a crash cannot dead-letter
 * an entry twice).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { NodeCore } from '../server/core.ts';
import { Backoff, ConsumerStats, Sleepers, type Consumer } from './consumer.ts';
import { deliverBatch, LeaseKeeper, type Prepared } from './deliver.ts';
import { checkChannel, compileRoutes, decodeData, PoisonError, routeChannel, sourceKey, type Route } from './input.ts';
import type { RedisStreamOptions } from './options.ts';

/** Milliseconds between lag and backlog samples. */
const SAMPLE_INTERVAL = 5000;
/** Milliseconds between lease attempts while another node holds it. */
const STANDBY_INTERVAL = 500;
/** Dead-letter stream length kept (approximately, `MAXLEN ~`). */
const DEAD_MAXLEN = 100_000;
/** Bytes of the fields besides data an entry may carry before it is `too_large`. */
const FIELD_SLACK = 65_536;

const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/** An entry as Redis returns it: id and alternating field/value, or null fields when it was trimmed away while pending. */
type RawEntry = [Buffer, Buffer[] | null];

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The ms part of a stream id (auto-generated ids are the time the entry was added). */
function idMs(id: string): number {
  const ms = Number(id.slice(0, id.indexOf('-') >>> 0));
  return Number.isFinite(ms) ? ms : 0;
}

class StreamStats extends ConsumerStats {
  /** Time (ms) of the oldest entry not yet acked, sampled; 0 when caught up. */
  oldestMs = 0;

  override lagSeconds(): number {
    return this.oldestMs > 0 ? Math.max(0, (Date.now() - this.oldestMs) / 1000) : 0;
  }
}

export class RedisStreamConsumer implements Consumer {
  readonly stats: StreamStats;
  private readonly routes: Route[];
  private readonly consumerName: string;
  private readonly leaseKey: string;
  private readonly token = randomUUID();
  private closed = false;
  private running: Promise<void> | null = null;
  private readonly sleepers = new Sleepers();
  private lastLogged = '';
  private lastSample = 0;

  constructor(
    private readonly node: NodeCore,
    private readonly o: RedisStreamOptions,
  ) {
    this.stats = new StreamStats(o.name, 'redis-stream');
    this.routes = compileRoutes(o.routes);
    this.consumerName = o.consumer || node.options.name;
    this.leaseKey = `switchboard:lease:${o.stream}:${o.group}`;
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => this.log(`stopped: ${(err as Error).message}`));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sleepers.wakeAll();
    await this.running;
  }

  private sleep(ms: number): Promise<void> {
    return this.sleepers.sleep(ms);
  }

  private log(message: string): void {
    if (message === this.lastLogged) return;
    this.lastLogged = message;
    console.warn(`switchboard: consumer ${this.o.name} (redis-stream ${this.o.stream}): ${message}`);
  }

  private async run(): Promise<void> {
    const { Redis } = await import('ioredis');
    const backoff = new Backoff();
    const client = (role: string): Redis => {
      const r = new Redis(this.o.url, {
        lazyConnect: true,
        // Failures end the session; run() reconnects with its own backoff and re-reads what is pending.
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
        connectTimeout: 5000,
        connectionName: `switchboard:${this.node.options.name}:${this.o.name}:${role}`,
      });
      r.on('error', (err: Error) => this.log(`connection error: ${err.message}`));
      return r;
    };
    while (!this.closed) {
      const cmd = client('cmd');
      const reader = client('read');
      try {
        await cmd.connect();
        await reader.connect();
        await this.session(cmd, reader, backoff);
      } catch (err) {
        if (!this.closed) {
          this.stats.error('source');
          this.log(`cannot consume, retrying: ${(err as Error).message}`);
        }
      } finally {
        this.stats.connected = false;
        cmd.disconnect();
        reader.disconnect();
      }
      if (!this.closed) await this.sleep(backoff.next());
    }
  }

  private async session(cmd: Redis, reader: Redis, backoff: Backoff): Promise<void> {
    try {
      await cmd.xgroup('CREATE', this.o.stream, this.o.group, this.o.startId, 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
    }
    this.stats.connected = true;
    this.lastSample = 0;
    let keeper: LeaseKeeper | null = null;
    if (this.o.exclusive) {
      const ms = this.o.leaseTime * 1000;
      let logged = false;
      while ((await cmd.set(this.leaseKey, this.token, 'PX', ms, 'NX')) !== 'OK') {
        if (this.closed) return;
        if (!logged) this.log('another node holds the lease (exclusive): standing by');
        logged = true;
        await this.sample(cmd);
        await this.sleep(STANDBY_INTERVAL);
      }
      if (logged) this.log('the lease is free: taking over');
      keeper = new LeaseKeeper(async () => (await cmd.eval(RENEW, 1, this.leaseKey, this.token, ms)) === 1, Math.max(200, ms / 3), (why) => this.log(`lost the lease (${why}): stopping, another node takes over`));
      keeper.start();
    }
    this.lastLogged = '';
    backoff.reset();
    try {
      await this.consume(cmd, reader, keeper);
    } finally {
      keeper?.stop();
      if (keeper && !keeper.lost) await cmd.eval(RELEASE, 1, this.leaseKey, this.token).catch(() => {});
    }
  }

  /**
   * The read loop. Phases: `own` re-reads this consumer's pending entries from id 0 (after a
   * restart or a broker failure), `claim` takes entries idle at other consumers, `new` reads `>`.
   */
  private async consume(cmd: Redis, reader: Redis, keeper: LeaseKeeper | null): Promise<void> {
    const o = this.o;
    const claimIdleMs = Math.round(o.claimIdle * 1000);
    let phase: 'own' | 'claim' | 'new' = 'own';
    let cursor = '0';
    let claimCursor = '0-0';
    let lastClaim = Date.now();
    const brokerBackoff = new Backoff();
    while (!this.closed && !keeper?.lost) {
      await this.sample(cmd);
      if (!this.node.broker.connected) {
        await this.waitForBroker(brokerBackoff);
        phase = 'own';
        cursor = '0';
        continue;
      }
      let entries: RawEntry[];
      if (phase === 'own') {
        entries = readReply(await cmd.callBuffer('XREADGROUP', 'GROUP', o.group, this.consumerName, 'COUNT', o.batchSize, 'STREAMS', o.stream, cursor));
        if (entries.length === 0) {
          phase = 'claim';
          claimCursor = '0-0';
          continue;
        }
        cursor = entries[entries.length - 1]![0].toString();
      } else if (phase === 'claim') {
        const r = (await cmd.callBuffer('XAUTOCLAIM', o.stream, o.group, this.consumerName, claimIdleMs, claimCursor, 'COUNT', o.batchSize)) as [Buffer, RawEntry[] | null, Buffer[]?];
        claimCursor = r[0].toString();
        entries = (r[1] ?? []).filter((e) => e !== null);
        if (entries.length > 0) this.log(`claimed ${entries.length} entries idle at other consumers`);
        if (claimCursor === '0-0' && entries.length === 0) {
          if (o.exclusive) {
            const others = await this.othersPending(cmd);
            if (others > 0) {
              this.log(`waiting for ${others} entries pending at other consumers to be idle ${o.claimIdle} s, to claim them before reading on`);
              await this.sleep(Math.min(1000, Math.max(50, claimIdleMs / 4)));
              continue;
            }
          }
          phase = 'new';
          lastClaim = Date.now();
          continue;
        }
      } else {
        if (!o.exclusive && Date.now() - lastClaim > claimIdleMs / 2) {
          phase = 'claim';
          claimCursor = '0-0';
          continue;
        }
        entries = readReply(await reader.callBuffer('XREADGROUP', 'GROUP', o.group, this.consumerName, 'COUNT', o.batchSize, 'BLOCK', Math.round(o.block * 1000), 'STREAMS', o.stream, '>'));
        if (entries.length === 0) continue;
      }
      const failed = await this.handle(cmd, entries);
      if (failed) {
        // The rest is pending at this consumer: re-read it from id 0 once the broker is back.
        phase = 'own';
        cursor = '0';
        await this.waitForBroker(brokerBackoff);
      } else brokerBackoff.reset();
    }
  }

  /** Publishes one batch, acks what was stored, dead-letters poison. True if something must be retried. */
  private async handle(cmd: Redis, entries: RawEntry[]): Promise<boolean> {
    const ready: Prepared<string>[] = [];
    const gone: string[] = [];
    for (const [rawId, fields] of entries) {
      const id = rawId.toString();
      if (fields === null) {
        gone.push(id); // trimmed away while pending: nothing to deliver
        continue;
      }
      try {
        ready.push({ ref: id, ...this.inspect(id, fields) });
      } catch (err) {
        await this.deadLetter(cmd, id, fields, err instanceof PoisonError ? err : new PoisonError('rejected', (err as Error).message));
      }
    }
    if (gone.length > 0) {
      this.log(`${gone.length} pending entries were deleted from the stream before delivery; acked`);
      await cmd.xack(this.o.stream, this.o.group, ...gone);
    }
    const out = await deliverBatch(this.node, ready);
    if (out.done.length > 0) {
      // Counted as stored: an XACK whose reply is lost must not hide them from the metric.
      this.stats.published += out.done.length;
      await cmd.xack(this.o.stream, this.o.group, ...out.done);
    }
    if (out.dead.length > 0) {
      const byId = new Map(entries.map(([id, f]) => [id.toString(), f ?? []]));
      for (const d of out.dead) await this.deadLetter(cmd, d.ref, byId.get(d.ref)!, d.err);
    }
    if (out.retry.length === 0) return false;
    this.stats.error('broker');
    this.log(`publish failed (${out.failure?.message ?? 'broker not connected'}): ${out.retry.length} entries left pending, re-read once the broker is back`);
    return true;
  }

  private inspect(id: string, fields: Buffer[]): Omit<Prepared<string>, 'ref'> {
    let total = 0;
    const map = new Map<string, Buffer>();
    for (let i = 0; i + 1 < fields.length; i += 2) {
      total += fields[i]!.length + fields[i + 1]!.length;
      const k = fields[i]!.toString('latin1');
      if (!map.has(k)) map.set(k, fields[i + 1]!);
    }
    if (total > this.o.maxBytes + FIELD_SLACK) throw new PoisonError('too_large', `entry is ${total} bytes`);
    const text = (field: string): string | undefined => {
      const v = map.get(Buffer.from(field).toString('latin1'));
      if (v === undefined) return undefined;
      if (v.length > 1024) throw new PoisonError('invalid_channel', `field ${field} is ${v.length} bytes`);
      try {
        return utf8.decode(v);
      } catch {
        throw new PoisonError('invalid_channel', `field ${field} is not UTF-8`);
      }
    };
    let channel = this.o.channelField ? text(this.o.channelField) : undefined;
    if (channel === undefined) {
      const rk = this.routes.length > 0 && this.o.routeField ? text(this.o.routeField) : undefined;
      channel = rk === undefined ? undefined : (routeChannel(this.routes, rk) ?? undefined);
      if (channel === undefined) {
        throw new PoisonError('no_channel', rk === undefined ? `no ${this.o.channelField || this.o.routeField} field` : `no route matches ${this.o.routeField} ${JSON.stringify(rk.slice(0, 255))}`);
      }
    }
    checkChannel(channel, this.node.options, this.o.namespaces);
    const raw = map.get(Buffer.from(this.o.dataField).toString('latin1'));
    if (raw === undefined) throw new PoisonError('no_data', `no ${this.o.dataField} field`);
    return { channel, data: decodeData(raw, this.o.maxBytes), key: sourceKey(`redis:${this.o.stream}`, id) };
  }

  /** Adds the entry with its reason to the dead-letter stream and acks it, in one MULTI. */
  private async deadLetter(cmd: Redis, id: string, fields: Buffer[], err: PoisonError): Promise<void> {
    this.stats.dead(err.reason);
    this.log(`entry ${id} dead-lettered: ${err.reason}: ${err.message}`);
    const extra = ['switchboard-reason', err.reason, 'switchboard-error', err.message.slice(0, 1000), 'switchboard-stream', this.o.stream, 'switchboard-group', this.o.group, 'switchboard-id', id];
    const r = await cmd
      .multi()
      .xadd(this.o.deadLetterStream, 'MAXLEN', '~', DEAD_MAXLEN, '*', ...fields, ...extra)
      .xack(this.o.stream, this.o.group, id)
      .exec();
    const failed = r?.find(([e]) => e !== null);
    if (!r || failed) {
      // Left pending: it is read again (and dead-lettered again) after the next restart of the session.
      this.stats.error('source');
      throw new Error(`dead-lettering ${id} failed: ${failed?.[0]?.message ?? 'transaction aborted'}`);
    }
  }

  /** Entries pending at consumers other than this one. */
  private async othersPending(cmd: Redis): Promise<number> {
    const r = (await cmd.xpending(this.o.stream, this.o.group)) as [number, string | null, string | null, [string, string][] | null];
    let n = 0;
    for (const [name, count] of r[3] ?? []) if (name !== this.consumerName) n += Number(count);
    return n;
  }

  /** Samples lag (the oldest entry not acked: pending, or next undelivered) and backlog, every SAMPLE_INTERVAL. */
  private async sample(cmd: Redis): Promise<void> {
    if (Date.now() - this.lastSample < SAMPLE_INTERVAL) return;
    this.lastSample = Date.now();
    const pending = (await cmd.xpending(this.o.stream, this.o.group)) as [number, string | null];
    const groups = (await cmd.xinfo('GROUPS', this.o.stream)) as unknown[][];
    let lag = 0;
    let last = '0-0';
    for (const g of groups) {
      const m = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) m.set(String(g[i]), g[i + 1]);
      if (m.get('name') !== this.o.group) continue;
      lag = Number(m.get('lag') ?? 0) || 0;
      last = String(m.get('last-delivered-id') ?? '0-0');
    }
    this.stats.pending = Number(pending[0]) + lag;
    if (pending[1]) this.stats.oldestMs = idMs(pending[1]);
    else if (lag > 0) {
      const next = (await cmd.xrange(this.o.stream, `(${last}`, '+', 'COUNT', 1))[0];
      this.stats.oldestMs = next ? idMs(next[0]) : 0;
    } else this.stats.oldestMs = 0;
  }

  private async waitForBroker(backoff: Backoff): Promise<void> {
    if (!this.node.broker.connected) this.log(`broker ${this.node.broker.name} is not connected (114): entries stay pending until it is back`);
    await this.sleep(backoff.next());
    while (!this.closed && !this.node.broker.connected) await this.sleep(backoff.next());
  }
}

function readReply(r: unknown): RawEntry[] {
  if (r === null || r === undefined) return [];
  const streams = r as [Buffer, RawEntry[]][];
  return streams[0]?.[1] ?? [];
}
