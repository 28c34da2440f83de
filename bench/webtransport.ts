/**
 * WebTransport benchmark (issue 14), two scenarios in one run:
 *
 *     npm run bench -- webtransport [--subscribers 100] [--seconds 5] [--warmup 1] [--rate 100]
 *                                   [--window 64] [--lossy-subscribers 10] [--lossy-seconds 10]
 *                                   [--lossy-rate 50] [--loss 0.01] [--only webtransport|webtransport-lossy]
 *                                   [--systems switchboard/ws,switchboard/webtransport,…]
 *                                   [--cpu-prof DIR] [--json]
 *
 * - `webtransport`: the 1 publisher → N subscriber fan-out of the `fallback` scenario, with the
 *   subscribers on WebSocket (`switchboard/ws`), on the WebTransport session stream
 *   (`switchboard/webtransport`, reliable namespace) and on WebTransport datagrams
 *   (`switchboard/webtransport-datagram`, a `datagrams: true` namespace). Latency phase: `rate`
 *   publications/s for `seconds`, stamp → receipt, p50/p99. Throughput phase: the publisher keeps
 *   `window` publishes unanswered for `seconds`; deliveries/s = publications received by all
 *   subscribers ÷ (last receipt − start). Datagram rows count what arrived (a dropped datagram is
 *   not a delivery); the notes give the loss.
 * - `webtransport-lossy`: `lossy-subscribers` subscribers, `lossy-rate` publications/s for
 *   `lossy-seconds`, with `loss` of the packets dropped: WebTransport through a dropping UDP
 *   proxy (both directions), WebSocket through a TCP proxy that holds a random `loss` of the
 *   server's chunks for 200 ms, in order (bench/webtransport/proxies.ts: what a retransmission
 *   costs TCP; this kernel has no netem). p50/p99 over what arrived.
 *
 * The server (bench/webtransport/server.ts) runs in its own process, pinned to CPU 0 when taskset
 * exists; the publisher, subscribers (quiche clients: test/helpers/webtransport-client.ts) and
 * proxies share this process, on the other CPUs. One clock (this process's performance.now())
 * stamps and receives. `--cpu-prof DIR` writes the server's .cpuprofile there.
 *
 * Pitfall: on a 2-core machine the 100 quiche clients in this process decrypt every packet in
 * user space too; the notes give this process's CPU share so you can tell whether the load
 * generator, not the server, was the limit.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import WebSocket from 'ws';
import { MessageReader } from '../src/transports/webtransport/framer.ts';
import { decodeDatagram } from '../src/transports/webtransport/streams.ts';
import { H3TestClient } from '../test/helpers/webtransport-client.ts';
import { DelayingTcpProxy, DroppingUdpProxy } from './webtransport/proxies.ts';
import type { ResultRow } from './result.ts';

const here = dirname(fileURLToPath(import.meta.url));
const log = (line: string): void => void process.stderr.write(`[bench webtransport] ${line}\n`);

export const WT_SYSTEMS = ['switchboard/ws', 'switchboard/webtransport', 'switchboard/webtransport-datagram'] as const;
type System = (typeof WT_SYSTEMS)[number];

export type WebTransportRow = ResultRow & { lossPct: number | null; notes: string[]; error?: string };

interface Options {
  subscribers: number;
  seconds: number;
  warmup: number;
  rate: number;
  window: number;
  lossySubscribers: number;
  lossySeconds: number;
  lossyRate: number;
  loss: number;
  only: string | null;
  systems: readonly string[];
  cpuProf: string | null;
  json: boolean;
}

function parse(argv: string[]): Options {
  const o: Options = { subscribers: 100, seconds: 5, warmup: 1, rate: 100, window: 64, lossySubscribers: 10, lossySeconds: 10, lossyRate: 50, loss: 0.01, only: null, systems: WT_SYSTEMS, cpuProf: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (min = 0): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < min) throw new Error(`${a} needs a number ≥ ${min}, got ${JSON.stringify(argv[i])}`);
      return v;
    };
    if (a === '--subscribers') o.subscribers = num(1);
    else if (a === '--seconds') o.seconds = num(0.1);
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--rate') o.rate = num(1);
    else if (a === '--window') o.window = num(1);
    else if (a === '--lossy-subscribers') o.lossySubscribers = num(1);
    else if (a === '--lossy-seconds') o.lossySeconds = num(0.1);
    else if (a === '--lossy-rate') o.lossyRate = num(1);
    else if (a === '--loss') o.loss = Math.min(num(), 1);
    else if (a === '--only') o.only = String(argv[++i]);
    else if (a === '--systems') o.systems = String(argv[++i]).split(',');
    else if (a === '--cpu-prof') o.cpuProf = String(argv[++i]);
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown option ${a} (see bench/webtransport.ts)`);
  }
  if (o.only !== null && o.only !== 'webtransport' && o.only !== 'webtransport-lossy') throw new Error('--only takes webtransport or webtransport-lossy');
  return o;
}

// ---- the server child ------------------------------------------------------------------------

interface Server {
  httpPort: number;
  udpPort: number;
  child: ChildProcess;
  cpu(): Promise<number>;
  /** The server's UDP packet counters (bench/webtransport/server.ts answers `stats` on stdin). */
  packets(): Promise<{ packetsIn: number; packetsOut: number }>;
  stop(): Promise<void>;
}

function taskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function startServer(cpuProf: string | null): Promise<Server> {
  const prof = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', cpuProf] : [];
  const cmd = [process.execPath, ...prof, '--import', 'tsx', join(here, 'webtransport', 'server.ts')];
  const pin = taskset();
  if (pin) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', `1-${Math.max(1, availableParallelism() - 1)}`, String(process.pid)], { stdio: 'ignore' });
    } catch {
      /* single CPU */
    }
  }
  const [bin, ...args] = pin ? ['taskset', '-c', '0', ...cmd] : cmd;
  const child = spawn(bin!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const m = await new Promise<RegExpExecArray>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const x = /listening (\d+) (\d+)/.exec(buf);
      if (x) resolve(x);
    });
    child.on('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const pid = child.pid!;
  let statsWaiter: ((s: { packetsIn: number; packetsOut: number }) => void) | null = null;
  let statsBuf = '';
  child.stdout!.on('data', (d: Buffer) => {
    statsBuf += d.toString();
    let nl: number;
    while ((nl = statsBuf.indexOf('\n')) >= 0) {
      const line = statsBuf.slice(0, nl);
      statsBuf = statsBuf.slice(nl + 1);
      if (line.startsWith('stats ')) {
        const w = statsWaiter;
        statsWaiter = null;
        w?.(JSON.parse(line.slice(6)) as { packetsIn: number; packetsOut: number });
      }
    }
  });
  return {
    httpPort: Number(m[1]),
    udpPort: Number(m[2]),
    child,
    // utime + stime of the server process, in seconds (Linux /proc).
    async cpu() {
      const { readFileSync } = await import('node:fs');
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    },
    packets() {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('bench server did not answer stats')), 5000);
        statsWaiter = (s) => {
          clearTimeout(t);
          resolve(s);
        };
        child.stdin!.write('stats\n');
      });
    },
    async stop() {
      child.stdin!.end();
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5000);
        child.on('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    },
  };
}

// ---- subscribers -----------------------------------------------------------------------------

/** What every subscriber reports into. */
class Recorder {
  received = 0;
  last = 0;
  recording = false;
  latencies: number[] = [];

  pub(data: { ts?: number } | undefined): void {
    const now = performance.now();
    this.received++;
    this.last = now;
    if (this.recording && data && typeof data.ts === 'number') this.latencies.push(now - data.ts);
  }
}

interface Subscriber {
  close(): Promise<void>;
}

