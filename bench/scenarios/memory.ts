/**
 * Idle memory: server RSS per idle connection. Baseline RSS after forced GC, then `connections`
 * clients that completed their system's handshake (Switchboard `connect`, socket.io `40`, ws open),
 * a settle pause, RSS after forced GC again: (after − before) / connections.
 *
 * Connections are spread over several worker processes (fd limit per process) and loopback source
 * addresses 127.0.0.2… (each source address has its own ~28 K ephemeral ports).
 */
import type { SystemName } from '../loadgen/dialect.ts';
import { WorkerPool } from '../loadgen/pool.ts';
import { ServerProcess } from '../servers/process.ts';
import { emptyRow, type ScenarioOutcome } from '../result.ts';

export interface MemoryOptions {
  connections: number;
  /** Connections per worker process. @default 2500 */
  perWorker?: number;
  serverCpus?: string;
  log: (line: string) => void;
}

const HOST = '127.0.0.1';
const SETTLE_MS = 2000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runMemory(system: SystemName, o: MemoryOptions): Promise<ScenarioOutcome> {
  const row = emptyRow('memory', system);
  const notes: string[] = [];
  let server: ServerProcess | undefined;
  let pool: WorkerPool | undefined;
  try {
    server = await ServerProcess.start(system, o.serverCpus ? { cpus: o.serverCpus } : {});
    await sleep(500);
    const before = await server.memory();
    const workers = Math.max(1, Math.ceil(o.connections / (o.perWorker ?? 2500)));
    pool = WorkerPool.start(workers);
    const localAddresses = Array.from({ length: workers }, (_, i) => `127.0.0.${2 + i}`);
    const t0 = Date.now();
    const opened = await pool.open({ system, role: 'idle', host: HOST, port: server.port, count: o.connections, localAddresses, concurrency: 100 });
    o.log(`${system}: ${opened} idle connections in ${Date.now() - t0} ms`);
    await sleep(SETTLE_MS);
    const after = await server.memory();
    const kib = (after.rss - before.rss) / opened / 1024;
    row.kibPerConnection = Number(kib.toFixed(2));
    notes.push(
      `memory: RSS ${mib(before.rss)} → ${mib(after.rss)} MiB, heap used ${mib(before.heapUsed)} → ${mib(after.heapUsed)} MiB ` +
        `(${((after.heapUsed - before.heapUsed) / opened / 1024).toFixed(2)} KiB/conn of JS heap), ${workers} client processes`,
    );
    const rep = await pool.report();
    if (rep.lost > 0) notes.push(`warning: ${rep.lost} idle connections were lost`);
    for (const p of rep.problems) notes.push(`problem: ${p}`);
    o.log(`${system}: ${row.kibPerConnection} KiB per idle connection`);
    return { row, notes };
  } catch (err) {
    return { row, notes, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await pool?.close();
    await server?.stop();
  }
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
