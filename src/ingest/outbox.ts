/**
 * PostgreSQL transactional outbox consumer (docs/integrations.md "PostgreSQL outbox").
 *
 * An application inserts `(channel, data)` rows in the same transaction as its own writes; this
 * consumer publishes them into the channels and deletes them. Each claim is one transaction:
 *
 *   1. find the partitions that have rows, oldest first (partition = hash of the channel, outbox-sql.ts);
 *   2. BEGIN; take the first partition whose advisory lock is free (`pg_try_advisory_xact_lock`);
 *   3. `SELECT … WHERE partition = p ORDER BY id LIMIT batchSize FOR UPDATE SKIP LOCKED`;
 *   4. publish each row through the node (`node.publish`, like the HTTP API) with the idempotency
 *      key `outbox:<table>:<id>` — rows of one channel one after the other, channels in parallel;
 *   5. move poison rows to `<table>_dead` with their reason, delete the delivered ones; COMMIT.
 *
 * Exactly once in history: a row leaves the table only in the transaction that follows its
 * publish. If the node dies in between, the transaction rolls back, the lock is released, and the
 * next claimer publishes the row again with the same key: the broker stores it once (within the
 * node's `idempotencyTtl`).
 *
 * Order per channel: why a lock per partition and not SKIP LOCKED alone. With SKIP LOCKED only,
 * two claimers take disjoint batches of one channel (rows 1–100 and 101–200) and publish them at
 * the same time, interleaving that channel. With the partition lock, a channel's rows are claimed
 * by one transaction at a time, in id order, and the next batch only after the previous one
 * committed (or rolled back: then it is claimed again from the same first row). Several nodes and
 * loops share the outbox by working on different partitions. SKIP LOCKED remains as a guard
 * against claimers that do not take the lock (an older version, a hand-run query).
 */
import type pg from 'pg';
import type { NodeCore } from '../server/core.ts';
import { Backoff, ConsumerStats, Waker, type Consumer } from './consumer.ts';
import { checkChannel, decodeData, isPermanent, PoisonError, poisonFromReply, sourceKey } from './input.ts';
import type { OutboxOptions } from './options.ts';
import { MAX_CHANNEL_READ, MAX_KEY_READ, outboxSchemaSql, outboxStatements, type OutboxStatements } from './outbox-sql.ts';

/** Rows counted at most for the backlog gauge. */
const BACKLOG_CAP = 100_000;
/** Milliseconds between lag samples. */
const LAG_INTERVAL = 5000;

interface ClaimedRow {
  id: string;
  channel: string;
  channel_bytes: number;
  data: string | null;
  data_bytes: number;
  key: string | null;
  key_bytes: number | null;
}

interface Ready {
  id: string;
  channel: string;
  data: unknown;
  key: string;
}

interface Dead {
  id: string;
  reason: string;
  error: string;
}

/** Switchboard's broker is not connected (error 114): the batch is retried later. */
class BrokerDownError extends Error {
  override readonly name = 'BrokerDownError';
}

export class OutboxConsumer implements Consumer {
  readonly stats: ConsumerStats;
  private readonly sql: OutboxStatements;
  private pool: pg.Pool | null = null;
  private closed = false;
  private running: Promise<void> | null = null;
  private readonly wakers: Waker[] = [];
  private stopListening: (() => void) | null = null;
  /** Last logged failure, so a database outage logs once and not once per retry. */
  private lastLogged = '';

