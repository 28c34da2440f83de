/**
 * The composition root: a `SwitchboardNode` is the server core (server/core.ts) with every outer
 * room wired in — the WebSocket, SSE and polling transports, the HTTP server API, /metrics, the
 * demo page and SDK, the admin page, the event consumers, and on demand the gRPC API and the
 * WebTransport listener. The CLI (cli/main.ts) and embedding (embed.ts) start nodes through here;
 * nothing under server/ imports this file (test/unit/layering.test.ts).
 */
import { installAdmin } from '../admin/admin.ts';
import type { GrpcServer } from '../api/grpc.ts';
import { installHttpApi } from '../api/http.ts';
import { resolveConsumers, startConsumers, type ConsumerOptions, type ConsumerSet } from '../ingest/index.ts';
import { instrument, InstrumentedBroker } from '../metrics/instrumented-broker.ts';
import { installMetrics, type Metrics } from '../metrics/metrics.ts';
import { NodeCore, type StartOptions } from '../server/core.ts';
import { resolveHttpTransportOptions } from '../transports/http/options.ts';
import { installPolling } from '../transports/poll/endpoint.ts';
import { installSse } from '../transports/sse/endpoint.ts';
import type { WebTransportServer } from '../transports/webtransport/server.ts';
import { installWebSocket } from '../transports/websocket/endpoint.ts';
import { installWeb } from '../web/index.ts';

export type { StartOptions, RouteHandler } from '../server/core.ts';

export class SwitchboardNode extends NodeCore {
  /** The node's Prometheus registry, served at `/metrics`. */
  readonly metrics: Metrics;
  /** The gRPC server API, when started (`grpcPort`, or `startGrpc`). */
  grpc: GrpcServer | null = null;
  /** The WebTransport listener, when the `webtransport` block turns it on (transports/webtransport). */
  webtransport: WebTransportServer | null = null;
  /** The `consumers` (src/ingest), validated at construction, running while the node listens. */
  private readonly consumerOptions: readonly ConsumerOptions[];
  private consumerSet: ConsumerSet | null = null;

  constructor(input: StartOptions = {}) {
    let consumers: ConsumerOptions[] = [];
    super(input, {
      // Publish/history latency histograms for /metrics.
      wrapBroker: instrument,
      unwrapBroker: (b) => (b instanceof InstrumentedBroker ? b.inner : b),
      checkOptions: (o) => {
        consumers = resolveConsumers(o.consumers);
      },
    });
    this.consumerOptions = consumers;
    // Routes are tried in this order, after /healthz, /readyz and session forwarding.
    this.metrics = installMetrics(this);
    installHttpApi(this);
    installWebSocket(this);
    const http = resolveHttpTransportOptions(this.options.httpTransports);
    installSse(this, http);
    installPolling(this, http);
    installWeb(this);
    installAdmin(this);
    this.service({
      // Consumers stop when the node drains, first: their sources hand what is left to other nodes.
      stop: async () => {
        await this.consumerSet?.close();
      },
      close: async () => {
        await Promise.all([this.grpc?.close(), this.webtransport?.close()]);
      },
    });
  }

  /**
   * Starts the node: the core (listens on `host:port` with its own server, heartbeat, cluster
   * registry), then the consumers, the gRPC API (`grpcPort`) and WebTransport (`webtransport`).
   */
  override async listen(): Promise<void> {
    await super.listen();
    if (this.consumerOptions.length > 0) this.consumerSet = startConsumers(this, this.consumerOptions);
    if (this.options.grpcPort > 0) {
      try {
        await this.startGrpc(this.options.grpcPort);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    if (Object.keys(this.options.webtransport).length > 0) {
      try {
        // Loaded only when configured: a node without it never loads the QUIC binding.
        this.webtransport = await (await import('../transports/webtransport/server.ts')).startWebTransport(this);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
  }

  /**
   * Starts the gRPC server API (gRPC, gRPC-Web, Connect) on `port` (0: a free one), closed with the
   * node. Loaded on first use, so a node without it never loads the Connect and protobuf modules.
   */
  async startGrpc(port: number): Promise<GrpcServer> {
    if (this.grpc) throw new Error(`the gRPC server API is already listening on ${this.grpc.address}`);
    const { startGrpcServer } = await import('../api/grpc.ts');
    this.grpc = await startGrpcServer(this, { port });
    return this.grpc;
  }

  /** Re-reads the `tls` certificate and key (SIGHUP in the CLI) for the node's server and the gRPC API. */
  override reloadTls(): void {
    super.reloadTls();
    this.grpc?.reloadTls();
  }
}

/** Creates a node and starts listening. */
export async function startNode(input: StartOptions = {}): Promise<SwitchboardNode> {
  const node = new SwitchboardNode(input);
  await node.listen();
  return node;
}