function onFrames(text: string, rec: Recorder): void {
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const f = JSON.parse(line) as { t: string; data?: { ts?: number } };
    if (f.t === 'pub') rec.pub(f.data);
  }
}

async function wsSubscriber(port: number, ch: string, rec: Recorder): Promise<Subscriber> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/connection/websocket`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let ready: () => void = () => {};
  const subscribed = new Promise<void>((r) => (ready = r));
  ws.on('message', (d: Buffer) => {
    const text = d.toString();
    if (text.includes('"id":2')) ready();
    onFrames(text, rec);
  });
  ws.send(JSON.stringify({ t: 'connect', id: 1 }));
  ws.send(JSON.stringify({ t: 'sub', id: 2, ch }));
  await subscribed;
  return {
    close: async () => {
      ws.close();
    },
  };
}

async function wtSubscriber(port: number, ch: string, rec: Recorder): Promise<Subscriber> {
  const c = await H3TestClient.connect(port, { timeoutMs: 10_000 });
  await c.connectSession(0);
  c.openSessionStream(4, 0, [Buffer.from(JSON.stringify({ t: 'connect', id: 1 })), Buffer.from(JSON.stringify({ t: 'sub', id: 2, ch }))]);
  await c.messages(4, 2, 10_000);
  const stream = new MessageReader(1 << 20);
  c.streams.set(4, []);
  const drain = (): void => {
    const chunks = c.streams.get(4);
    if (chunks && chunks.length > 0) {
      c.streams.set(4, []);
      for (const chunk of chunks) for (const m of stream.push(chunk)) onFrames(m.toString(), rec);
    }
    if (c.datagrams.length > 0) {
      const ds = c.datagrams.splice(0);
      for (const d of ds) {
        const [, payload] = decodeDatagram(d);
        for (const m of new MessageReader(1 << 20).push(payload)) onFrames(m.toString(), rec);
      }
    }
  };
  c.onPacket = drain;
  return { close: () => c.close() };
}

// ---- publisher -------------------------------------------------------------------------------

class Publisher {
  private nextId = 10;
  private outstanding = 0;
  private wake: (() => void) | null = null;
  sent = 0;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (line.startsWith('{"t":"ok"') || line.startsWith('{"t":"err"')) {
          this.outstanding--;
          const w = this.wake;
          this.wake = null;
          w?.();
        }
      }
    });
  }

  static async connect(port: number): Promise<Publisher> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/connection/websocket`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const p = new Publisher(ws);
    p.outstanding++;
    const done = new Promise<void>((r) => (p.wake = r));
    ws.send(JSON.stringify({ t: 'connect', id: 1 }));
    await done;
    return p;
  }

  publish(ch: string): void {
    this.outstanding++;
    this.sent++;
    this.ws.send(JSON.stringify({ t: 'pub', id: this.nextId++, ch, data: { ts: performance.now(), pad: 'x'.repeat(48) } }));
  }

  /** `rate` publications/s for `seconds`. */
  async paced(ch: string, rate: number, seconds: number): Promise<void> {
    const t0 = performance.now();
    const n = Math.round(rate * seconds);
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.publish(ch);
    }
  }

  /** Keeps `window` publishes unanswered for `seconds`. */
  async flood(ch: string, window: number, seconds: number): Promise<void> {
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      while (this.outstanding < window) this.publish(ch);
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  close(): void {
    this.ws.close();
  }
}

// ---- one row ---------------------------------------------------------------------------------

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

const round = (x: number | null, d = 2): number | null => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

/** Waits until no publication arrived for `quietMs` (or `maxMs` passed). */
async function settle(rec: Recorder, quietMs: number, maxMs: number): Promise<void> {
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, Math.min(quietMs, maxMs)));
  while (performance.now() - t0 < maxMs && performance.now() - rec.last < quietMs) await new Promise((r) => setTimeout(r, 50));
}

