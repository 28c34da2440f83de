/**
 * What the consumers share: the Consumer lifecycle, their metric counters, and the publish step
 * through the node's own server-side publish (the path the HTTP API uses; authorization and
 * namespace history settings apply), never the broker directly.
 */
import type { ConsumerMetricsSource } from '../server/stats.ts';
import type { NodeCore } from '../server/core.ts';
import type { DeadReason } from './input.ts';

/** One running consumer. */
export interface Consumer {
  readonly stats: ConsumerStats;
  /** Starts consuming in the background (connection failures are retried, never thrown). */
  start(): void;
  /** Stops consuming: in-flight inputs finish or go back to the source. Idempotent. */
  close(): Promise<void>;
}

/** Counters a consumer keeps and /metrics reads (src/metrics/consumers.ts). */
export class ConsumerStats implements ConsumerMetricsSource {
  published = 0;
  forwarded = 0;
  readonly deadLetters = new Map<string, number>();
  readonly errors = new Map<string, number>();
  connected = false;
  lag = 0;
  pending = 0;

  constructor(
    readonly name: string,
    readonly kind: string,
  ) {
    // Exported at 0 from the start: Prometheus' increase()/rate() only see a counter's first
    // error if the series existed before it (the error alerts in deploy/prometheus/alerts.yml).
    this.errors.set('source', 0).set('broker', 0);
  }

  up(): boolean {
    return this.connected;
  }

  lagSeconds(): number {
    return this.lag;
  }

  backlog(): number {
    return this.pending;
  }

  dead(reason: DeadReason): void {
    this.deadLetters.set(reason, (this.deadLetters.get(reason) ?? 0) + 1);
  }

  error(side: 'source' | 'broker' | 'outbound'): void {
    this.errors.set(side, (this.errors.get(side) ?? 0) + 1);
  }
}

/** Publishes one input the way the server API does, with its source-derived idempotency key. */
export async function publishInput(node: NodeCore, channel: string, data: unknown, idempotencyKey: string | undefined): Promise<void> {
  await node.publish(channel, data, idempotencyKey === undefined ? {} : { idempotencyKey });
}

/** Exponential backoff between retries: 100 ms doubling to `maxMs`, with ±20 % jitter. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly maxMs = 5000) {}

  next(): number {
    const base = Math.min(this.maxMs, 100 * 2 ** Math.min(this.attempt++, 16));
    return base * (0.8 + Math.random() * 0.4);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * A sleep that `wake()` ends early (a NOTIFY, close()). Timers are unref()ed: a consumer never
 * keeps the process alive on its own.
 */
export class Waker {
  private pending: (() => void) | null = null;
  private woken = false;

  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      const self = this;
      function done(): void {
        clearTimeout(t);
        if (self.pending === done) self.pending = null;
        resolve();
      }
      this.pending = done;
    });
  }

  /** Ends the current sleep, or makes the next one return at once. */
  wake(): void {
    if (this.pending) this.pending();
    else this.woken = true;
  }
}

/** The sleeps of one consumer's loops: each ends at its time, or at once on `wakeAll()` (close()). */
export class Sleepers {
  private readonly set = new Set<Waker>();

  async sleep(ms: number): Promise<void> {
    const w = new Waker();
    this.set.add(w);
    try {
      await w.sleep(ms);
    } finally {
      this.set.delete(w);
    }
  }

  wakeAll(): void {
    for (const w of this.set) w.wake();
  }
}
