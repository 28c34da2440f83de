/**
 * The system under test of the WebTransport benchmark, in its own process (pinned to CPU 0 by
 * bench/webtransport.ts when taskset exists):
 *
 *     node --import tsx bench/webtransport/server.ts
 *
 * A Switchboard node with WebSocket on an HTTP port and WebTransport on a UDP port, both on
 * loopback, and two namespaces: `bench` (reliable: the session stream, or the WebSocket) and
 * `lossy` (`datagrams: true`: datagrams on WebTransport, the WebSocket as usual). Prints
 * `listening HTTP_PORT UDP_PORT`, then serves until stdin closes or SIGTERM. Anonymous clients may
 * publish: the orchestrator's publisher is one WebSocket client.
 */
import { startNode } from '../../src/app/index.ts';

const open = { subscribe: 'anonymous', publish: 'anonymous' } as const;
const node = await startNode({
  port: 0,
  host: '127.0.0.1',
  allowAnonymous: true,
  // The flood is bounded by the publisher's window; the default per-connection rate limit
  // (200/s) would measure the limiter instead.
  rateLimit: 1_000_000,
  rateBurst: 1_000_000,
  maxInflight: 1024,
  namespaces: { bench: { ...open }, lossy: { ...open, datagrams: true, lossy: true } },
  webtransport: { port: 0, maxConnections: 10_000, maxHandshakesPerIp: 1000 },
});
if (!node.webtransport?.endpoint) {
  process.stderr.write(`WebTransport unavailable: ${node.webtransport?.reason ?? 'not configured'}\n`);
  process.exit(3);
}
process.stdout.write(`listening ${node.port} ${node.webtransport.port}\n`);
const stop = (): void => {
  void node.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
// `stats` on stdin: one `stats {json}` line with the endpoint's UDP packet counters.
const endpoint = node.webtransport.endpoint;
process.stdin.on('data', (d: Buffer) => {
  if (d.toString().includes('stats')) process.stdout.write(`stats ${JSON.stringify({ packetsIn: endpoint.packetsIn, packetsOut: endpoint.packetsOut })}\n`);
});
process.stdin.resume();
