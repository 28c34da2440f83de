/**
 * SFU forwarding benchmark (issue 12): one synthetic publisher → K consumers through the system
 * under test, every peer a real werift WebRTC stack (ICE, DTLS-SRTP, RTCP) in its own process.
 *
 *     npx tsx bench/sfu.ts [--consumers 100] [--procs 4] [--seconds 10] [--warmup 3]
 *                          [--rate 100] [--size 1100] [--systems switchboard,switchboard-js,werift-naive] [--json]
 *     npm run bench -- sfu [same flags]
 *
 * The server (bench/sfu/server.ts) runs pinned to CPU 0 when taskset exists; the publisher and the
 * consumer processes share the other CPUs. Measured over the window after warm-up:
 * - forwarded: packets the consumers received (losses are not counted as forwarded);
 * - cpuUsPerPacket: the server process's CPU time (user + system, process.cpuUsage) / forwarded —
 *   decryption of the publisher's stream, forwarding, encryption, RTCP and the send syscalls;
 * - forwardedPerCoreSec = forwarded / server CPU seconds; consumersPerCore = that / rate;
 * - p50Ms / p99Ms: publisher stamp → consumer receipt (one monotonic clock, bench/sfu/peer.ts);
 * - loopLagP99Ms: event-loop delay p99 of the server's main loop (the messaging loop);
 * - kibPerConsumer: server RSS growth from before the first consumer to after the last / K.
 *
 * Profile the server: SFU_BENCH_CPU_PROF=/tmp/prof npx tsx bench/sfu.ts … writes a .cpuprofile.
 *
 * Pitfalls: on a 2-core machine the werift consumers (15–30 µs of werift SRTP per packet each)
 * are the first thing to saturate; if `lossPct` is not ~0 the consumers, not the server, were the
 * limit, and the CPU per packet is still right but the latency includes their queueing.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import type { ResultRow } from './result.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** A bench row plus the SFU figures the issue asks for. */
export type SfuRow = ResultRow & {
  forwardedPerCoreSec: number | null;
  cpuUsPerPacket: number | null;
  consumersPerCore: number | null;
  loopLagP99Ms: number | null;
  kibPerConsumer: number | null;
  consumers: number;
  lossPct: number | null;
  error?: string;
};

interface Options {
  consumers: number;
  procs: number;
  seconds: number;
  warmup: number;
  rate: number;
  size: number;
  systems: string[];
  json: boolean;
}

function parse(argv: string[]): Options {
  const o: Options = { consumers: 100, procs: 4, seconds: 10, warmup: 3, rate: 100, size: 1100, systems: ['switchboard', 'switchboard-js', 'werift-naive'], json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number, got ${JSON.stringify(argv[i])}`);
      return v;
    };
    if (a === '--consumers') o.consumers = num();
    else if (a === '--procs') o.procs = num();
    else if (a === '--seconds') o.seconds = num();
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--rate') o.rate = num();
    else if (a === '--size') o.size = num();
    else if (a === '--systems') o.systems = String(argv[++i]).split(',');
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown option ${a} (see bench/sfu.ts)`);
  }
  return o;
}

const log = (line: string): void => void process.stderr.write(`[bench sfu] ${line}\n`);

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Spawns a bench/sfu/*.ts child with tsx, pinned to `cpus` when given. */
function child(script: string, args: string[], cpus: string | undefined, ipc = false, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const prof = script === 'server.ts' && process.env.SFU_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.SFU_BENCH_CPU_PROF] : [];
  const node = [process.execPath, ...prof, '--import', 'tsx', join(here, 'sfu', script), ...args];
  const [cmd, ...rest] = cpus ? ['taskset', '-c', cpus, ...node] : node;
  return spawn(cmd!, rest, { env, stdio: ipc ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'] });
}

/** Resolves with the first stdout line matching `re`, or rejects when the child exits first. */
function line(p: ChildProcess, re: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms`)), ms);
    p.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = re.exec(buf);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    p.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`exited with ${code} before ${re}`));
    });
  });
}

function message<T>(p: ChildProcess, type: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${type}" message within ${ms} ms`)), ms);
    const on = (m: { type?: string }): void => {
      if (m.type !== type) return;
      clearTimeout(t);
      p.off('message', on);
      resolve(m as T);
    };
    p.on('message', on);
    p.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`consumer process exited with ${code}`));
    });
  });
}

interface Stats {
  cpuUs: number;
  rss: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  consumers: number;
  mediaPath: string;
}

