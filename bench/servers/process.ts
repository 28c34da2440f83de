/**
 * Orchestrator side of a server child: spawns `bench/servers/<system>.ts` under tsx with
 * `--expose-gc` (optionally pinned to a CPU and profiled), waits for its port, and wraps the IPC
 * requests. The child's stdout goes to our stderr so `--json` output stays one clean document.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { SystemName } from '../loadgen/dialect.ts';
import type { ServerReply, ServerRequest } from './messages.ts';

export interface ServerProcessOptions {
  /** CPU list for `taskset -c` (e.g. "0"); unpinned when absent. */
  cpus?: string;
  /** Write V8 CPU profiles of the server into `<cpuProfDir>/<system>/` (`node --cpu-prof`). */
  cpuProfDir?: string;
  /** Milliseconds to wait for the port. @default 30000 */
  startTimeoutMs?: number;
  /** Extra environment for the child (e.g. `BENCH_REDIS_URL`), on top of this process's. @default {} */
  env?: Record<string, string>;
}

export interface MemoryReading {
  rss: number;
  heapUsed: number;
  external: number;
}

export class ServerProcess {
  private waiting: Array<{ type: ServerReply['type']; resolve: (m: ServerReply) => void; reject: (e: Error) => void }> = [];
  private exited: Error | null = null;

  private constructor(
    readonly system: SystemName,
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(system: SystemName, o: ServerProcessOptions = {}): Promise<ServerProcess> {
    const entry = fileURLToPath(new URL(`./${system}.ts`, import.meta.url));
    const nodeArgs = ['--import', 'tsx', '--expose-gc'];
    // One directory per system; V8 names files CPU.<date>.<pid>.<thread>.<seq>.cpuprofile, and the
    // main thread is thread 0 (tsx's loader thread writes a second, uninteresting profile).
    if (o.cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', join(o.cpuProfDir, system));
    nodeArgs.push(entry);
    const [cmd, args] = o.cpus ? ['taskset', ['-c', o.cpus, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
    const child = spawn(cmd, args, { stdio: ['ignore', 2, 2, 'ipc'], ...(o.env ? { env: { ...process.env, ...o.env } } : {}) });
    const ready = await new Promise<ServerReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${system} server did not report a port within ${o.startTimeoutMs ?? 30_000} ms`));
      }, o.startTimeoutMs ?? 30_000);
      child.once('message', (m: ServerReply) => {
        clearTimeout(timer);
        resolve(m);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${system} server exited before it was ready (${signal ?? `code ${code}`})`));
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    if (ready.type !== 'ready') {
      child.kill('SIGKILL');
      throw new Error(`${system} server failed to start: ${ready.type === 'failed' ? ready.error : ready.type}`);
    }
    const sp = new ServerProcess(system, child, ready.port);
    child.on('message', (m: ServerReply) => sp.onReply(m));
    child.on('exit', (code, signal) => {
      sp.exited = new Error(`${system} server exited (${signal ?? `code ${code}`})`);
      for (const w of sp.waiting.splice(0)) w.reject(sp.exited);
    });
    return sp;
  }

  get alive(): boolean {
    return this.exited === null;
  }

  private onReply(m: ServerReply): void {
    const i = this.waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
  }

  private request<T extends ServerReply['type']>(req: ServerRequest, type: T): Promise<Extract<ServerReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(this.exited);
      this.waiting.push({ type, resolve: (m) => resolve(m as Extract<ServerReply, { type: T }>), reject });
      this.child.send(req);
    });
  }

  /** Memory after forced GC in the child. */
  async memory(): Promise<MemoryReading> {
    const { rss, heapUsed, external } = await this.request({ type: 'memory' }, 'memory');
    return { rss, heapUsed, external };
  }

  /** CPU time used by the server process so far (total and kernel part), µs. */
  async cpu(): Promise<{ cpuUs: number; sysUs: number }> {
    const { cpuUs, sysUs } = await this.request({ type: 'cpu' }, 'cpu');
    return { cpuUs, sysUs };
  }

  /** Asks the child to close and waits for it to exit (SIGKILL after 10 s); idempotent. */
  stop(): Promise<void> {
    if (this.exited || this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      try {
        this.child.send({ type: 'stop' } satisfies ServerRequest);
      } catch {
        this.child.kill('SIGKILL');
      }
    });
  }
}
