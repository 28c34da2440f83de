/**
 * MQTT bridge benchmark (issue 15 item 3): messages per second and latency from a device to a web
 * subscriber — a real MQTT client publishing to Mosquitto, the bridge (consumers type `mqtt`) in a
 * Switchboard node, and an SDK client subscribed over WebSocket.
 *
 *     npx tsx bench/mqtt.ts [--messages 20000] [--window 100] [--rate 500] [--seconds 3]
 *                           [--size 100] [--modes qos1,qos0] [--url mqtt://127.0.0.1:1883]
 *                           [--timeout 60] [--json] [--no-pin]
 *     npm run bench -- mqtt [same flags]
 *
 * The node runs in a child process (this file with `--serve`): memory broker, history on (100
 * kept), two bridge consumers on the broker at `url` — one subscribed at QoS 1, one at QoS 0, each
 * with its own topic filter and a session that ends with the run — pinned to CPU 0 when `taskset`
 * exists. The device (mqtt.js, MQTT 5) and the subscriber (the SDK's Client on WebSocket) run here
 * on the other CPUs, so one clock times both ends. Per mode:
 * - flood: `messages` publishes of `size` bytes to one device topic (`…/<mode>/d1/seq` →
 *   channel `feed:<mode>-d1`), at most `window` in flight (QoS 1: published and not yet received
 *   by the subscriber, end to end — see the pitfall below; QoS 0: not yet written); messages/s is what the subscriber received over the time from the first publish to
 *   the last delivery; p50/p99 of that flood (queueing included) go in floodP50Ms/floodP99Ms.
 * - paced: `rate` messages/s for `seconds`; p50Ms/p99Ms are the device → subscriber latency of
 *   those (what a reading takes at a steady rate).
 * QoS 1 must arrive complete, once and in order (the row fails otherwise); QoS 0 may lose messages
 * (Mosquitto, and the bridge's bounded queue, drop them under load): `lost` says how many.
 *
 * Bounded: every wait has a deadline (`timeout` seconds in all; a stalled delivery ends a phase
 * after 5 s without progress), and every client, the child and its bridge sessions are closed on
 * the way out, also on failure (the child also exits if this process goes away).
 *
 * Pitfalls: Mosquitto PUBACKs a device on receipt and drops QoS 1 messages queued for a slow
 * subscriber (the bridge) past `max_queued_messages` (1000 by default, "Outgoing messages are
 * being dropped" in its log): a device flooding faster than the bridge stores loses messages at
 * the broker, so the QoS 1 flood keeps its window end to end. Mosquitto is not pinned and shares the cores with both sides; on the 2-core VM the one
 * process holding the device and the subscriber can be the limit — read serverCpuPct.
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ResultRow } from './result.ts';

const log = (s: string): void => {
  process.stderr.write(`[bench mqtt] ${s}\n`);
};

const MODES = ['qos1', 'qos0'] as const;
type Mode = (typeof MODES)[number];

export type MqttRow = ResultRow & {
  mode: Mode;
  qos: 0 | 1;
  /** Messages published in the flood. */
  messages: number;
  /** Of those, received by the web subscriber. */
  received: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  /** Flood latency (queueing included); p50Ms/p99Ms are at the paced rate. */
  floodP50Ms: number | null;
  floodP99Ms: number | null;
  /** Paced phase: the rate asked for, and the messages received in it. */
  rate: number;
  pacedReceived: number;
  serverCpuPct: number | null;
  error?: string;
};

interface Options {
  messages: number;
  window: number;
  rate: number;
  seconds: number;
  size: number;
  modes: Mode[];
  url: string;
  timeout: number;
  json: boolean;
  pin: boolean;
}

