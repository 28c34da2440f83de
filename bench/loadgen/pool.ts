/**
 * Orchestrator side of the subscriber workers: forks them, splits connections between them, and
 * merges their reports.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Role, SystemName } from './dialect.ts';
import type { SubscriberTransport } from './http/subscriber.ts';
import { Histogram } from './histogram.ts';
import type { FromWorker, ToWorker, WorkerReport } from './messages.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export interface OpenOptions {
  system: SystemName;
  role: Extract<Role, 'subscriber' | 'idle'>;
  host: string;
  port: number;
  /** Total connections, split evenly over the workers. */
  count: number;
  /** Source address per worker (index i uses localAddresses[i % length]). */
  localAddresses?: string[];
  /** Handshakes in flight per worker. @default 64 */
  concurrency?: number;
  /** How the connections reach the server. @default 'websocket' */
  transport?: SubscriberTransport;
}

export interface MergedReport {
  delivered: number;
  firstUs: number;
  lastUs: number;
  latency: Histogram;
  lost: number;
  problems: string[];
  /** Per-worker CPU utilisation over the measurement, 0..1 each. */
  cpu: number[];
  /** Per-worker share of that CPU time spent in the kernel, 0..1 each. */
  sysShare: number[];
}

class WorkerHandle {
  delivered = 0;
  private waiting: Array<{ type: FromWorker['type']; resolve: (m: FromWorker) => void }> = [];
  private exitError: Error | null = null;

  constructor(readonly child: ChildProcess) {
    child.on('message', (msg: FromWorker) => {
      if (msg.type === 'progress') this.delivered = msg.delivered;
      const i = this.waiting.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(msg);
    });
    child.on('exit', (code, signal) => {
      this.exitError = new Error(`load worker ${child.pid} exited (${signal ?? code})`);
      for (const w of this.waiting.splice(0)) w.resolve({ type: 'opened', opened: 0, error: this.exitError.message });
    });
  }

  send(msg: ToWorker): void {
    if (this.exitError) throw this.exitError;
    this.child.send(msg);
  }

  next<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.exitError) return reject(this.exitError);
      this.waiting.push({
        type,
        resolve: (m) => (m.type === type ? resolve(m as Extract<FromWorker, { type: T }>) : reject(new Error((m as { error?: string }).error ?? 'worker failed'))),
      });
    });
  }
}

export class WorkerPool {
  private constructor(private readonly workers: WorkerHandle[]) {}

  /** Forks `n` workers (they inherit this process's CPU affinity). */
  static start(n: number): WorkerPool {
    const workers = Array.from({ length: n }, () => {
      // BENCH_PROFILE_WORKERS=DIR profiles the load generator itself (is it the bottleneck?).
      const prof = process.env.BENCH_PROFILE_WORKERS;
      const execArgv = ['--import', 'tsx', ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [])];
      const child = fork(WORKER, [], { execArgv, stdio: ['ignore', 2, 2, 'ipc'] });
      return new WorkerHandle(child);
    });
    return new WorkerPool(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Opens the connections; rejects with the first worker's error if any handshake failed. */
  async open(o: OpenOptions): Promise<number> {
    const n = this.workers.length;
    const replies = await Promise.all(
      this.workers.map((w, i) => {
        const count = Math.floor(o.count / n) + (i < o.count % n ? 1 : 0);
        const reply = w.next('opened');
        const localAddress = o.localAddresses?.[i % o.localAddresses.length];
        w.send({
          type: 'open',
          system: o.system,
          role: o.role,
          host: o.host,
          port: o.port,
          count,
          concurrency: o.concurrency ?? 64,
          ...(localAddress ? { localAddress } : {}),
          ...(o.transport ? { transport: o.transport } : {}),
        });
        return reply;
      }),
    );
    const failed = replies.find((r) => r.error !== undefined);
    const opened = replies.reduce((s, r) => s + r.opened, 0);
    if (failed) throw new Error(`opened ${opened}/${o.count} ${o.system} connections: ${failed.error}`);
    return opened;
  }

  measure(latency: boolean, progressMs = 20): void {
    for (const w of this.workers) {
      w.delivered = 0;
      w.send({ type: 'measure', latency, progressMs });
    }
  }

  /** Deliveries counted so far in this measurement (as of the last progress messages). */
  get delivered(): number {
    let s = 0;
    for (const w of this.workers) s += w.delivered;
    return s;
  }

  async report(): Promise<MergedReport> {
    const reports: WorkerReport[] = await Promise.all(
      this.workers.map((w) => {
        const r = w.next('report');
        w.send({ type: 'report' });
        return r;
      }),
    );
    const latency = new Histogram();
    for (const r of reports) latency.addPairs(r.latency);
    const firsts = reports.map((r) => r.firstUs).filter((t) => t > 0);
    return {
      delivered: reports.reduce((s, r) => s + r.delivered, 0),
      firstUs: firsts.length ? Math.min(...firsts) : 0,
      lastUs: Math.max(0, ...reports.map((r) => r.lastUs)),
      latency,
      lost: reports.reduce((s, r) => s + r.lost, 0),
      problems: reports.flatMap((r) => r.problems),
      cpu: reports.map((r) => (r.wallUs > 0 ? r.cpuUs / r.wallUs : 0)),
      sysShare: reports.map((r) => (r.cpuUs > 0 ? r.sysUs / r.cpuUs : 0)),
    };
  }

  /** Closes every connection and ends the workers; idempotent. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            const t = setTimeout(() => {
              w.child.kill('SIGKILL');
            }, 3000);
            w.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            try {
              w.send({ type: 'close' });
            } catch {
              w.child.kill('SIGKILL');
            }
          }),
      ),
    );
  }
}
