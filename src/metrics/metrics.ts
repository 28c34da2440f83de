/**
 * Prometheus metrics. Hot paths bump plain numbers in Stats; this module turns them into
 * prom-client metrics at scrape time, so a delivery costs an increment and not a label lookup.
 * Each node has its own registry (several nodes can live in one process, e.g. in tests).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SwitchboardNode } from '../server/node.ts';

export class Metrics {
  readonly registry = new Registry();

  constructor(node: SwitchboardNode) {
    const r = this.registry;
    const s = node.stats;
    r.setDefaultLabels({ node: node.options.name });
    collectDefaultMetrics({ register: r, prefix: 'switchboard_process_', eventLoopMonitoringPrecision: 20 });

    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name, help, registers: [r], collect() { this.set(read()); } });
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers: [r], collect() { this.reset(); this.inc(read()); } });
    const byLabel = (name: string, help: string, label: string, map: Map<string | number, number>) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [r],
        collect() {
          this.reset();
          for (const [k, v] of map) this.inc({ [label]: String(k) }, v);
        },
      });

    gauge('switchboard_connections', 'Connected clients (past the connect command).', () => node.connectionCount);
    gauge('switchboard_channels', 'Channels with at least one local subscriber.', () => node.hub.channelCount);
    gauge('switchboard_subscriptions', 'Subscriptions of local clients.', () => {
      let n = 0;
      for (const x of node.sessions) n += x.subscriptionCount;
      return n;
    });
    gauge('switchboard_outbound_queue_bytes', 'Bytes queued for clients and not yet written to the kernel.', () => {
      let n = 0;
      for (const x of node.sessions) n += x.queuedBytes;
      return n;
    });
    gauge('switchboard_memory_per_connection_bytes', 'Process RSS divided by connections (0 when none).', () =>
      node.connectionCount > 0 ? process.memoryUsage().rss / node.connectionCount : 0,
    );
    counter('switchboard_connections_total', 'Connections accepted.', () => s.connectionsTotal);
    counter('switchboard_messages_received_total', 'Transport messages received from clients.', () => s.messagesIn);
    counter('switchboard_bytes_received_total', 'Bytes received from clients (transport payloads).', () => s.bytesIn);
    counter('switchboard_frames_sent_total', 'Frames written to clients.', () => s.framesOut);
    counter('switchboard_bytes_sent_total', 'Bytes written to clients.', () => s.bytesOut);
    counter('switchboard_publications_total', 'Publications accepted (client and server API).', () => s.publishes);
    counter('switchboard_deliveries_total', 'Publications delivered to local subscribers.', () => node.hub.deliveries);
    counter('switchboard_slow_consumer_disconnects_total', 'Connections closed because their outbound queue passed the limit.', () => s.slowDisconnects);
    counter('switchboard_conflated_total', 'Publications replaced by a newer one on lossy channels.', () => s.conflated);
    counter('switchboard_recoveries_total', 'Subscriptions that recovered every missed publication.', () => s.recoveries);
    counter('switchboard_recovery_gaps_total', 'Subscriptions that could not recover (recovered: false).', () => s.recoveryGaps);
    byLabel('switchboard_commands_total', 'Client commands by frame type.', 'type', s.commands as Map<string | number, number>);
    byLabel('switchboard_errors_total', 'Error replies by code.', 'code', s.errors as Map<string | number, number>);
    byLabel('switchboard_disconnects_total', 'Closed connections by disconnect/close code.', 'code', s.disconnects as Map<string | number, number>);
    new Histogram({
      name: 'switchboard_connection_duration_seconds',
      help: 'How long connections lasted.',
      buckets: [1, 10, 60, 300, 1800, 3600, 21600, 86400],
      registers: [r],
      collect() {
        for (const d of s.durations) this.observe(d);
        s.durations = [];
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
