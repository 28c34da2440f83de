/**
 * Broker publish rate: how many publishes a second one node gets acknowledged on one hot channel,
 * with a window of publishes in flight (as a pipelining client or many clients of one node would
 * keep), on each broker. It measures the broker path alone (no sockets, no fan-out): what caps a
 * single channel's publication rate from one node.
 *
 *   npx tsx bench/publish-rate.ts [--redis redis://127.0.0.1:6379] [--nats nats://127.0.0.1:4222]
 *                                 [--count 50000] [--window 256] [--brokers memory,redis,redis-unbatched,nats,nats-unbatched]
 *
 * Rows: `memory`; `redis` (publishes batched per channel and turn, the default); `redis-unbatched`
 * (`publishBatch: 1`, one script call and one pub/sub message per publication, as before
 * batching); `nats` (batched: one JetStream message per batch); `nats-unbatched` (`publishBatch:
 * 1`: a node's publishes to one channel are serialized, each waiting for the previous one's
 * stream sequence, so one round trip per publication — it gets a tenth of the count, which would
 * otherwise take minutes). History is on (100 kept), like a chat namespace. Each run uses its own
 * key prefix / stream and removes it afterwards.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { Broker, BrokerHandler } from '../src/broker/broker.ts';
import { MemoryBroker } from '../src/broker/memory.ts';
import { NatsBroker } from '../src/broker/nats.ts';
import { RedisBroker } from '../src/broker/redis.ts';
import { randomId } from '../src/broker/broker.ts';

const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
    count: { type: 'string', default: '50000' },
    window: { type: 'string', default: '256' },
    brokers: { type: 'string', default: 'memory,redis,redis-unbatched,nats,nats-unbatched' },
  },
});
const COUNT = Number(values.count);
const WINDOW = Number(values.window);
const opts = { historySize: 100, historyTtlMs: 60_000 };
const payload = { text: 'x'.repeat(80) };
const ignore: BrokerHandler = { onPublication() {}, onJoin() {}, onLeave() {}, onStreamReset() {} };

interface Row {
  broker: string;
  publishes: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** `count` publishes to one channel, `window` in flight; rate and per-publish latency (publish call → resolved). */
async function measure(name: string, b: Broker, count: number): Promise<Row> {
  b.setHandler(ignore);
  const ch = `rate-${randomId(4)}`;
  await b.publish(ch, 0, opts); // creates the stream, loads scripts
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (next < count) {
        next++;
        const s = performance.now();
        await b.publish(ch, payload, opts);
        lat.push(performance.now() - s);
      }
    }),
  );
  const ms = performance.now() - t0;
  lat.sort((x, y) => x - y);
  const q = (f: number) => Number(lat[Math.min(lat.length - 1, Math.floor(lat.length * f))]!.toFixed(2));
  return { broker: name, publishes: count, perSec: Math.round((count / ms) * 1000), p50Ms: q(0.5), p99Ms: q(0.99) };
}

const rows: Row[] = [];
for (const name of values.brokers.split(',').map((s) => s.trim())) {
  const prefix = `sbrate${randomId(3)}`;
  if (name === 'memory') {
    const b = new MemoryBroker();
    rows.push(await measure(name, b, COUNT));
    await b.close();
  } else if (name === 'redis' || name === 'redis-unbatched') {
    const b = new RedisBroker({ url: values.redis, prefix, ...(name === 'redis-unbatched' ? { publishBatch: 1 } : {}) });
    try {
      rows.push(await measure(name, b, COUNT));
    } finally {
      await b.close();
      const r = new Redis(values.redis);
      const keys = await r.keys(`${prefix}:*`);
      if (keys.length > 0) await r.del(...keys);
      r.disconnect();
    }
  } else if (name === 'nats' || name === 'nats-unbatched') {
    const unbatched = name === 'nats-unbatched';
    const b = new NatsBroker({ servers: [values.nats], prefix, ...(unbatched ? { publishBatch: 1 } : {}) });
    try {
      rows.push(await measure(name, b, unbatched ? Math.max(1, Math.round(COUNT / 10)) : COUNT));
    } finally {
      await b.close();
      const { connect } = await import('nats');
      const nc = await connect({ servers: values.nats });
      const jsm = await nc.jetstreamManager();
      for (const s of [`${prefix}_history`, `KV_${prefix}_presence`]) await jsm.streams.delete(s).catch(() => false);
      await nc.close();
    }
  } else throw new Error(`unknown broker ${name} (memory, redis, redis-unbatched, nats, nats-unbatched)`);
}

console.log(`publishes to one channel from one node, ${WINDOW} in flight, 100-byte payloads, history on`);
console.log('| broker | publishes | publishes/s | p50 ms | p99 ms |');
console.log('|---|--:|--:|--:|--:|');
for (const r of rows) console.log(`| ${r.broker} | ${r.publishes.toLocaleString('en')} | ${r.perSec.toLocaleString('en')} | ${r.p50Ms} | ${r.p99Ms} |`);