function parse(argv: string[]): Options {
  const o: Options = { messages: 20_000, window: 100, rate: 500, seconds: 3, size: 100, modes: [...MODES], url: 'mqtt://127.0.0.1:1883', timeout: 60, json: false, pin: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number, got ${argv[i] ?? 'nothing'}`);
      return v;
    };
    if (a === '--messages') o.messages = Math.round(num());
    else if (a === '--window') o.window = Math.round(num());
    else if (a === '--rate') o.rate = num();
    else if (a === '--seconds') o.seconds = num();
    else if (a === '--size') o.size = Math.round(num());
    else if (a === '--timeout') o.timeout = num();
    else if (a === '--url') o.url = argv[++i] ?? '';
    else if (a === '--json') o.json = true;
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--modes') {
      o.modes = (argv[++i] ?? '').split(',').filter(Boolean) as Mode[];
      for (const m of o.modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (${MODES.join(', ')})`);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

// ---- the node child --------------------------------------------------------------------------

async function serveChild(): Promise<void> {
  // Never outlive the bench process.
  process.on('disconnect', () => process.exit(0));
  const { url, prefix, run } = JSON.parse(process.env.SB_BENCH_MQTT ?? '{}') as { url: string; prefix: string; run: string };
  const { startNode } = await import('../src/app/index.ts');
  const bridge = (qos: 0 | 1) => ({
    type: 'mqtt' as const,
    name: `bench-qos${qos}`,
    url,
    qos,
    clientId: `${run}-bridge-qos${qos}`,
    sessionExpiry: 0,
    routes: [{ topic: `${prefix}/qos${qos}/+/seq`, channel: `feed:qos${qos}-{1}` }],
  });
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    adminSecret: 'bench-mqtt-admin-secret',
    clusterSecret: 'bench-mqtt-cluster-secret',
    namespaces: { feed: { subscribe: 'anonymous', historySize: 100, historyTtl: 600 } },
    consumers: [bridge(1), bridge(0)],
  });
  const deadline = Date.now() + 15_000;
  while (![...node.metrics.consumers].every((c) => c.up())) {
    if (Date.now() > deadline) throw new Error('the bridge did not connect to the MQTT broker in 15 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  process.on('message', (m: { type: string }) => {
    if (m.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
    if (m.type === 'stop') void node.close().then(() => process.exit(0));
  });
  process.send?.({ type: 'ready', http: node.port });
}

interface ChildHandle {
  proc: ChildProcess;
  port: number;
  cpu(): Promise<NodeJS.CpuUsage>;
  stop(): Promise<void>;
}

