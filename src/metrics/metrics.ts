/**
 * Prometheus metrics. Hot paths bump plain numbers in Stats; this module turns them into
 * prom-client metrics at scrape time, so a delivery costs an increment and not a label lookup.
 * Each node has its own registry (several nodes can live in one process, e.g. in tests).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { NodeCore } from '../server/core.ts';
import { SessionState } from '../server/session.ts';
import { RECEIVED_TYPES, SENT_TYPES, TRANSPORT_KINDS } from '../server/stats.ts';
import { registerConsumerMetrics, type ConsumerMetricsSource } from './consumers.ts';
import { InstrumentedBroker } from './instrumented-broker.ts';
import type { SfuStats } from '../webrtc/sfu/options.ts';

export class Metrics {
  readonly registry = new Registry();
  /** Event consumers reporting here: the node's `consumers` (src/ingest adds and removes them). */
  readonly consumers: ReadonlySet<ConsumerMetricsSource>;

  constructor(node: NodeCore) {
    const r = this.registry;
    const s = node.stats;
    this.consumers = node.consumers;
    r.setDefaultLabels({ node: node.options.name });
    // prom-client's own names already start with process_ / nodejs_, so the prefix is just ours:
    // switchboard_process_resident_memory_bytes, switchboard_nodejs_eventloop_lag_p99_seconds.
    collectDefaultMetrics({ register: r, prefix: 'switchboard_', eventLoopMonitoringPrecision: 20 });

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

    /** Counters kept in Float64Arrays indexed like `keys`, exposed with one label. */
    const byIndex = (name: string, help: string, label: string, keys: readonly string[], values: Float64Array) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [r],
        collect() {
          this.reset();
          keys.forEach((k, i) => this.inc({ [label]: k }, values[i]!));
        },
      });

    // The SFU (webrtc/sfu), when this node runs one with counts (createSfu's does).
    const sfu = node.sfu as (typeof node.sfu & { stats?: () => SfuStats }) | undefined;
    if (sfu && typeof sfu.stats === 'function') {
      const st = (): SfuStats => sfu.stats!();
      gauge('switchboard_sfu_rooms', 'SFU rooms (routers) on this node', () => st().rooms);
      gauge('switchboard_sfu_participants', 'Participants in SFU rooms on this node', () => st().participants);
      gauge('switchboard_sfu_tracks', 'Tracks published to the SFU (a simulcast track counts once)', () => st().producers);
      gauge('switchboard_sfu_consumers', 'Remote tracks forwarded to subscribers', () => st().consumers);
      counter('switchboard_sfu_packets_forwarded_total', 'RTP packets the SFU sent to subscribers (first transmissions)', () => st().packetsForwarded);
      counter('switchboard_sfu_packets_retransmitted_total', 'RTP packets the SFU sent again for NACKs', () => st().packetsRetransmitted);
      counter('switchboard_sfu_keyframe_requests_total', 'Keyframe requests (PLI) the SFU sent to publishers', () => st().keyframeRequests);
      counter('switchboard_sfu_upstream_nacks_total', 'Lost publisher packets the SFU asked for again (NACK entries)', () => st().nacksSent);
      gauge('switchboard_sfu_native_threads', 'SFU threads sending with the native helper (OpenSSL SRTP + sendmmsg); 0: the JavaScript path', () => st().nativeThreads);
      counter('switchboard_sfu_packets_sent_native_total', 'RTP datagrams the SFU sent to subscribers through the native batch (sendmmsg)', () => st().packetsSentNative);
      counter('switchboard_sfu_upstream_recovered_total', 'Publisher packets that arrived after being counted missing (retransmitted or reordered)', () => st().packetsRecovered);
      gauge('switchboard_sfu_layers_capped', 'Published layers not forwarded now because their publisher exceeds its bitrate cap', () => st().layersCapped);
    }

    // Per-connection figures are gathered in one pass over the sessions per scrape (O(connections),
    // never on a hot path), cached for the duration of that scrape.
    let scan: Scan | null = null;
    let scanAt = -1;
    const scanned = (): Scan => {
      const now = performance.now();
      if (scan === null || now - scanAt > 50) {
        scan = scanSessions(node);
        scanAt = now;
      }
      return scan;
    };
    new Gauge({
      name: 'switchboard_connections',
      help: 'Connected clients (past the connect command), by transport.',
      labelNames: ['transport'],
      registers: [r],
      collect() {
        for (const [k, v] of scanned().connections) this.set({ transport: k }, v);
      },
    });
    gauge('switchboard_connections_pending', 'Open transports that have not completed the connect command yet.', () => scanned().pending);
    gauge('switchboard_max_connections', 'The node\'s connection limit (maxConnections), for capacity alerts.', () => node.options.maxConnections);
    gauge('switchboard_draining', '1 while the node drains (SIGTERM), else 0.', () => (node.draining ? 1 : 0));
    gauge('switchboard_channels', 'Channels with at least one local subscriber.', () => node.hub.channelCount);
    new Gauge({
      name: 'switchboard_subscriptions',
      help: 'Subscriptions of local clients, by namespace ("default" for channels without one).',
      labelNames: ['namespace'],
      registers: [r],
      collect() {
        this.reset();
        for (const [k, v] of scanned().subscriptions) this.set({ namespace: k }, v);
      },
    });
    gauge('switchboard_outbound_queue_bytes', 'Bytes queued for clients and not yet written to the kernel.', () => scanned().queued);
    gauge('switchboard_outbound_queue_max_bytes', 'Largest outbound queue of one connection (compare with maxQueueBytes).', () => scanned().maxQueued);
    gauge('switchboard_max_queue_bytes', 'Outbound bytes per connection before the slow-consumer policy (maxQueueBytes).', () => node.options.maxQueueBytes);
    gauge('switchboard_memory_per_connection_bytes', 'Process RSS divided by connections (0 when none).', () =>
      node.connectionCount > 0 ? process.memoryUsage().rss / node.connectionCount : 0,
    );
    counter('switchboard_connections_total', 'Connections accepted.', () => s.connectionsTotal);
    byIndex('switchboard_messages_received_total', 'Transport messages received from clients, by transport.', 'transport', TRANSPORT_KINDS, s.inMessages);
    byIndex('switchboard_bytes_received_total', 'Bytes received from clients (transport payloads), by transport.', 'transport', TRANSPORT_KINDS, s.inBytes);
    byIndex('switchboard_frames_received_total', 'Valid frames received from clients, by frame type.', 'type', RECEIVED_TYPES, s.receivedFrames);
    byIndex('switchboard_frames_queued_total', 'Frames queued for clients, by frame type (pings not included).', 'type', SENT_TYPES, s.sentFrames);
    byIndex('switchboard_frames_queued_bytes_total', 'Bytes of frames queued for clients, by frame type (pings not included).', 'type', SENT_TYPES, s.sentBytes);
    counter('switchboard_frames_sent_total', 'Frames written to clients.', () => s.framesOut);
    counter('switchboard_transport_writes_total', 'Writes to client transports (frames_sent ÷ writes: frames per write, i.e. how well writes coalesce).', () => s.writes);
    counter('switchboard_bytes_sent_total', 'Bytes written to clients.', () => s.bytesOut);
    counter('switchboard_publications_total', 'Publications accepted (client and server API).', () => s.publishes);
    counter('switchboard_deliveries_total', 'Publications delivered to local subscribers.', () => node.hub.deliveries);
    counter('switchboard_slow_consumer_disconnects_total', 'Connections closed because their outbound queue passed the limit.', () => s.slowDisconnects);
    counter('switchboard_conflated_total', 'Publications replaced by a newer one on lossy channels.', () => s.conflated);
    counter('switchboard_datagrams_sent_total', 'Publications sent as unreliable datagrams (datagrams namespaces on WebTransport).', () => s.datagramsSent);
    counter('switchboard_datagrams_dropped_total', 'Datagram publications dropped because the datagram send queue was full.', () => s.datagramsDropped);
    counter('switchboard_recoveries_total', 'Subscriptions that recovered every missed publication.', () => s.recoveries);
    counter('switchboard_recovery_gaps_total', 'Subscriptions that could not recover (recovered: false).', () => s.recoveryGaps);
    // The protocol has no "I am reconnecting" flag on connect; a subscribe that carries a position
    // to recover from is what a reconnecting client sends, so that is what is counted.
    new Counter({
      name: 'switchboard_resubscriptions_total',
      help: 'Subscribes carrying a recovery position (clients coming back after a reconnect), by result.',
      labelNames: ['result'],
      registers: [r],
      collect() {
        this.reset();
        this.inc({ result: 'recovered' }, s.recoveries);
        this.inc({ result: 'gap' }, s.recoveryGaps);
      },
    });
    counter('switchboard_rebalanced_connections_total', 'Connections this node asked to reconnect elsewhere (rebalancing).', () => node.cluster.rebalanced);
    counter('switchboard_forwarded_requests_total', 'SSE/long-polling requests proxied to the node holding their session.', () => s.forwarded);
    new Counter({
      name: 'switchboard_cluster_messages_rejected_total',
      help: 'Cluster registry and control messages from the broker not believed (unsigned, badSignature, stale, invalid, replay).',
      labelNames: ['reason'],
      registers: [r],
      collect() {
        this.reset();
        for (const [k, v] of Object.entries(node.cluster.rejected)) this.inc({ reason: k }, v);
      },
    });
    gauge('switchboard_cluster_nodes', 'Nodes in the cluster registry that are not stale (this one included).', () => node.clusterInfo().filter((e) => !e.stale).length);
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
    new Gauge({
      name: 'switchboard_broker_info',
      help: 'Which broker this node uses (value always 1).',
      labelNames: ['broker'],
      registers: [r],
      collect() {
        this.reset();
        this.set({ broker: node.broker.name }, 1);
      },
    });
    registerConsumerMetrics(r, this.consumers);
    if (node.broker instanceof InstrumentedBroker) {
      r.registerMetric(node.broker.latency);
      r.registerMetric(node.broker.failures);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

interface Scan {
  connections: Map<string, number>;
  pending: number;
  subscriptions: Map<string, number>;
  queued: number;
  maxQueued: number;
}

function scanSessions(node: NodeCore): Scan {
  const connections = new Map<string, number>(TRANSPORT_KINDS.map((k) => [k, 0]));
  const subscriptions = new Map<string, number>([['default', 0], ...Object.keys(node.options.namespaces).map((k): [string, number] => [k, 0])]);
  let pending = 0;
  let queued = 0;
  let maxQueued = 0;
  for (const x of node.sessions) {
    if (x.state === SessionState.Connected) connections.set(x.transport.kind, (connections.get(x.transport.kind) ?? 0) + 1);
    else if (x.state !== SessionState.Closed) pending++;
    const q = x.queuedBytes;
    queued += q;
    if (q > maxQueued) maxQueued = q;
    for (const ch of x.subs?.keys() ?? []) {
      const i = ch.indexOf(':');
      const ns = i === -1 ? 'default' : ch.slice(0, i);
      // Channels of unknown namespaces are refused at subscribe, so this label set is the config's.
      subscriptions.set(ns, (subscriptions.get(ns) ?? 0) + 1);
    }
  }
  return { connections, pending, subscriptions, queued, maxQueued };
}

/** Creates the node's metrics and serves them at `GET /metrics` (Prometheus text format). */
export function installMetrics(node: NodeCore): Metrics {
  const metrics = new Metrics(node);
  node.route(async (req, res, url) => {
    if (url.pathname !== '/metrics' || req.method !== 'GET') return false;
    const body = await metrics.render();
    res.writeHead(200, { 'Content-Type': metrics.contentType });
    res.end(body);
    return true;
  });
  return metrics;
}
