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
import type { SubscriberTransport } from '../loadgen/http/subscriber.ts';
import { dialects } from '../loadgen/dialects/index.ts';
import { WorkerPool } from '../loadgen/pool.ts';
import { Publisher } from '../loadgen/publisher.ts';
import { ServerProcess } from '../servers/process.ts';
import { writeObserver } from '../write-stats.ts';
import { coreBusy, describeCpuUse, readCpuTimes, type CpuTimes } from '../sysstat.ts';
import { nowMicros } from '../loadgen/payload.ts';
import { CONTENDED_NOTE, emptyRow, type ResultRow, type ScenarioOutcome } from '../result.ts';

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
  /** Measure only latency (for profiling the fixed-load path). @default false */
  skipThroughput?: boolean;
  /** Subscriber worker processes. */
  workers: number;
  serverCpus?: string;
  cpuProfDir?: string;
  log: (line: string) => void;
}

const HOST = '127.0.0.1';
/** A drain is over when the count has not moved for this long. */
const DRAIN_IDLE_MS = 3000;
/** Share of the server's core taken by other processes above which a run counts as contended. */
const CONTENDED = 0.1;

/** How often workers report their delivery count (the publisher's flow control runs on it). */
const PROGRESS_MS = 10;

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

/** What the phases run against; exported for scenarios built from the same phases (crossnode.ts). */
export interface Phase {
  /** The server's CPU readings (several processes may be summed behind it). */
  server: Pick<ServerProcess, 'cpu'>;
  pool: WorkerPool;
  publisher: Publisher;
  o: FanoutOptions;
  notes: string[];
  /** Called right before the measured flood (not the warm-up) and after its drain. */
  floodObserver?: { before(): Promise<void>; after(published: number): Promise<void> };
}

/** Flood for `seconds`, drain, and return deliveries/s. */
export async function throughputPhase({ server, pool, publisher, o, notes, floodObserver }: Phase): Promise<number> {
  const flood = { window: o.window, deliveredPerSubscriber: (): number => pool.delivered / o.subscribers };
  if (o.warmupSeconds > 0) {
    pool.measure(false, PROGRESS_MS);
    const w = await publisher.flood({ ...flood, durationMs: o.warmupSeconds * 1000 });
    await drain(pool, w.published * o.subscribers);
    await pool.report();
  }
  await floodObserver?.before();
  const s0 = await sample(server);
  pool.measure(false, PROGRESS_MS);
  const st = await publisher.flood({ ...flood, durationMs: o.seconds * 1000 });
  await drain(pool, st.published * o.subscribers);
  const s1 = await sample(server);
  await floodObserver?.after(st.published);
  const tp = await pool.report();
  const expected = st.published * o.subscribers;
  const spanUs = tp.lastUs - st.startUs;
  notes.push(
    `throughput: ${st.published} publishes, ${tp.delivered}/${expected} deliveries in ${(spanUs / 1e6).toFixed(2)} s; ` +
      `server CPU ${cpuNote(s0, s1)}, loadgen workers CPU ${tp.cpu.map(pct).join(' + ')} (kernel share ${tp.sysShare.map(pct).join(', ')}); ` +
      `machine ${describeCpuUse(s0.sys, s1.sys)}`,
  );
  noteContention(s0, s1, o, notes);
  if (tp.cpu.some((c) => c > 0.9)) notes.push('warning: a load worker was > 90 % busy, the load generator may have limited throughput');
  if (tp.delivered < expected) notes.push(`warning: ${expected - tp.delivered} deliveries missing after the drain`);
  for (const p of [...st.problems, ...tp.problems]) notes.push(`problem: ${p}`);
  return spanUs > 0 ? Math.round(tp.delivered / (spanUs / 1e6)) : 0;
}

/** Publish at the fixed rate for `seconds`; return p50/p99 in ms. */
export async function latencyPhase({ server, pool, publisher, o, notes }: Phase): Promise<{ p50: number | null; p99: number | null }> {
  const s0 = await sample(server);
  pool.measure(true, PROGRESS_MS);
  const lt = await publisher.paced(o.rate, o.seconds * 1000);
  await drain(pool, lt.published * o.subscribers);
  const s1 = await sample(server);
  const lat = await pool.report();
  const q = (x: number): number | null => {
    const v = lat.latency.quantile(x);
    return v === null ? null : round(v / 1000, 3);
  };
  notes.push(
    `latency: ${o.rate} publishes/s × ${o.subscribers} = ${o.rate * o.subscribers} deliveries/s offered, ` +
      `${lat.latency.count} samples, p90 ${q(0.9) ?? '-'} ms, max ${q(1) ?? '-'} ms; ` +
      `server CPU ${cpuNote(s0, s1)}, loadgen workers CPU ${lat.cpu.map(pct).join(' + ')}; machine ${describeCpuUse(s0.sys, s1.sys)}`,
  );
  noteContention(s0, s1, o, notes);
  const expected = lt.published * o.subscribers;
  if (lat.delivered < expected) notes.push(`warning: ${expected - lat.delivered} latency-phase deliveries missing`);
  for (const p of [...lt.problems, ...lat.problems]) notes.push(`problem: ${p}`);
  if (lat.lost > 0) notes.push(`warning: ${lat.lost} subscriber connections lost`);
  return { p50: q(0.5), p99: q(0.99) };
}

