/**
 * Event ingestion: consumers that publish into channels from a PostgreSQL outbox or a RabbitMQ
 * queue, exactly once into history by keying every publish with the source's own identity
 * (docs/integrations.md). The drivers (`pg`, `amqplib`) are loaded only when a consumer of that
 * type is configured.
 */
import type { SwitchboardNode } from '../server/node.ts';
import type { Consumer } from './consumer.ts';
import { resolveConsumers, type ConsumerOptions } from './options.ts';
import { OutboxConsumer } from './outbox.ts';
import { RabbitMqConsumer } from './rabbitmq.ts';

export { resolveConsumers, type ConsumerOptions, type OutboxOptions, type RabbitMqOptions } from './options.ts';
export { outboxSchemaSql, OUTBOX_PARTITIONS } from './outbox-sql.ts';
export type { Consumer } from './consumer.ts';

/** The consumers of one node. */
export class ConsumerSet {
  private closing: Promise<void> | null = null;

  constructor(
    private readonly node: SwitchboardNode,
    readonly consumers: readonly Consumer[],
  ) {}

  /** Stops every consumer and removes its metrics. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.consumers.map((c) => c.close()));
      for (const c of this.consumers) this.node.metrics.consumers.delete(c.stats);
    })();
    return this.closing;
  }
}

function create(node: SwitchboardNode, o: ConsumerOptions): Consumer {
  return o.type === 'outbox' ? new OutboxConsumer(node, o) : new RabbitMqConsumer(node, o);
}

/**
 * Starts the consumers of `options` (validated by {@link resolveConsumers}; the node's own
 * `consumers` by default) on `node`. They connect in the background and retry forever, so a
 * source that is down delays its consumer, never the node.
 */
export function startConsumers(node: SwitchboardNode, options: readonly ConsumerOptions[] = resolveConsumers(node.options.consumers)): ConsumerSet {
  const consumers = options.map((o) => create(node, o));
  for (const c of consumers) {
    node.metrics.consumers.add(c.stats);
    c.start();
  }
  return new ConsumerSet(node, consumers);
}
