/**
 * Event ingestion: consumers that publish into channels from a PostgreSQL outbox, a RabbitMQ
 * queue, a Redis stream (consumer group), a NATS JetStream stream (durable pull consumer) or an
 * MQTT broker (the MQTT bridge, which also forwards channels out to topics), exactly once into
 * history by keying every publish with the source's own identity (docs/integrations.md). The
 * drivers (`pg`, `amqplib`, `ioredis`, `nats`, `mqtt`) are loaded only when a consumer of that type is configured.
 */
import type { NodeCore } from '../server/core.ts';
import type { Consumer } from './consumer.ts';
import { resolveConsumers, type ConsumerOptions } from './options.ts';
import { OutboxConsumer } from './outbox.ts';
import { RabbitMqConsumer } from './rabbitmq.ts';
import { MqttBridge } from './mqtt.ts';
import { RedisStreamConsumer } from './redis-streams.ts';
import { JetStreamConsumer } from './jetstream.ts';

export { resolveConsumers, type ConsumerOptions, type OutboxOptions, type RabbitMqOptions, type MqttOptions, type MqttRouteOptions, type MqttOutboundOptions, type RedisStreamOptions, type JetStreamOptions } from './options.ts';
export { outboxSchemaSql, OUTBOX_PARTITIONS } from './outbox-sql.ts';
export type { Consumer } from './consumer.ts';

/** The consumers of one node. */
export class ConsumerSet {
  private closing: Promise<void> | null = null;

  constructor(
    private readonly node: NodeCore,
    readonly consumers: readonly Consumer[],
  ) {}

  /** Stops every consumer and removes its metrics. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.consumers.map((c) => c.close()));
      for (const c of this.consumers) this.node.consumers.delete(c.stats);
    })();
    return this.closing;
  }
}

function create(node: NodeCore, o: ConsumerOptions): Consumer {
  if (o.type === 'mqtt') return new MqttBridge(node, o);
  if (o.type === 'redis-stream') return new RedisStreamConsumer(node, o);
  if (o.type === 'jetstream') return new JetStreamConsumer(node, o);
  return o.type === 'outbox' ? new OutboxConsumer(node, o) : new RabbitMqConsumer(node, o);
}

/**
 * Starts the consumers of `options` (validated by {@link resolveConsumers}; the node's own
 * `consumers` by default) on `node`. They connect in the background and retry forever, so a
 * source that is down delays its consumer, never the node.
 */
export function startConsumers(node: NodeCore, options: readonly ConsumerOptions[] = resolveConsumers(node.options.consumers)): ConsumerSet {
  const consumers = options.map((o) => create(node, o));
  for (const c of consumers) {
    node.consumers.add(c.stats);
    c.start();
  }
  return new ConsumerSet(node, consumers);
}
