/**
 * Switchboard under test: one node, memory broker, a `bench` namespace open to anonymous clients.
 *
 * Departures from the defaults, and why:
 * - `rateLimit`/`rateBurst`: the default 200 commands/s per connection would throttle the single
 *   publisher long before the fan-out path is measured (socket.io and ws have no such limit).
 * - `maxQueueBytes` 64 MiB: the throughput run must not end in slow-consumer disconnects while the
 *   load generator catches up; the other systems queue without bound.
 * - `pingInterval` 1 h: heartbeats are not what is measured (the loadgen answers them anyway).
 *
 * With `BENCH_NATS_URL` set (the crossnode scenario's NATS row) it uses the NATS broker the same
 * way, with the prefix `BENCH_NATS_PREFIX`.
 * With `BENCH_REDIS_URL` set (the crossnode scenario) the node uses the Redis broker instead, as
 * `{"broker": {"type": "redis", "url": …}}` would, with the key prefix `BENCH_REDIS_PREFIX` (so a
 * run never meets an earlier run's streams) and a 10-minute stream TTL (so its keys go away),
 * and with `rebalance` off: the scenario connects node A's subscribers before node B's, so for a
 * moment A holds every connection and would ask 10 % of them to reconnect elsewhere — which the
 * load generator does not do (socket.io has no such feature to turn off).
 */
import { createBroker } from '../../src/broker/factory.ts';
import { startNode } from '../../src/app/index.ts';
import { serve } from './child.ts';

const redisUrl = process.env.BENCH_REDIS_URL;
const natsUrl = process.env.BENCH_NATS_URL;

await serve('switchboard', async () => {
  const broker = redisUrl
    ? createBroker({ type: 'redis', url: redisUrl, prefix: process.env.BENCH_REDIS_PREFIX ?? 'sbbench', streamTtl: 600 })
    : natsUrl
      ? createBroker({ type: 'nats', url: natsUrl, prefix: process.env.BENCH_NATS_PREFIX ?? 'sbbench', streamTtl: 600 })
      : undefined;
  const node = await startNode({
    // A network broker is shared by the bench's nodes: they sign what they tell each other with
    // a cluster secret (docs/brokers.md, "Cluster trust"), as a real deployment must.
    ...(broker ? { broker, rebalance: false, clusterSecret: 'bench-cluster-secret-0123456789' } : {}),
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    namespaces: { bench: { subscribe: 'anonymous', publish: 'anonymous' } },
    maxQueueBytes: 64 << 20,
    rateLimit: 1_000_000,
    rateBurst: 1_000_000,
    pingInterval: 3600,
    // The publisher pipelines up to 256 publishes (--window) at up to millions per second; like
    // the rate limit above, the per-connection in-flight cap (default 64, a guard against
    // untrusted clients) is raised for it. It matters only with a remote broker: on the memory
    // broker a publish completes synchronously, while over Redis the cap bounds how many publishes
    // share one pipelined round trip, and so how many publications reach the nodes per read and
    // share one write per subscriber socket (docs/benchmarks.md, cross-node).
    maxInflight: 1024,
  });
  return {
    port: node.port,
    close: async () => {
      await node.close();
      await broker?.close();
    },
  };
});
