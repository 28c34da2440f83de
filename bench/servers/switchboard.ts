/**
 * Switchboard under test: one node, memory broker, a `bench` namespace open to anonymous clients.
 *
 * Departures from the defaults, and why:
 * - `rateLimit`/`rateBurst`: the default 200 commands/s per connection would throttle the single
 *   publisher long before the fan-out path is measured (socket.io and ws have no such limit).
 * - `maxQueueBytes` 64 MiB: the throughput run must not end in slow-consumer disconnects while the
 *   load generator catches up; the other systems queue without bound.
 * - `pingInterval` 1 h: heartbeats are not what is measured (the loadgen answers them anyway).
 */
import { startNode } from '../../src/server/index.ts';
import { serve } from './child.ts';

await serve('switchboard', async () => {
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    namespaces: { bench: { subscribe: 'anonymous', publish: 'anonymous' } },
    maxQueueBytes: 64 << 20,
    rateLimit: 1_000_000,
    rateBurst: 1_000_000,
    pingInterval: 3600,
  });
  return { port: node.port, close: () => node.close() };
});