async function connectAll(n: number, make: () => Promise<Subscriber>): Promise<Subscriber[]> {
  const out: Subscriber[] = [];
  // A few at a time: handshakes are CPU-bound on both sides.
  for (let i = 0; i < n; i += 10) out.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, make))));
  return out;
}

async function runRow(scenario: 'webtransport' | 'webtransport-lossy', system: System, server: Server, o: Options): Promise<WebTransportRow> {
  const lossy = scenario === 'webtransport-lossy';
  const row: WebTransportRow = { scenario, system, deliveriesPerSec: null, p50Ms: null, p99Ms: null, kibPerConnection: null, lossPct: null, notes: [] };
  const rec = new Recorder();
  const n = lossy ? o.lossySubscribers : o.subscribers;
  const ch = system === 'switchboard/webtransport-datagram' ? 'lossy:1' : 'bench:1';
  const proxies: Array<{ close(): void }> = [];
  let udp: DroppingUdpProxy | null = null;
  let tcp: DelayingTcpProxy | null = null;
  let subs: Subscriber[] = [];
  let pub: Publisher | null = null;
  try {
    let wsPort = server.httpPort;
    let wtPort = server.udpPort;
    if (lossy) {
      // Set up without loss (handshakes), then turn the loss on for the measurement.
      udp = await DroppingUdpProxy.start(server.udpPort, 0);
      tcp = await DelayingTcpProxy.start(server.httpPort, 0);
      proxies.push(udp, tcp);
      wsPort = tcp.port;
      wtPort = udp.port;
    }
    subs = await connectAll(n, () => (system === 'switchboard/ws' ? wsSubscriber(wsPort, ch, rec) : wtSubscriber(wtPort, ch, rec)));
    pub = await Publisher.connect(server.httpPort);
    const seconds = lossy ? o.lossySeconds : o.seconds;
    const rate = lossy ? o.lossyRate : o.rate;
    if (o.warmup > 0) await pub.paced(ch, rate, o.warmup);
    await settle(rec, 200, 2000);
    if (lossy) {
      udp!.loss = o.loss;
      tcp!.loss = o.loss;
    }
    // Latency phase.
    rec.recording = true;
    const r0 = rec.received;
    const sent0 = pub.sent;
    const t0 = performance.now();
    await pub.paced(ch, rate, seconds);
    await settle(rec, lossy ? 600 : 300, 5000);
    rec.recording = false;
    const expected = (pub.sent - sent0) * n;
    const got = rec.received - r0;
    row.lossPct = round(expected > 0 ? (100 * (expected - got)) / expected : null, 3);
    const lat = rec.latencies.sort((a, b) => a - b);
    row.p50Ms = round(percentile(lat, 50));
    row.p99Ms = round(percentile(lat, 99));
    if (lossy) {
      row.deliveriesPerSec = round(got / ((rec.last - t0) / 1000), 0);
      if (udp && system !== 'switchboard/ws') row.notes.push(`UDP proxy dropped ${udp.dropped} of ${udp.dropped + udp.forwarded} packets`);
      if (tcp && system === 'switchboard/ws') row.notes.push(`TCP proxy held ${tcp.delayed} chunks for 200 ms`);
    } else {
      // Throughput phase.
      const pk0 = system === 'switchboard/ws' ? null : await server.packets();
      const cpuServer0 = await server.cpu();
      const cpu0 = process.cpuUsage();
      const f0 = rec.received;
      const ft0 = performance.now();
      const fs0 = pub.sent;
      await pub.flood(ch, o.window, seconds);
      await settle(rec, 300, 5000);
      const elapsed = (rec.last - ft0) / 1000;
      const delivered = rec.received - f0;
      row.deliveriesPerSec = round(delivered / elapsed, 0);
      const fexpected = (pub.sent - fs0) * n;
      const cpu = process.cpuUsage(cpu0);
      const serverCpu = (await server.cpu()) - cpuServer0;
      if (pk0) {
        const pk = await server.packets();
        const per = (x: number): number | null => round(x / Math.max(1, delivered), 3);
        row.notes.push(`flood UDP packets at the server: ${pk.packetsOut - pk0.packetsOut} out (${per(pk.packetsOut - pk0.packetsOut)} per delivery), ${pk.packetsIn - pk0.packetsIn} in (${per(pk.packetsIn - pk0.packetsIn)} per delivery)`);
      }
      row.notes.push(`flood: ${pub.sent - fs0} publications, ${delivered} of ${fexpected} deliveries (${round((100 * (fexpected - delivered)) / Math.max(1, fexpected), 2)} % lost)`);
      row.notes.push(
        `flood CPU: server ${Math.round((100 * serverCpu) / elapsed)} % (${round((serverCpu * 1e6) / Math.max(1, delivered), 2)} µs per delivery), load generator ${Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100)} %`,
      );
    }
    if (row.lossPct !== null && row.lossPct > 0) row.notes.push(`latency phase: ${row.lossPct} % of deliveries missing`);
  } catch (err) {
    row.error = err instanceof Error ? err.message : String(err);
  } finally {
    pub?.close();
    await Promise.all(subs.map((s) => s.close().catch(() => {})));
    for (const p of proxies) p.close();
    await new Promise((r) => setTimeout(r, 300));
  }
  return row;
}

