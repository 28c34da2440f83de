/**
 * Fallback transports: the fan-out of fanout.ts (same phases, same publisher, same counting) with
 * the subscribers on each HTTP fallback: Switchboard over SSE and over long polling, socket.io over
 * engine.io long polling (never upgraded), and both over WebSocket for reference. Default 100
 * subscribers. The publisher is a WebSocket connection in every row: publishing is not what is
 * measured; the subscribers' transport is.
 *
 * Rows are named `<system>/<transport>`; the table's ratio for this scenario is against
 * `socketio/polling` ({@link FALLBACK_BASELINE}).
 */
import type { SystemName } from '../loadgen/dialect.ts';
import { dialects } from '../loadgen/dialects/index.ts';
import type { SubscriberTransport } from '../loadgen/http/subscriber.ts';
import { WorkerPool } from '../loadgen/pool.ts';
import { Publisher } from '../loadgen/publisher.ts';
import { ServerProcess } from '../servers/process.ts';
import { nowMicros } from '../loadgen/payload.ts';
import { emptyRow, type ScenarioOutcome } from '../result.ts';
import { latencyPhase, throughputPhase, type FanoutOptions, type Phase } from './fanout.ts';

export interface FallbackVariant {
  /** Row name, `<system>/<transport>`. */
  readonly label: string;
  readonly system: SystemName;
  readonly transport: SubscriberTransport;
}

/** Every row of the scenario, in table order. */
export const FALLBACK_VARIANTS: readonly FallbackVariant[] = [
  { label: 'switchboard/ws', system: 'switchboard', transport: 'websocket' },
  { label: 'switchboard/sse', system: 'switchboard', transport: 'sse' },
  { label: 'switchboard/poll', system: 'switchboard', transport: 'poll' },
  { label: 'socketio/polling', system: 'socketio', transport: 'poll' },
  { label: 'socketio/ws', system: 'socketio', transport: 'websocket' },
];

/** The row the other rows' ratios are taken against. */
export const FALLBACK_BASELINE = 'socketio/polling';

/** The variants whose server is one of `systems` (the CLI's `--systems`). */
export function fallbackVariants(systems: readonly SystemName[]): FallbackVariant[] {
  return FALLBACK_VARIANTS.filter((v) => systems.includes(v.system));
}

const HOST = '127.0.0.1';

export async function runFallback(variant: FallbackVariant, o: FanoutOptions): Promise<ScenarioOutcome> {
  const { label, system, transport } = variant;
  const row = emptyRow('fallback', label);
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
    await pool.open({ system, transport, role: 'subscriber', host: HOST, port: server.port, count: o.subscribers, concurrency: 50 });
    o.log(`${label}: ${o.subscribers} subscribers ready in ${Date.now() - t0} ms`);
    publisher = await Publisher.open(dialects[system], { host: HOST, port: server.port });
    const phase: Phase = { server, pool, publisher, o, notes };
    if (!o.skipThroughput) {
      // At 100 subscribers the single publisher must send 1 % of the deliveries/s as publishes,
      // ten times the share at fanout's 1,000: show whether this process (publisher, progress IPC)
      // could have been the limit.
      const cpu0 = process.cpuUsage();
      const us0 = nowMicros();
      row.deliveriesPerSec = await throughputPhase(phase);
      const cpu = process.cpuUsage(cpu0);
      const busy = (cpu.user + cpu.system) / Math.max(1, nowMicros() - us0);
      notes.push(`throughput: orchestrator (publisher) CPU ${Math.round(busy * 100)} % over warm-up, flood and drains`);
      if (busy > 0.9) notes.push('warning: the publisher process was > 90 % busy, it may have limited throughput');
      o.log(`${label}: throughput ${row.deliveriesPerSec} deliveries/s`);
    }
    const { p50, p99 } = await latencyPhase(phase);
    row.p50Ms = p50;
    row.p99Ms = p99;
    o.log(`${label}: latency p50 ${p50} ms p99 ${p99} ms`);
    return { row, notes };
  } catch (err) {
    return { row, notes, error: err instanceof Error ? err.message : String(err) };
  } finally {
    publisher?.close();
    await pool?.close();
    await server?.stop();
  }
}
