/**
 * Metrics of the event consumers (src/ingest: PostgreSQL outbox, RabbitMQ, Redis Streams, JetStream, the MQTT bridge). The families are
 * registered on every node, so alert rules that read them are valid whether or not a node runs
 * consumers; each consumer adds one label set (`consumer`, `kind`) when it starts.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConsumerMetricsSource } from '../server/stats.ts';

export type { ConsumerMetricsSource } from '../server/stats.ts';

/** Registers the consumer metric families on `registry`, reading `sources` at each scrape. */
export function registerConsumerMetrics(registry: Registry, sources: ReadonlySet<ConsumerMetricsSource>): void {
  const labels = ['consumer', 'kind'];
  const gauge = (name: string, help: string, read: (c: ConsumerMetricsSource) => number) =>
    new Gauge({
      name,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const c of sources) this.set({ consumer: c.name, kind: c.kind }, read(c));
      },
    });
  gauge('switchboard_consumer_up', '1 while an event consumer is connected to its source (consuming, or standing by for an exclusive queue).', (c) => (c.up() ? 1 : 0));
  gauge('switchboard_consumer_lag_seconds', 'Age of the oldest input an event consumer has not delivered yet (outbox row, in-flight queue or stream message, oldest unacked stream entry).', (c) => c.lagSeconds());
  gauge('switchboard_consumer_backlog', 'Inputs waiting at the source of an event consumer (outbox rows, counted up to 100000; ready queue messages).', (c) => c.backlog());
  new Counter({
    name: 'switchboard_consumer_published_total',
    help: 'Inputs an event consumer published into channels.',
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of sources) this.inc({ consumer: c.name, kind: c.kind }, c.published);
    },
  });
  new Counter({
    name: 'switchboard_consumer_forwarded_total',
    help: 'Channel publications the MQTT bridge sent out to its broker (outbound).',
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of sources) this.inc({ consumer: c.name, kind: c.kind }, c.forwarded);
    },
  });
  const byReason = (name: string, help: string, label: string, read: (c: ConsumerMetricsSource) => ReadonlyMap<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [...labels, label],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of sources) for (const [k, v] of read(c)) this.inc({ consumer: c.name, kind: c.kind, [label]: k }, v);
      },
    });
  byReason('switchboard_consumer_dead_letters_total', 'Inputs an event consumer set aside (dead-letter table or queue), by reason.', 'reason', (c) => c.deadLetters);
  byReason('switchboard_consumer_errors_total', 'Failed delivery attempts of an event consumer, by side (source, broker; the input is retried) or outbound (an MQTT forward failed or was dropped).', 'error', (c) => c.errors);
}
