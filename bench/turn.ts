/**
 * TURN relay benchmark: our TurnServer against coturn's `turnserver`, driven by the same
 * `turnutils_uclient` command (coturn's own load client) through a `turnutils_peer` echo peer.
 *
 *     npx tsx bench/turn.ts [--clients 10] [--messages 2000] [--size 100] [--interval 2]
 *                           [--systems switchboard,coturn] [--json]
 *     npm run bench -- turn [same flags]
 *
 * Each uclient message goes client -> server -> peer -> server -> client, so one echoed message is
 * two relayed packets; `deliveriesPerSec` is relayed packets per second over the traffic window.
 *
 * Pitfalls, read before quoting numbers:
 * - uclient paces each client at one message per `--interval` ms and starts each client at a
 *   random moment 1–6 s in, so at zero loss both servers relay the *offered* rate; only a loss
 *   (or a send-dropped count) separates them. Raise --clients / lower --interval to find the edge.
 * - The traffic window is measured from uclient's once-a-second progress lines as they arrive, so
 *   rates carry about ±1 s of window error; use runs of 10 s or more.
 * - Everything shares the machine: uclient and turnutils_peer burn CPU too. On 2 cores the
 *   load generator, not the server, is often the first thing to saturate.
 * - uclient reports only mean/min/max round trip (ms resolution), so p50/p99 are null.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TurnServer } from '../src/webrtc/turn/index.ts';
import type { ResultRow } from './result.ts';

/** A `npm run bench` row plus the TURN run's own figures (loss, RTT, …). */
export type BenchRow = ResultRow & Record<string, unknown>;

interface TurnBenchOptions {
  clients: number;
  messages: number;
  size: number;
  interval: number;
  systems: string[];
  json: boolean;
}

function parse(argv: string[]): TurnBenchOptions {
  const o: TurnBenchOptions = { clients: 10, messages: 2000, size: 100, interval: 2, systems: ['switchboard', 'coturn'], json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = () => {
      const n = Number(val());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} must be a non-negative integer`);
      return n;
    };
    if (a === '--clients') o.clients = Math.max(1, int());
    else if (a === '--messages') o.messages = Math.max(1, int());
    else if (a === '--size') o.size = Math.max(16, int());
    else if (a === '--interval') o.interval = int();
    else if (a === '--systems') o.systems = val().split(',');
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown flag ${a} (flags: --clients --messages --size --interval --systems --json)`);
  }
  return o;
}

const log = (line: string) => process.stderr.write(`[bench:turn] ${line}\n`);

function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  }));
}

/** Resolves once a STUN Binding request to 127.0.0.1:port gets any answer. */
async function waitForStun(port: number, timeoutMs = 10_000): Promise<void> {
  const req = Buffer.from('000100002112a442' + '0123456789abcdef01234567', 'hex');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => (s.close(), resolve(false)), 200);
      s.once('message', () => (clearTimeout(t), s.close(), resolve(true)));
      s.send(req, port, '127.0.0.1');
    });
    if (ok) return;
  }
  throw new Error(`no STUN answer on 127.0.0.1:${port}`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

interface UclientResult {
  sent: number;
  received: number;
  lost: number;
  sendDropped: number;
  avgRttMs: number;
  maxRttMs: number;
  windowSec: number;
  output: string;
}

/** Runs uclient, timestamping its progress lines to find the traffic window. */
function runUclient(port: number, peerPort: number, o: TurnBenchOptions): Promise<UclientResult> {
  const args = ['-p', String(port), '-e', '127.0.0.1', '-r', String(peerPort), '-X', '-g', '-c', '-u', 'user', '-W', 'secret',
    '-m', String(o.clients), '-n', String(o.messages), '-l', String(o.size), '-z', String(o.interval), '127.0.0.1'];
  return new Promise((resolve, reject) => {
    const child = spawn('turnutils_uclient', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let partial = '';
    let tStart = Date.now();
    let tLastChange = Date.now();
    let lastRecv = 0;
    const onLine = (line: string) => {
      const m = /msz=\d+, tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(line);
      if (!m) return;
      const recv = Number(m[2]);
      if (recv === 0) tStart = Date.now();
      else if (recv !== lastRecv) tLastChange = Date.now();
      lastRecv = recv;
    };
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    child.stderr.on('data', (d) => (out += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      const msgs = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
      const lost = /Total lost packets (\d+) \([^)]*\), total send dropped (\d+)/.exec(out);
      const rtt = /Average round trip delay ([\d.]+) ms; min = \d+ ms, max = (\d+) ms/.exec(out);
      if (!msgs || !lost) return reject(new Error(`uclient exited ${code} without totals:\n${out.slice(-1500)}`));
      resolve({
        sent: Number(msgs[1]),
        received: Number(msgs[2]),
        lost: Number(lost[1]),
        sendDropped: Number(lost[2]),
        avgRttMs: rtt ? Number(rtt[1]) : NaN,
        maxRttMs: rtt ? Number(rtt[2]) : NaN,
        // The last progress line with a new count is at most 1 s after traffic ended.
        windowSec: Math.max(0.5, (tLastChange - tStart) / 1000),
        output: out,
      });
    });
  });
}

async function startOurs(): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = new TurnServer({
    listeningAddresses: ['127.0.0.1'],
    port: 0,
    udp: true,
    tcp: false,
    realm: 'north.gov',
    authSecret: 'secret',
    allowLoopbackPeers: true,
    userQuota: 0,
    totalQuota: 0,
  });
  const [b] = await server.listen();
  return { port: b!.port, stop: () => server.close() };
}