async function startChild(o: Options, prefix: string, run: string): Promise<ChildHandle> {
  const proc = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SB_BENCH_MQTT: JSON.stringify({ url: o.url, prefix, run }) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      if (proc.connected) proc.send({ type: 'stop' });
      setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
    });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the node child was not ready in 20 s')), 20_000);
      proc.once('message', (m: { type: string; http: number }) => {
        clearTimeout(t);
        if (m.type === 'ready') resolve(m.http);
        else reject(new Error(`unexpected ${m.type}`));
      });
      proc.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`node child exited with ${code}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  if (o.pin && cpus().length >= 2) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', '0', String(proc.pid)], { stdio: 'ignore' });
      execFileSync('taskset', ['-a', '-p', '-c', `1-${cpus().length - 1}`, String(process.pid)], { stdio: 'ignore' });
    } catch {
      log('taskset unavailable: node and clients are not pinned');
    }
  }
  return {
    proc,
    port,
    cpu: () =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no CPU answer from the node child')), 5000);
        const on = (m: { type: string; usage: NodeJS.CpuUsage }) => {
          if (m.type !== 'cpu') return;
          clearTimeout(t);
          proc.off('message', on);
          resolve(m.usage);
        };
        proc.on('message', on);
        proc.send({ type: 'cpu' });
      }),
    stop,
  };
}

// ---- the device and the subscriber -------------------------------------------------------------

/** What the subscriber saw of one mode's channel. */
class Receiver {
  readonly lat: number[] = [];
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  last = 0;
  private maxSeq = -1;
  private readonly seen = new Set<number>();

  onData(data: unknown): void {
    const d = data as { seq?: number; t?: number; probe?: boolean };
    if (d.probe || typeof d.seq !== 'number' || typeof d.t !== 'number') return;
    const now = performance.now();
    this.last = now;
    if (this.seen.has(d.seq)) {
      this.duplicates++;
      return;
    }
    this.seen.add(d.seq);
    if (d.seq < this.maxSeq) this.outOfOrder++;
    this.maxSeq = Math.max(this.maxSeq, d.seq);
    this.received++;
    this.lat.push(now - d.t);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private waiters: Array<() => void> = [];

  /** Resolves at the next new message received; rejects after `ms` without one. */
  nextReceive(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`nothing received for ${ms} ms (${this.received} so far)`)), ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  reset(): void {
    this.lat.length = 0;
    this.received = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.maxSeq = -1;
    this.seen.clear();
  }
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(2));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `count()` reaches `n`, or `idleMs` pass without progress, or the deadline. */
async function drain(count: () => number, n: number, idleMs: number, deadline: number): Promise<void> {
  let seen = count();
  let since = performance.now();
  while (count() < n && Date.now() < deadline) {
    await sleep(20);
    if (count() !== seen) {
      seen = count();
      since = performance.now();
    } else if (performance.now() - since > idleMs) return;
  }
}

export async function run(argv: string[]): Promise<MqttRow[]> {
  const o = parse(argv);
  const deadline = Date.now() + o.timeout * 1000;
  log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, ${cpus().length} CPUs; ${o.messages} messages of ${o.size} bytes, window ${o.window}, paced ${o.rate}/s for ${o.seconds} s, broker ${o.url}`);
  const { randomId } = await import('../src/broker/broker.ts');
  const runId = `sbbench-mqtt-${randomId(4).replace(/[^A-Za-z0-9]/g, '')}`;
  const prefix = runId;
  const { default: mqtt } = await import('mqtt');
  const { Client } = await import('../src/client/index.ts');
  const rows: MqttRow[] = [];
  let child: ChildHandle | undefined;
  let device: import('mqtt').MqttClient | undefined;
  let web: InstanceType<typeof Client> | undefined;
  try {
    child = await startChild(o, prefix, runId);
    device = await mqtt.connectAsync(o.url, { protocolVersion: 5, clientId: `${runId}-device`, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
    web = new Client(`ws://127.0.0.1:${child.port}/connection/websocket`, { minDelay: 50, maxDelay: 500 });
    const receivers = new Map<Mode, Receiver>();
    let probes = 0;
    for (const mode of o.modes) {
      const r = new Receiver();
      receivers.set(mode, r);
      web.subscribe(`feed:${mode}-d1`, {
        onPublication: (p) => {
          if ((p.data as { probe?: boolean }).probe) probes++;
          r.onData(p.data);
        },
      });
    }
    await web.connect();
    const pad = (seq: number): string => 'x'.repeat(Math.max(0, o.size - JSON.stringify({ seq, t: performance.now(), text: '' }).length));
    const send = (mode: Mode, body: object): Promise<unknown> => device!.publishAsync(`${prefix}/${mode}/d1/seq`, JSON.stringify(body), { qos: mode === 'qos1' ? 1 : 0 });
    // The bridge's SUBACK follows its CONNACK, and the SDK's subscribe its connect: probe each
    // path until a message gets through, which also warms it up.
    for (const mode of o.modes) {
      const before = probes;
      while (probes === before) {
        if (Date.now() > deadline) throw new Error(`no probe message reached the subscriber over ${mode}`);
        await send(mode, { probe: true, n: randomId(4) });
        await sleep(100);
      }
    }
    for (const mode of o.modes) {
      log(`${mode}…`);
      const r = receivers.get(mode)!;
      const row: MqttRow = {
        scenario: 'mqtt',
        system: `switchboard/mqtt-${mode}`,
        mode,
        qos: mode === 'qos1' ? 1 : 0,
        deliveriesPerSec: null,
        p50Ms: null,
        p99Ms: null,
        kibPerConnection: null,
        messages: o.messages,
        received: 0,
        lost: 0,
        duplicates: 0,
        outOfOrder: 0,
        floodP50Ms: null,
        floodP99Ms: null,
        rate: o.rate,
        pacedReceived: 0,
        serverCpuPct: null,
      };
      try {
        // Flood. QoS 1: at most `window` messages published and not yet received by the web
        // subscriber (end to end): Mosquitto acknowledges a device's publish on receipt, and drops
        // a subscriber's messages past its max_queued_messages (1000 by default) when the device
        // outruns the bridge — an open loop would measure Mosquitto's drops, not the bridge.
        // QoS 0: at most `window` not yet written to the socket (open loop; losses reported).
        r.reset();
        const c0 = await child.cpu();
        const t0 = performance.now();
        let next = 0;
        const pump = async (): Promise<void> => {
          while (next < o.messages && Date.now() < deadline) {
            if (mode === 'qos1') while (next - r.received >= o.window) await r.nextReceive(5000);
            if (next >= o.messages) return;
            const seq = next++;
            await send(mode, { seq, t: performance.now(), text: pad(seq) });
          }
        };
        await Promise.all(Array.from({ length: o.window }, pump));
        await drain(() => r.received, o.messages, 5000, deadline);
        const c1 = await child.cpu();
        const ms = Math.max(1, r.last - t0);
        row.received = r.received;
        row.lost = o.messages - r.received;
        row.duplicates = r.duplicates;
        row.outOfOrder = r.outOfOrder;
        row.deliveriesPerSec = Math.round((r.received / ms) * 1000);
        row.floodP50Ms = percentile(r.lat, 50);
        row.floodP99Ms = percentile(r.lat, 99);
        row.serverCpuPct = Math.round(((c1.user + c1.system - c0.user - c0.system) / 1000 / (performance.now() - t0)) * 100);
        if (mode === 'qos1' && (row.lost !== 0 || row.duplicates !== 0 || row.outOfOrder !== 0)) {
          throw new Error(`QoS 1: ${row.lost} lost, ${row.duplicates} duplicated, ${row.outOfOrder} out of order`);
        }
        // Paced: `rate` messages/s, sent on a schedule (not waiting for acks).
        r.reset();
        const total = Math.round(o.rate * o.seconds);
        const p0 = performance.now();
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < total && Date.now() < deadline; i++) {
          const due = p0 + (i * 1000) / o.rate;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          pending.push(send(mode, { seq: o.messages + i, t: performance.now(), text: pad(i) }));
        }
        await Promise.all(pending);
        await drain(() => r.received, total, 5000, deadline);
        row.pacedReceived = r.received;
        row.p50Ms = percentile(r.lat, 50);
        row.p99Ms = percentile(r.lat, 99);
      } catch (err) {
        row.error = err instanceof Error ? err.message : String(err);
        log(`${mode} FAILED: ${row.error}`);
      }
      rows.push(row);
    }
  } finally {
    web?.close();
    await device?.endAsync().catch(() => {});
    await child?.stop();
  }
  return rows;
}

export function render(rows: readonly MqttRow[]): string {
  const out = ['| mode | messages/s | lost | dup | flood p50 / p99 ms | paced rate | p50 ms | p99 ms | node CPU % |', '|---|--:|--:|--:|--:|--:|--:|--:|--:|'];
  for (const r of rows) {
    if (r.error) out.push(`| ${r.mode} | failed: ${r.error} |`);
    else out.push(`| ${r.mode} | ${r.deliveriesPerSec} | ${r.lost} of ${r.messages} | ${r.duplicates} | ${r.floodP50Ms} / ${r.floodP99Ms} | ${r.rate}/s | ${r.p50Ms} | ${r.p99Ms} | ${r.serverCpuPct} |`);
  }
  out.push('', 'device (mqtt.js, MQTT 5) → Mosquitto → bridge → Switchboard → SDK WebSocket subscriber; messages/s as received by the subscriber');
  return out.join('\n');
}

if (process.argv.includes('--serve')) {
  await serveChild();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run(process.argv.slice(2))
    .then((rows) => {
      process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify({ results: rows }, null, 2)}\n` : `${render(rows)}\n`);
      process.exit(rows.some((r) => r.error) ? 1 : 0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`bench mqtt failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
}