/**
 * The measured part of a fan-out run: the throughput phase (unless `skipThroughput`), then the
 * latency phase, into `row`. `throughput` may wrap the throughput phase (e.g. to time the
 * orchestrator around it).
 */
export async function measurePhases(row: ResultRow, phase: Phase, label: string, throughput: (run: () => Promise<number>) => Promise<number> = (run) => run()): Promise<void> {
  if (!phase.o.skipThroughput) {
    row.deliveriesPerSec = await throughput(() => throughputPhase(phase));
    phase.o.log(`${label}: throughput ${row.deliveriesPerSec} deliveries/s`);
  }
  const { p50, p99 } = await latencyPhase(phase);
  row.p50Ms = p50;
  row.p99Ms = p99;
  phase.o.log(`${label}: latency p50 ${p50} ms p99 ${p99} ms`);
}

/** How another scenario runs the fan-out under its own name (fallback.ts). */
export interface FanoutAs {
  scenario: string;
  /** Row name. */
  label: string;
  /** The subscribers' transport (default WebSocket). */
  transport?: SubscriberTransport;
  /** Wraps the throughput phase (see measurePhases). */
  throughput?: (run: () => Promise<number>) => Promise<number>;
}

export async function runFanout(system: SystemName, o: FanoutOptions, as: FanoutAs = { scenario: 'fanout', label: system }): Promise<ScenarioOutcome> {
  const row = emptyRow(as.scenario, as.label);
  const notes: string[] = [];
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
    await pool.open({ system, ...(as.transport ? { transport: as.transport } : {}), role: 'subscriber', host: HOST, port: server.port, count: o.subscribers, concurrency: 50 });
    o.log(`${as.label}: ${o.subscribers} subscribers ready in ${Date.now() - t0} ms`);
    publisher = await Publisher.open(dialects[system], { host: HOST, port: server.port });
    const phase: Phase = { server, pool, publisher, o, notes };
    if (system === 'switchboard') phase.floodObserver = writeObserver([server.port], notes);
    await measurePhases(row, phase, as.label, as.throughput);
    return { row, notes };
  } catch (err) {
    return { row, notes, error: err instanceof Error ? err.message : String(err) };
  } finally {
    publisher?.close();
    await pool?.close();
    await server?.stop();
  }
}

/** CPU readings of the server process and of the machine, at one instant. */
interface CpuSample {
  server: { cpuUs: number; sysUs: number };
  sys: CpuTimes | null;
  us: number;
}

async function sample(server: Pick<ServerProcess, 'cpu'>): Promise<CpuSample> {
  return { server: await server.cpu(), sys: readCpuTimes(), us: nowMicros() };
}

function cpuNote(a: CpuSample, b: CpuSample): string {
  const used = b.server.cpuUs - a.server.cpuUs;
  return `${pct(used / Math.max(1, b.us - a.us))} (kernel share ${pct(used > 0 ? (b.server.sysUs - a.server.sysUs) / used : 0)})`;
}

/**
 * Share of the server's core used by something other than the server over a phase (tests or builds
 * elsewhere on a shared machine). Above {@link CONTENDED} the run is marked contended, and
 * `--repeat` prefers uncontended runs.
 */
function noteContention(a: CpuSample, b: CpuSample, o: FanoutOptions, notes: string[]): void {
  if (o.serverCpus === undefined || !/^\d+$/.test(o.serverCpus)) return;
  const busy = coreBusy(a.sys, b.sys, Number(o.serverCpus));
  if (busy === null) return;
  const foreign = busy - (b.server.cpuUs - a.server.cpuUs) / Math.max(1, b.us - a.us);
  if (foreign > CONTENDED) notes.push(`${CONTENDED_NOTE}: ${pct(foreign)} of the server's core went to other processes`);
}

function pct(x: number): string {
  return `${Math.round(x * 100)} %`;
}
