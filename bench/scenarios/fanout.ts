/**
 * Fan-out: one publisher, N subscribers of one channel/room, 100-byte messages.
 *
 * 1. warm-up flood (JIT, buffers), drained and discarded;
 * 2. throughput: flood for `seconds`, then wait until every delivery arrived; deliveries/s =
 *    deliveries / (last delivery − first publish), so a backlog that drains late counts against
 *    the system;
 * 3. latency: publish at a fixed rate (default 100/s, i.e. 100 K deliveries/s at 1,000
 *    subscribers) for `seconds`; every subscriber computes publish→deliver latency from the send
 *    time in the payload.
 */
import type { SystemName } from '../loadgen/dialect.ts';
import { dialects } from '../loadgen/dialects/index.ts';
import { WorkerPool } from '../loadgen/pool.ts';
import { Publisher } from '../loadgen/publisher.ts';
import { ServerProcess } from '../servers/process.ts';
import { emptyRow, type ScenarioOutcome } from '../result.ts';

export interface FanoutOptions {
  subscribers: number;
  /** Length of the throughput and of the latency phase, seconds. */
  seconds: number;
  /** Warm-up flood before measuring, seconds (0 skips it). */
  warmupSeconds: number;
  /** Publishes per second in the latency phase. */
  rate: number;
  /** Unacknowledged publishes in flight during the flood. */
  window: number;
  /** Subscriber worker processes. */
  workers: number;
  serverCpus?: string;
  cpuProfDir?: string;
  log: (line: string) => void;
}

const HOST = '127.0.0.1';
/** A drain is over when the count has not moved for this long. */
const DRAIN_IDLE_MS = 3000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function drain(pool: WorkerPool, expected: number): Promise<void> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const now = pool.delivered;
    if (now >= expected) return;
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since > DRAIN_IDLE_MS) return;
    await sleep(20);
  }
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

export async function runFanout(system: SystemName, o: FanoutOptions): Promise<ScenarioOutcome> {
  const row = emptyRow('fanout', system);
  const notes: string[] = [];
  const dialect = dialects[system];
  let server: ServerProcess | undefined;
  let pool: WorkerPool | undefined;
  let publisher: Publisher | undefined;
  try {
    server = await ServerProcess.start(system, {
      ...(o.serverCpus ? { cpus: o.serverCpus } : {}),
      ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
    });
    pool = WorkerPool.start(o.workers);
    const t0 = Date.now();
    await pool.open({ system, role: 'subscriber', host: HOST, port: server.port, count: o.subscribers, concurrency: 50 });
    o.log(`${system}: ${o.subscribers} subscribers ready in ${Date.now() - t0} ms`);
    publisher = await Publisher.open(dialect, { host: HOST, port: server.port });
    const perSub = (): number => pool!.delivered / o.subscribers;
    const flood = { window: o.window, deliveredPerSubscriber: perSub };

    if (o.warmupSeconds > 0) {
      pool.measure(false);
      const w = await publisher.flood({ ...flood, durationMs: o.warmupSeconds * 1000 });
      await drain(pool, w.published * o.subscribers);
      await pool.report();
    }

    const cpu0 = await server.cpuMicros();
    pool.measure(false);
    const st = await publisher.flood({ ...flood, durationMs: o.seconds * 1000 });
    await drain(pool, st.published * o.subscribers);
    const cpu1 = await server.cpuMicros();
    const tp = await pool.report();
    const expected = st.published * o.subscribers;
    const spanUs = tp.lastUs - st.startUs;
    row.deliveriesPerSec = spanUs > 0 ? Math.round(tp.delivered / (spanUs / 1e6)) : 0;
    notes.push(
      `throughput: ${st.published} publishes, ${tp.delivered}/${expected} deliveries in ${(spanUs / 1e6).toFixed(2)} s; ` +
        `server CPU ${pct((cpu1 - cpu0) / spanUs)}, loadgen workers CPU ${tp.cpu.map(pct).join(' + ')}`,
    );
    if (tp.cpu.some((c) => c > 0.9)) notes.push('warning: a load worker was > 90 % busy, the load generator may have limited throughput');
    if (tp.delivered < expected) notes.push(`warning: ${expected - tp.delivered} deliveries missing after the drain`);
    for (const p of [...st.problems, ...tp.problems]) notes.push(`problem: ${p}`);
    o.log(`${system}: throughput ${row.deliveriesPerSec} deliveries/s`);

    pool.measure(true);
    const lt = await publisher.paced(o.rate, o.seconds * 1000);
    await drain(pool, lt.published * o.subscribers);
    const lat = await pool.report();
    const p50 = lat.latency.quantile(0.5);
    const p99 = lat.latency.quantile(0.99);
    row.p50Ms = p50 === null ? null : round(p50 / 1000, 3);
    row.p99Ms = p99 === null ? null : round(p99 / 1000, 3);
    const max = lat.latency.quantile(1);
    notes.push(
      `latency: ${o.rate} publishes/s × ${o.subscribers} = ${o.rate * o.subscribers} deliveries/s offered, ` +
        `${lat.latency.count} samples, max ${max === null ? '-' : (max / 1000).toFixed(1)} ms`,
    );
    if (lat.delivered < lt.published * o.subscribers) notes.push(`warning: ${lt.published * o.subscribers - lat.delivered} latency-phase deliveries missing`);
    for (const p of [...lt.problems, ...lat.problems]) notes.push(`problem: ${p}`);
    if (lat.lost > 0) notes.push(`warning: ${lat.lost} subscriber connections lost`);
    o.log(`${system}: latency p50 ${row.p50Ms} ms p99 ${row.p99Ms} ms`);
    return { row, notes };
  } catch (err) {
    return { row, notes, error: err instanceof Error ? err.message : String(err) };
  } finally {
    publisher?.close();
    await pool?.close();
    await server?.stop();
  }
}

function pct(x: number): string {
  return `${Math.round(x * 100)} %`;
}