async function startCoturn(dir: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freeUdpPort();
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(
    conf,
    [
      'listening-ip=127.0.0.1',
      `listening-port=${port}`,
      'relay-ip=127.0.0.1',
      'min-port=49152',
      'max-port=65535',
      'use-auth-secret',
      'static-auth-secret=secret',
      'realm=north.gov',
      'allow-loopback-peers',
      'no-cli',
      'no-tls',
      'no-dtls',
      'no-tcp',
      'no-multicast-peers',
      `userdb=${join(dir, 'turndb')}`,
      `pidfile=${join(dir, 'turnserver.pid')}`,
      'log-file=stdout',
      'no-stdout-log',
      '',
    ].join('\n'),
  );
  const child = spawn('turnserver', ['-c', conf], { stdio: 'ignore' });
  await waitForStun(port);
  return { port, stop: () => stop(child) };
}

/** Runs the comparison; rows for each system (a failed system gets an `error` field). */
export async function run(argv: string[]): Promise<BenchRow[]> {
  const o = parse(argv);
  for (const bin of ['turnutils_uclient', 'turnutils_peer', ...(o.systems.includes('coturn') ? ['turnserver'] : [])]) {
    if (!existsSync(`/usr/bin/${bin}`)) throw new Error(`/usr/bin/${bin} missing: install the Debian package "coturn"`);
  }
  const scenario = `turn-udp-${o.clients}x${o.messages}x${o.size}B@${o.interval}ms`;
  const offeredPerSec = o.interval > 0 ? (o.clients * 1000) / o.interval : null;
  const rows: BenchRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sb-turn-bench-'));
  try {
    for (const system of o.systems) {
      const peerPort = await freeUdpPort();
      const peer = spawn('turnutils_peer', ['-p', String(peerPort), '-L', '127.0.0.1'], { stdio: 'ignore' });
      let server: { port: number; stop: () => Promise<void> } | undefined;
      try {
        await new Promise((r) => setTimeout(r, 300));
        if (system === 'switchboard') server = await startOurs();
        else if (system === 'coturn') server = await startCoturn(dir);
        else throw new Error(`unknown system ${system}`);
        log(`${system}: uclient ${o.clients} clients x ${o.messages} msgs of ${o.size} B every ${o.interval} ms`);
        const r = await runUclient(server.port, peerPort, o);
        const relayed = r.received * 2;
        rows.push({
          scenario,
          system,
          deliveriesPerSec: Math.round(relayed / r.windowSec),
          p50Ms: null,
          p99Ms: null,
          // RSS deltas of a JIT'ed process over a short run say more about warm-up than per-allocation cost.
          kibPerConnection: null,
          offeredMsgsPerSec: offeredPerSec,
          sentMsgs: r.sent,
          receivedMsgs: r.received,
          lost: r.lost,
          lossPct: r.sent > 0 ? Number(((r.lost / r.sent) * 100).toFixed(3)) : 0,
          sendDropped: r.sendDropped,
          avgRttMs: r.avgRttMs,
          maxRttMs: r.maxRttMs,
          windowSec: Number(r.windowSec.toFixed(1)),
        });
      } catch (e) {
        log(`${system} FAILED: ${(e as Error).message}`);
        rows.push({ scenario, system, deliveriesPerSec: null, p50Ms: null, p99Ms: null, kibPerConnection: null, error: (e as Error).message });
      } finally {
        await server?.stop();
        await stop(peer);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ours = rows.find((r) => r.system === 'switchboard');
  const theirs = rows.find((r) => r.system === 'coturn');
  if (ours?.deliveriesPerSec && theirs?.deliveriesPerSec) ours.vsCoturn = Number((ours.deliveriesPerSec / theirs.deliveriesPerSec).toFixed(2));
  return rows;
}

function table(rows: BenchRow[]): string {
  const cols = ['system', 'deliveriesPerSec', 'offeredMsgsPerSec', 'sentMsgs', 'receivedMsgs', 'lost', 'sendDropped', 'avgRttMs', 'maxRttMs', 'windowSec', 'kibPerConnection', 'vsCoturn', 'error'];
  const used = cols.filter((c) => rows.some((r) => r[c] !== undefined));
  const cell = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
  const widths = used.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ');
  return [`scenario: ${rows[0]?.scenario ?? ''} (deliveriesPerSec = relayed packets/s, 2 per echoed message)`, line(used), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(used.map((c) => cell(r[c]))))].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  run(argv)
    .then((rows) => {
      process.stdout.write(argv.includes('--json') ? `${JSON.stringify(rows, null, 2)}\n` : `${table(rows)}\n`);
      process.exit(rows.some((r) => r.error) ? 1 : 0);
    })
    .catch((e: unknown) => {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(1);
    });
}