async function stats(base: string, reset = false): Promise<Stats> {
  const res = await fetch(`${base}/stats`, { method: 'POST', body: JSON.stringify({ reset }) });
  return (await res.json()) as Stats;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runSystem(system: string, o: Options, pin: boolean): Promise<SfuRow> {
  const row: SfuRow = {
    scenario: 'sfu',
    system,
    deliveriesPerSec: null,
    p50Ms: null,
    p99Ms: null,
    kibPerConnection: null,
    forwardedPerCoreSec: null,
    cpuUsPerPacket: null,
    consumersPerCore: null,
    loopLagP99Ms: null,
    kibPerConsumer: null,
    consumers: o.consumers,
    lossPct: null,
  };
  const procs: ChildProcess[] = [];
  const n = availableParallelism();
  const loadCpus = pin && n > 1 ? `1-${n - 1}` : undefined;
  try {
    // switchboard-js: our SFU with the native helper switched off (SWITCHBOARD_SFU_NATIVE=0).
    const js = system === 'switchboard-js';
    const server = child('server.ts', ['--system', js ? 'switchboard' : system], pin ? '0' : undefined, false, js ? { ...process.env, SWITCHBOARD_SFU_NATIVE: '0' } : process.env);
    procs.push(server);
    const port = (await line(server, /listening (\d+)/, 20_000))[1];
    const base = `http://127.0.0.1:${port}`;
    const before = await stats(base);
    const pub = child('publisher.ts', ['--server', base, '--rate', String(o.rate), '--size', String(o.size)], loadCpus);
    procs.push(pub);
    await line(pub, /publishing/, 30_000);
    log(`${system}: publisher connected; connecting ${o.consumers} consumers in ${o.procs} processes`);
    const per = Math.ceil(o.consumers / o.procs);
    const consumers: ChildProcess[] = [];
    for (let left = o.consumers; left > 0; left -= per) {
      const c = child('consumers.ts', ['--server', base, '--count', String(Math.min(per, left))], loadCpus, true);
      procs.push(c);
      consumers.push(c);
    }
    await Promise.all(consumers.map((c) => message(c, 'ready', 60_000 + o.consumers * 500)));
    const connected = await stats(base);
    log(`${system}: ${connected.consumers} consumers connected; warm-up ${o.warmup} s, then ${o.seconds} s measured`);
    await new Promise((r) => setTimeout(r, o.warmup * 1000));
    const s0 = await stats(base, true);
    for (const c of consumers) c.send({ type: 'start' });
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const results = await Promise.all(
      consumers.map((c) => {
        const r = message<{ received: number; latenciesUs: number[] }>(c, 'result', 30_000);
        c.send({ type: 'stop' });
        return r;
      }),
    );
    const windowSec = (performance.now() - t0) / 1000;
    const s1 = await stats(base);
    const forwarded = results.reduce((n, r) => n + r.received, 0);
    const lat = Float64Array.from(results.flatMap((r) => r.latenciesUs)).sort();
    const cpuSec = (s1.cpuUs - s0.cpuUs) / 1e6;
    const expected = o.rate * windowSec * o.consumers;
    row.deliveriesPerSec = Math.round(forwarded / windowSec);
    row.cpuUsPerPacket = forwarded > 0 ? Number(((cpuSec * 1e6) / forwarded).toFixed(2)) : null;
    row.forwardedPerCoreSec = cpuSec > 0 ? Math.round(forwarded / cpuSec) : null;
    row.consumersPerCore = row.forwardedPerCoreSec !== null ? Math.round(row.forwardedPerCoreSec / o.rate) : null;
    row.p50Ms = Number((percentile(lat, 50) / 1000).toFixed(3));
    row.p99Ms = Number((percentile(lat, 99) / 1000).toFixed(3));
    row.loopLagP99Ms = Number(s1.lagP99Ms.toFixed(2));
    row.kibPerConsumer = Math.round((connected.rss - before.rss) / 1024 / o.consumers);
    row.lossPct = Number((Math.max(0, 1 - forwarded / expected) * 100).toFixed(2));
    log(`${system}: send path ${s1.mediaPath}`);
    log(`${system}: ${forwarded} forwarded in ${windowSec.toFixed(1)} s with ${cpuSec.toFixed(2)} CPU s → ${row.cpuUsPerPacket} µs/packet, loss ${row.lossPct} %`);
    for (const c of consumers) c.send({ type: 'exit' });
  } catch (e) {
    row.error = (e as Error).message;
    log(`${system} FAILED: ${row.error}`);
  } finally {
    // The server first, with SIGTERM, so a --cpu-prof profile (SFU_BENCH_CPU_PROF=dir) is written.
    const server = procs[0];
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1500));
    }
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
  return row;
}

/** Runs the benchmark; returns one row per system (rows of failed systems carry `error`). */
export async function run(argv: string[]): Promise<SfuRow[]> {
  const o = parse(argv);
  const pin = hasTaskset();
  const rows: SfuRow[] = [];
  for (const s of o.systems) rows.push(await runSystem(s, o, pin));
  return rows;
}

function render(rows: SfuRow[]): string {
  const head = '| system | consumers | forwarded/s | CPU µs/packet | forwarded per core-s | consumers per core | p50 ms | p99 ms | loop lag p99 ms | KiB/consumer | loss % |';
  const out = [head, '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|'];
  for (const r of rows) {
    if (r.error) out.push(`| ${r.system} | ${r.consumers} | failed: ${r.error} |`);
    else out.push(`| ${r.system} | ${r.consumers} | ${r.deliveriesPerSec} | ${r.cpuUsPerPacket} | ${r.forwardedPerCoreSec} | ${r.consumersPerCore} | ${r.p50Ms} | ${r.p99Ms} | ${r.loopLagP99Ms} | ${r.kibPerConsumer} | ${r.lossPct} |`);
  }
  const wn = rows.find((r) => r.system === 'werift-naive' && !r.error);
  for (const name of ['switchboard', 'switchboard-js']) {
    const sb = rows.find((r) => r.system === name && !r.error);
    if (sb && wn && sb.forwardedPerCoreSec && wn.forwardedPerCoreSec) out.push('', `${name} / werift-naive forwarded per core-second: ${(sb.forwardedPerCoreSec / wn.forwardedPerCoreSec).toFixed(2)}× (goal ≥ 2×)`);
  }
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run(process.argv.slice(2))
    .then((rows) => {
      const json = process.argv.includes('--json');
      process.stdout.write(json ? `${JSON.stringify({ rows }, null, 2)}\n` : `${render(rows)}\n`);
      process.exit(rows.some((r) => r.error) ? 1 : 0);
    })
    .catch((e: unknown) => {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(2);
    });
}