  constructor(
    private readonly node: NodeCore,
    private readonly o: OutboxOptions,
  ) {
    this.stats = new ConsumerStats(o.name, 'outbox');
    this.sql = outboxStatements(o.table);
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => this.log(`stopped: ${(err as Error).message}`));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.wakers) w.wake();
    this.stopListening?.();
    await this.running;
    await this.pool?.end().catch(() => {});
  }

  private log(message: string): void {
    if (message === this.lastLogged) return;
    this.lastLogged = message;
    console.warn(`switchboard: consumer ${this.o.name} (outbox ${this.o.table}): ${message}`);
  }

  private async run(): Promise<void> {
    const { default: pgm } = await import('pg');
    const pool = new pgm.Pool({ connectionString: this.o.url, max: this.o.concurrency + 1, application_name: `switchboard ${this.o.name}` });
    // An idle client that loses its connection emits on the pool; without a listener that would crash the node.
    pool.on('error', () => this.stats.error('source'));
    this.pool = pool;
    const backoff = new Backoff();
    const waker = this.waker();
    while (this.o.migrate && !this.closed) {
      try {
        await this.migrate(pool);
        break;
      } catch (err) {
        this.stats.error('source');
        this.log(`migration failed, retrying: ${(err as Error).message}`);
        await waker.sleep(backoff.next());
      }
    }
    const loops = [this.listen(pgm), this.sampleLag(pool)];
    for (let i = 0; i < this.o.concurrency; i++) loops.push(this.work(pool));
    await Promise.all(loops);
  }

  private waker(): Waker {
    const w = new Waker();
    this.wakers.push(w);
    return w;
  }

  /**
   * A pooled connection with an 'error' listener for as long as it is checked out: the pool
   * listens only to idle ones, and a connection that breaks while checked out but between queries
   * emits 'error' — unheard, that would be an uncaught exception, i.e. a crashed node.
   */
  private async checkout(pool: pg.Pool): Promise<{ client: pg.PoolClient; release: (err?: Error) => void }> {
    const client = await pool.connect();
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
      this.stats.error('source');
    };
    client.on('error', onError);
    return {
      client,
      release: (err) => {
        client.off('error', onError);
        client.release(err ?? broken);
      },
    };
  }

  private async migrate(pool: pg.Pool): Promise<void> {
    const { client, release } = await this.checkout(pool);
    try {
      await client.query('BEGIN');
      await client.query(this.sql.migrateLock);
      await client.query(outboxSchemaSql(this.o.table));
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      release();
    }
  }

  /** LISTEN on the table's channel (the trigger's NOTIFY wakes the claim loops); reconnects forever. */
  private async listen(pgm: typeof pg): Promise<void> {
    const backoff = new Backoff();
    const waker = this.waker();
    while (!this.closed) {
      const client = new pgm.Client({ connectionString: this.o.url, application_name: `switchboard ${this.o.name} listen` });
      const ended = new Promise<void>((resolve) => {
        this.stopListening = resolve;
        client.on('error', (err) => {
          this.stats.error('source');
          this.log(`listen connection lost: ${err.message}`);
          resolve();
        });
        client.on('end', () => resolve());
      });
      try {
        await client.connect();
        client.on('notification', () => this.wakeAll());
        await client.query(`LISTEN ${this.o.table}`);
        this.stats.connected = true;
        backoff.reset();
        this.lastLogged = '';
        // Rows inserted while nobody listened: look now.
        this.wakeAll();
        if (!this.closed) await ended;
      } catch (err) {
        this.stats.error('source');
        this.log(`cannot listen, retrying: ${(err as Error).message}`);
      } finally {
        this.stats.connected = false;
        await client.end().catch(() => {});
      }
      if (!this.closed) await waker.sleep(backoff.next());
    }
  }

  private wakeAll(): void {
    for (const w of this.wakers) w.wake();
  }

  /** Lag (age of the oldest row) and backlog for /metrics, every LAG_INTERVAL. */
  private async sampleLag(pool: pg.Pool): Promise<void> {
    const waker = new Waker();
    this.wakers.push(waker);
    while (!this.closed) {
      try {
        const r = await pool.query<{ lag: number | null; backlog: number }>(this.sql.lag, [BACKLOG_CAP]);
        this.stats.lag = Math.max(0, r.rows[0]?.lag ?? 0);
        this.stats.pending = r.rows[0]?.backlog ?? 0;
      } catch {
        // Counted and logged by the claim loops, which hit the same database.
      }
      // Wakes on NOTIFY too; sample at most every LAG_INTERVAL anyway.
      const until = Date.now() + LAG_INTERVAL;
      while (!this.closed && Date.now() < until) await waker.sleep(until - Date.now());
    }
  }

  /** One claim loop: claim, and sleep when there is nothing (until NOTIFY or pollInterval) or after a failure. */
  private async work(pool: pg.Pool): Promise<void> {
    const waker = this.waker();
    const backoff = new Backoff();
    while (!this.closed) {
      let n: number;
      try {
        n = await this.claim(pool);
        backoff.reset();
      } catch (err) {
        if (err instanceof BrokerDownError) {
          this.stats.error('broker');
          this.log(err.message);
        } else {
          this.stats.error('source');
          this.log(`claim failed, retrying: ${(err as Error).message}`);
        }
        await waker.sleep(backoff.next());
        continue;
      }
      if (n > 0) this.lastLogged = '';
      // -1: rows are there but every partition holding them is taken by other claimers.
      if (n === 0) await waker.sleep(this.o.pollInterval * 1000);
      else if (n < 0) await waker.sleep(Math.min(50, this.o.pollInterval * 1000));
    }
  }

  /** Claims and delivers one batch of one partition. Returns the rows handled, 0 if none, -1 if all busy. */
  private async claim(pool: pg.Pool): Promise<number> {
    const { client, release } = await this.checkout(pool);
    let broken: Error | undefined;
    try {
      const cands = await client.query<{ part: number }>(this.sql.candidates);
      if (cands.rows.length === 0) return 0;
      await client.query('BEGIN');
      let part = -1;
      for (const { part: p } of cands.rows) {
        const r = await client.query<{ ok: boolean }>(this.sql.tryLock, [p]);
        if (r.rows[0]?.ok) {
          part = p;
          break;
        }
      }
      const rows = part < 0 ? [] : (await client.query<ClaimedRow>(this.sql.claim, [part, this.o.batchSize, this.o.maxBytes])).rows;
      if (rows.length === 0) {
        await client.query('ROLLBACK');
        return -1;
      }
      let delivered: { published: number; dead: Dead[] };
      try {
        delivered = await this.deliver(rows);
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      const { published, dead } = delivered;
      if (dead.length > 0) await client.query(this.sql.bury, [dead.map((d) => d.id), dead.map((d) => d.reason), dead.map((d) => d.error)]);
      await client.query(this.sql.remove, [rows.map((r) => r.id)]);
      await client.query('COMMIT');
      this.stats.published += published;
      for (const d of dead) {
        this.stats.dead(d.reason as PoisonError['reason']);
        this.log(`row ${d.id} moved to ${this.o.table}_dead: ${d.reason}: ${d.error}`);
      }
      return rows.length;
    } catch (err) {
      // A query failed: the connection may be unusable; do not return it to the pool.
      if (!(err instanceof BrokerDownError)) broken = err as Error;
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      release(broken);
    }
  }

  /**
   * Publishes the claimed rows: one channel's rows in id order, one at a time (a row is published
   * only after the one before it is stored); channels in parallel. A temporary failure stops every
   * channel at its next row and throws, so the caller rolls the whole batch back.
   */
  private async deliver(rows: ClaimedRow[]): Promise<{ published: number; dead: Dead[] }> {
    const dead: Dead[] = [];
    const byChannel = new Map<string, Ready[]>();
    for (const row of rows) {
      try {
        const r = this.inspect(row);
        let list = byChannel.get(r.channel);
        if (!list) byChannel.set(r.channel, (list = []));
        list.push(r);
      } catch (err) {
        if (!(err instanceof PoisonError)) throw err;
        dead.push({ id: row.id, reason: err.reason, error: err.message });
      }
    }
    let failure: Error | null = null;
    let published = 0;
    await Promise.all(
      [...byChannel.values()].map(async (list) => {
        for (const r of list) {
          if (failure) return;
          if (!this.node.broker.connected) {
            failure = new BrokerDownError(`broker ${this.node.broker.name} is not connected (114); rows stay in the outbox`);
            return;
          }
          try {
            await this.node.publish(r.channel, r.data, { idempotencyKey: r.key });
            published++;
          } catch (err) {
            if (isPermanent(err)) {
              const p = poisonFromReply(err);
              dead.push({ id: r.id, reason: p.reason, error: p.message });
              continue;
            }
            failure = this.node.broker.connected ? (err as Error) : new BrokerDownError(`broker ${this.node.broker.name} failed (114): ${(err as Error).message}`);
            return;
          }
        }
      }),
    );
    if (failure) throw failure;
    return { published, dead };
  }

  private inspect(row: ClaimedRow): Ready {
    if (row.channel_bytes > MAX_CHANNEL_READ) throw new PoisonError('invalid_channel', `channel is ${row.channel_bytes} bytes`);
    checkChannel(row.channel, this.node.options, this.o.namespaces);
    if (row.data === null) throw new PoisonError('too_large', `data is ${row.data_bytes} bytes, over maxBytes ${this.o.maxBytes}`);
    const data = decodeData(row.data, this.o.maxBytes);
    const table = `outbox:${this.o.table}`;
    // An application key replaces the row id, so two rows with one key are published once.
    const key =
      row.key === null ? sourceKey(table, row.id) : sourceKey(`${table}:key`, row.key_bytes !== null && row.key_bytes > MAX_KEY_READ ? `${row.key}…${row.key_bytes}` : row.key);
    return { id: row.id, channel: row.channel, data, key };
  }
}