export async function run(argv: string[]): Promise<WebTransportRow[]> {
  const o = parse(argv);
  const server = await startServer(o.cpuProf);
  const rows: WebTransportRow[] = [];
  try {
    for (const scenario of ['webtransport', 'webtransport-lossy'] as const) {
      if (o.only && o.only !== scenario) continue;
      for (const system of WT_SYSTEMS) {
        if (!o.systems.includes(system)) continue;
        log(`${scenario}: ${system}`);
        const row = await runRow(scenario, system, server, o);
        if (row.error) log(`${scenario} ${system} FAILED: ${row.error}`);
        for (const n of row.notes) log(`${scenario} ${system}: ${n}`);
        rows.push(row);
      }
    }
  } finally {
    await server.stop();
  }
  return rows;
}

/** The table's goal lines for these scenarios. */
export function renderGoals(rows: readonly ResultRow[]): string[] {
  const get = (s: string, sys: string) => rows.find((r) => r.scenario === s && r.system === sys);
  const out: string[] = [];
  const ws = get('webtransport', 'switchboard/ws');
  const st = get('webtransport', 'switchboard/webtransport');
  if (ws?.deliveriesPerSec && st?.deliveriesPerSec) {
    const x = st.deliveriesPerSec / ws.deliveriesPerSec;
    out.push(`WebTransport streams ${x.toFixed(2)}× WebSocket deliveries/s (goal ≥ 0.25×): ${x >= 0.25 ? 'met' : 'NOT met'}`);
  }
  const lws = get('webtransport-lossy', 'switchboard/ws');
  const ldg = get('webtransport-lossy', 'switchboard/webtransport-datagram');
  if (lws?.p99Ms != null && ldg?.p99Ms != null) {
    out.push(`under loss, datagram p99 ${ldg.p99Ms} ms vs WebSocket ${lws.p99Ms} ms (goal: below): ${ldg.p99Ms < lws.p99Ms ? 'met' : 'NOT met'}`);
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  run(argv).then(
    (rows) => {
      if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ results: rows.map(({ notes: _n, ...r }) => r) }, null, 2)}\n`);
      else {
        for (const r of rows) process.stdout.write(`${r.scenario}\t${r.system}\t${r.deliveriesPerSec}\t${r.p50Ms}\t${r.p99Ms}\t${r.lossPct}\n`);
        for (const g of renderGoals(rows)) process.stdout.write(`${g}\n`);
      }
      process.exit(rows.some((r) => r.error) ? 1 : 0);
    },
    (err: unknown) => {
      process.stderr.write(`bench webtransport failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
