/**
 * A Broker decorator that times the calls a client waits on — `publish` (a client's `pub` is
 * acknowledged only after it) and `history` (subscribe and recovery read it) — and counts their
 * failures. Every other method is passed through untouched.
 *
 * The histogram is created here, unregistered, so the broker can be built before the node's
 * metrics registry exists; `Metrics` registers it when the node's broker is an InstrumentedBroker.
 * One observation costs a `process.hrtime.bigint()` pair and a cached child-histogram update.
 */
import { Counter, Histogram } from 'prom-client';
import type { Broker, BrokerHandler, HistoryOptions, HistoryResult, PresencePage, PresencePageOptions, PublishOptions } from '../broker/broker.ts';
import type { ClientInfo, StreamPosition } from '../protocol/frames.ts';

/** Seconds. Memory broker calls land in the first buckets, Redis/NATS round trips in the middle. */
export const BROKER_LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type TimedOp = 'publish' | 'history';

export class InstrumentedBroker implements Broker {
  readonly latency = new Histogram({
    name: 'switchboard_broker_latency_seconds',
    help: 'Broker call latency by operation (publish is on the acknowledgement path of every client publish).',
    labelNames: ['op', 'broker'],
    buckets: BROKER_LATENCY_BUCKETS,
    registers: [],
  });
  readonly failures = new Counter({
    name: 'switchboard_broker_errors_total',
    help: 'Broker calls that failed, by operation.',
    labelNames: ['op', 'broker'],
    registers: [],
  });
  private readonly timers: Record<TimedOp, Histogram.Internal<'op' | 'broker'>>;

  /** @param inner the broker that does the work; closed by close(). */
  constructor(readonly inner: Broker) {
    this.timers = {
      publish: this.latency.labels({ op: 'publish', broker: inner.name }),
      history: this.latency.labels({ op: 'history', broker: inner.name }),
    };
    // Make both series visible (as zero) before the first call, so alerts see them from the start.
    this.failures.inc({ op: 'publish', broker: inner.name }, 0);
    this.failures.inc({ op: 'history', broker: inner.name }, 0);
  }

  get name(): string {
    return this.inner.name;
  }

  get connected(): boolean {
    return this.inner.connected;
  }

  private async time<T>(op: TimedOp, p: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    try {
      return await p();
    } catch (err) {
      this.failures.inc({ op, broker: this.inner.name });
      throw err;
    } finally {
      this.timers[op].observe(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  setHandler(handler: BrokerHandler): void {
    this.inner.setHandler(handler);
  }

  publish(channel: string, data: unknown, opts: PublishOptions): Promise<StreamPosition> {
    return this.time('publish', () => this.inner.publish(channel, data, opts));
  }

  history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    return this.time('history', () => this.inner.history(channel, opts));
  }

  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    return this.inner.publishJoin(channel, info);
  }

  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    return this.inner.publishLeave(channel, info);
  }

  subscribe(channel: string): Promise<void> {
    return this.inner.subscribe(channel);
  }

  unsubscribe(channel: string): Promise<void> {
    return this.inner.unsubscribe(channel);
  }

  removeHistory(channel: string): Promise<void> {
    return this.inner.removeHistory(channel);
  }

  presenceAdd(channel: string, clientId: string, info: ClientInfo, ttlMs: number): Promise<void> {
    return this.inner.presenceAdd(channel, clientId, info, ttlMs);
  }

  presenceRemove(channel: string, clientId: string): Promise<void> {
    return this.inner.presenceRemove(channel, clientId);
  }

  presence(channel: string): Promise<Record<string, ClientInfo>> {
    return this.inner.presence(channel);
  }

  presencePage(channel: string, opts: PresencePageOptions): Promise<PresencePage> {
    return this.inner.presencePage(channel, opts);
  }

  presenceStats(channel: string): Promise<{ clients: number; users: number }> {
    return this.inner.presenceStats(channel);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Wraps `broker` unless it is already instrumented. */
export function instrument(broker: Broker): InstrumentedBroker {
  return broker instanceof InstrumentedBroker ? broker : new InstrumentedBroker(broker);
}
