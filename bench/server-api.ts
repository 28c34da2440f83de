/**
 * Server API benchmark (issue 15 item 1): publishes per second and latency over the gRPC API
 * (unary `Publish`, client-streaming `PublishStream`) and the HTTP API (`POST /api/publish`,
 * keep-alive), against one node, in the same run and at the same concurrency.
 *
 *     npx tsx bench/server-api.ts [--seconds 5] [--warmup 1] [--concurrency 64] [--batch 100]
 *                                 [--prewarm 1] [--size 100] [--channels 100] [--json] [--no-pin]
 *                                 [--modes grpc-unary,grpc-stream,http,bare-connect,bare-grpc-js,bare-h2]
 *                                 [--client grpc-js|h2] [--clients 1] [--sessions 1] [--rounds 1]
 *     npm run bench -- server-api [same flags]
 *
 * The node runs in a child process (this file with `--serve`): memory broker, history on (100
 * kept, like a chat namespace), an API key, pinned to CPU 0 when `taskset` exists; the clients
 * run here, on the other CPUs. Each mode floods for `warmup` seconds, then is measured for
 * `seconds`, after a first round that floods every mode for `prewarm` seconds (1; so the mode that
 * comes first does not pay for the JIT warming up the shared paths):
 * - `grpc-unary`: `concurrency` Publish calls in flight on one grpc-js channel (one HTTP/2
 *   connection, the way a backend uses gRPC); latency per call.
 * - `grpc-stream`: `concurrency` PublishStream calls at once, each of `batch` messages, started
 *   again when it ends; publishes/s counts messages; latency is per call (a whole batch).
 * - `http`: `concurrency` requests in flight over `concurrency` keep-alive connections
 *   (node:http Agent); latency per request.
 * - `bare-connect`, `bare-grpc-js` (the anchors): unary calls as `grpc-unary`, to a Publish that
 *   stores nothing and answers at once, served in the same child by a bare Connect server
 *   (node:http2 + connectNodeAdapter, what grpc.ts builds on) and by @grpc/grpc-js's own server:
 *   the ceiling each library sets before Switchboard does any work.
 * - `bare-h2` (the floor): unary calls to a node:http2 server that reads the request and answers a
 *   canned PublishResponse with grpc-status 0 — no parsing, no handler: what node:http2 itself
 *   costs per gRPC call, under any server built on it (grpc-js's, Connect's, grpc-native.ts).
 * Every mode sends the same `size`-byte JSON publications round-robin over `channels` channels.
 *
 * The load generator (issue 15): `--client h2` drives the unary gRPC modes (grpc-unary and the two
 * anchors) with a raw node:http2 client instead of grpc-js — pre-encoded length-prefixed Publish
 * requests on `sessions` HTTP/2 connections, the status read from the trailers — which costs the
 * client several times less per call than grpc-js, so the server, not the client, is the limit;
 * grpc-stream always uses grpc-js. `--clients N` runs the load in N child processes (each with
 * concurrency/N in flight and its own channel or sessions) instead of this one; their CPU is
 * summed in `clientCpuPct`.
 * The row also gives the server's CPU per publish (process.cpuUsage of the child over the window)
 * and the load generator's, so a reader can see which side was the limit.
 *
 * Pitfalls: on a 2-core machine the one load-generator process (grpc-js costs about as much per
 * call as the server) is often the limit, not the server; read `serverCpuPct`: below ~90 % the
 * server had room left. A machine shared with other work makes the run noisy (the load average is
 * printed).
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ResultRow } from './result.ts';

const KEY = 'bench-server-api-key';
const log = (s: string): void => {
  process.stderr.write(`[bench server-api] ${s}\n`);
};

export type ServerApiRow = ResultRow & {
  mode: string;
  publishesPerSec: number | null;
  concurrency: number;
  /** Messages per PublishStream call (grpc-stream only). */
  batch: number | null;
  /** What p50/p99 measure: one call, or one batch of `batch` messages. */
  latencyOf: 'call' | 'batch';
  serverCpuPct: number | null;
  serverUsPerPublish: number | null;
  clientCpuPct: number | null;
  errors: number;
  /** Which pass over the modes (`--rounds`), from 1. */
  round: number;
  /** The load generator: `grpc-js` or `h2` (raw node:http2), processes and HTTP/2 connections each. */
  client: string;
  error?: string;
};

interface Options {
  seconds: number;
  warmup: number;
  /** Seconds each mode is flooded, in a first round before any is measured. */
  prewarm: number;
  concurrency: number;
  batch: number;
  size: number;
  channels: number;
  modes: string[];
  json: boolean;
  pin: boolean;
  /** Who drives the unary gRPC modes: grpc-js, or a raw node:http2 client. */
  client: 'grpc-js' | 'h2';
  /** Load-generator processes. */
  clients: number;
  /** HTTP/2 connections per load process (`--client h2`). */
  sessions: number;
  /** Passes over the modes, one after the other (on a noisy machine, so each mode sees the same conditions). */
  rounds: number;
}

const MODES = ['grpc-unary', 'grpc-stream', 'http', 'bare-connect', 'bare-grpc-js', 'bare-h2'];

function parse(argv: string[]): Options {
  const o: Options = { seconds: 5, warmup: 1, prewarm: 1, concurrency: 64, batch: 100, size: 100, channels: 100, modes: [...MODES], json: false, pin: true, client: 'grpc-js', clients: 1, sessions: 1, rounds: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number, got ${argv[i] ?? 'nothing'}`);
      return v;
    };
    if (a === '--seconds') o.seconds = num();
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--prewarm') o.prewarm = argv[i + 1] === '0' ? (i++, 0) : num();
    else if (a === '--concurrency') o.concurrency = Math.round(num());
    else if (a === '--batch') o.batch = Math.round(num());
    else if (a === '--size') o.size = Math.round(num());
    else if (a === '--channels') o.channels = Math.round(num());
    else if (a === '--json') o.json = true;
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--clients') o.clients = Math.round(num());
    else if (a === '--sessions') o.sessions = Math.round(num());
    else if (a === '--rounds') o.rounds = Math.round(num());
    else if (a === '--client') {
      const c = argv[++i];
      if (c !== 'grpc-js' && c !== 'h2') throw new Error(`--client takes grpc-js or h2, got ${c ?? 'nothing'}`);
      o.client = c;
    }
    else if (a === '--modes') {
      o.modes = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const m of o.modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (${MODES.join(', ')})`);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

// ---- the server child ------------------------------------------------------------------------

async function serveChild(): Promise<void> {
  const { startNode } = await import('../src/app/index.ts');
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    apiKey: KEY,
    allowAnonymous: true,
    adminSecret: 'bench-server-api-admin-secret',
    clusterSecret: 'bench-server-api-cluster-secret',
    namespaces: { bench: { historySize: 100, historyTtl: 600 } },
  });
  await node.startGrpc(0);
  // The anchors: the two gRPC server libraries with a Publish that does nothing, in this process.
  const { createServer: createH2 } = await import('node:http2');
  const { connectNodeAdapter } = await import('@connectrpc/connect-node');
  const { ApiService } = await import('../src/api/gen/switchboard/v1/api_pb.ts');
  const bareConnect = createH2(connectNodeAdapter({ routes: (r) => r.service(ApiService, { publish: async () => ({ epoch: 'bare', offset: 1n }) }) }));
  await new Promise<void>((r) => bareConnect.listen(0, '127.0.0.1', r));
  const grpc = await import('@grpc/grpc-js');
  const protoLoader = await import('@grpc/proto-loader');
  const def = protoLoader.loadSync(fileURLToPath(new URL('../proto/switchboard/v1/api.proto', import.meta.url)), { longs: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { switchboard: { v1: { ApiService: { service: import('@grpc/grpc-js').ServiceDefinition } } } };
  const bareGrpc = new grpc.Server();
  bareGrpc.addService(pkg.switchboard.v1.ApiService.service, { Publish: (_c: unknown, cb: (e: null, r: object) => void) => cb(null, { epoch: 'bare', offset: '1' }) });
  const grpcJsPort = await new Promise<number>((r, j) => bareGrpc.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  const { create, toBinary } = await import('@bufbuild/protobuf');
  const { PublishResponseSchema } = await import('../src/api/gen/switchboard/v1/api_pb.ts');
  const canned = toBinary(PublishResponseSchema, create(PublishResponseSchema, { epoch: 'bare', offset: 1n }));
  const cannedFrame = Buffer.alloc(5 + canned.length);
  cannedFrame.writeUInt32BE(canned.length, 1);
  cannedFrame.set(canned, 5);
  const bareH2 = createH2();
  bareH2.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.on('data', () => {});
    stream.once('end', () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(cannedFrame);
    });
  });
  await new Promise<void>((r) => bareH2.listen(0, '127.0.0.1', r));
  process.on('message', (m: { type: string }) => {
    if (m.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage(), publishes: node.stats.publishes });
    if (m.type === 'stop') void node.close().then(() => process.exit(0));
  });
  process.send?.({ type: 'ready', http: node.port, grpc: node.grpc!.address, bareConnect: `127.0.0.1:${(bareConnect.address() as { port: number }).port}`, bareGrpcJs: `127.0.0.1:${grpcJsPort}`, bareH2: `127.0.0.1:${(bareH2.address() as { port: number }).port}` });
}

/** Where each mode sends its load. */
interface Targets {
  httpPort: number;
  grpcAddress: string;
  bareConnect: string;
  bareGrpcJs: string;
  bareH2: string;
}

interface ChildHandle extends Targets {
  proc: ChildProcess;
  cpu(): Promise<{ usage: NodeJS.CpuUsage; publishes: number }>;
  stop(): Promise<void>;
}

async function startChild(pin: boolean): Promise<ChildHandle> {
  const proc = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: ['--import', 'tsx', ...(process.env.SERVER_API_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SERVER_API_CPU_PROF}`] : [])], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const ready = await new Promise<{ http: number; grpc: string; bareConnect: string; bareGrpcJs: string; bareH2: string }>((resolve, reject) => {
    proc.once('message', (m: { type: string; http: number; grpc: string; bareConnect: string; bareGrpcJs: string; bareH2: string }) => (m.type === 'ready' ? resolve(m) : reject(new Error(`unexpected ${m.type}`))));
    proc.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
  });
  if (pin && cpus().length >= 2) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', '0', String(proc.pid)], { stdio: 'ignore' });
      execFileSync('taskset', ['-a', '-p', '-c', `1-${cpus().length - 1}`, String(process.pid)], { stdio: 'ignore' });
    } catch {
      log('taskset unavailable: server and clients are not pinned');
    }
  }
  return {
    proc,
    httpPort: ready.http,
    grpcAddress: ready.grpc,
    bareConnect: ready.bareConnect,
    bareGrpcJs: ready.bareGrpcJs,
    bareH2: ready.bareH2,
    cpu: () =>
      new Promise((resolve) => {
        const on = (m: { type: string; usage: NodeJS.CpuUsage; publishes: number }) => {
          if (m.type !== 'cpu') return;
          proc.off('message', on);
          resolve(m);
        };
        proc.on('message', on);
        proc.send({ type: 'cpu' });
      }),
    stop: () =>
      new Promise((resolve) => {
        proc.once('exit', () => resolve());
        proc.send({ type: 'stop' });
        setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
      }),
  };
}

// ---- the clients -----------------------------------------------------------------------------

/** One unit of work: resolves with how many publishes it made (1, or a batch). */
type Worker = () => Promise<number>;

interface Runner {
  work: Worker;
  close(): void;
}

function payload(size: number, i: number): Buffer {
  const base = JSON.stringify({ seq: i, text: '' });
  return Buffer.from(JSON.stringify({ seq: i, text: 'x'.repeat(Math.max(0, size - base.length)) }));
}

async function grpcRunner(address: string, o: Options, streaming: boolean): Promise<Runner> {
  const grpc = await import('@grpc/grpc-js');
  const protoLoader = await import('@grpc/proto-loader');
  const proto = fileURLToPath(new URL('../proto/switchboard/v1/api.proto', import.meta.url));
  const def = protoLoader.loadSync(proto, { longs: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { switchboard: { v1: { ApiService: new (a: string, c: unknown) => any } } };
  const client = new pkg.switchboard.v1.ApiService(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('authorization', `apikey ${KEY}`);
  let seq = 0;
  const unary: Worker = () =>
    new Promise((resolve, reject) => {
      const i = seq++;
      client.Publish({ channel: `bench:c${i % o.channels}`, data: payload(o.size, i) }, md, (err: Error | null) => (err ? reject(err) : resolve(1)));
    });
  const stream: Worker = () =>
    new Promise((resolve, reject) => {
      const s = client.PublishStream(md, (err: Error | null, res: { published: string; failed: string }) => {
        if (err) return reject(err);
        if (res.failed !== '0') return reject(new Error(`${res.failed} messages refused`));
        resolve(Number(res.published));
      });
      let k = 0;
      const pump = (): void => {
        while (k < o.batch) {
          const i = seq++;
          k++;
          if (!s.write({ channel: `bench:c${i % o.channels}`, data: payload(o.size, i) })) {
            s.once('drain', pump);
            return;
          }
        }
        s.end();
      };
      pump();
    });
  return { work: streaming ? stream : unary, close: () => client.close() };
}

function httpRunner(port: number, o: Options): Runner {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  let seq = 0;
  const work: Worker = () =>
    new Promise((resolve, reject) => {
      const i = seq++;
      const body = Buffer.from(`{"channel":"bench:c${i % o.channels}","data":${payload(o.size, i).toString()}}`);
      const req = request(
        { host: '127.0.0.1', port, path: '/api/publish', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: `apikey ${KEY}` } },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve(1) : reject(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return { work, close: () => agent.destroy() };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Flood {
  /** Starts counting publishes and latencies (and this process's CPU). */
  measure(): void;
  /** Stops counting, then the workers; what was counted. */
  stop(): Promise<{ publishes: number; lat: number[]; errors: number; cpuUs: number }>;
}

/** `concurrency` workers calling `runner.work()` back to back until stopped. */
function flood(runner: Runner, concurrency: number): Flood {
  const lat: number[] = [];
  let publishes = 0;
  let errors = 0;
  let measuring = false;
  let stopped = false;
  let u0 = process.cpuUsage();
  let cpuUs = 0;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        const n = await runner.work();
        if (measuring) {
          lat.push(performance.now() - t0);
          publishes += n;
        }
      } catch (err) {
        errors++;
        if (errors === 1) log(`error: ${(err as Error).message}`);
        if (errors > 100) throw err;
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    measure() {
      u0 = process.cpuUsage();
      measuring = true;
    },
    async stop() {
      measuring = false;
      const u = process.cpuUsage(u0);
      cpuUs = u.user + u.system;
      stopped = true;
      await Promise.all(loops);
      return { publishes, lat, errors, cpuUs };
    },
  };
}

/** Load in `o.clients` child processes (this file with `--load`), each with its share of `concurrency`. */
async function loaders(mode: string, child: ChildHandle, o: Options): Promise<{ measure(): void; stop(): Promise<Array<{ publishes: number; lat: number[]; errors: number; cpuUs: number }>> }> {
  const targets: Targets = { httpPort: child.httpPort, grpcAddress: child.grpcAddress, bareConnect: child.bareConnect, bareGrpcJs: child.bareGrpcJs, bareH2: child.bareH2 };
  const procs = Array.from({ length: o.clients }, (_, k) => {
    const share = Math.floor(o.concurrency / o.clients) + (k < o.concurrency % o.clients ? 1 : 0);
    const p = fork(fileURLToPath(import.meta.url), ['--load'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    p.send({ type: 'start', mode, targets, o: { ...o, concurrency: Math.max(1, share) } });
    return p;
  });
  const next = (p: ChildProcess, type: string) =>
    new Promise<any>((resolve, reject) => {
      const on = (m: { type: string }) => {
        if (m.type !== type) return;
        p.off('message', on);
        resolve(m);
      };
      p.on('message', on);
      p.once('exit', (code) => reject(new Error(`load process exited with ${code}`)));
    });
  await Promise.all(procs.map((p) => next(p, 'ready')));
  if (o.pin && cpus().length >= 2) {
    for (const p of procs) {
      try {
        execFileSync('taskset', ['-a', '-p', '-c', `1-${cpus().length - 1}`, String(p.pid)], { stdio: 'ignore' });
      } catch {
        // unpinned, as the bench process then is
      }
    }
  }
  for (const p of procs) p.send({ type: 'go' });
  return {
    measure: () => procs.forEach((p) => p.send({ type: 'measure' })),
    stop: async () => {
      const results = procs.map((p) => next(p, 'result'));
      for (const p of procs) p.send({ type: 'stop' });
      return Promise.all(results);
    },
  };
}

/** The `--load` child: one load process of `--clients N`. */
function loadChild(): void {
  let f: Flood | undefined;
  let runner: Runner | undefined;
  let opts: Options | undefined;
  process.on('message', (m: { type: string; mode: string; targets: Targets; o: Options }) => {
    void (async () => {
      if (m.type === 'start') {
        opts = m.o;
        runner = await runnerFor(m.mode, m.targets, m.o);
        process.send?.({ type: 'ready' });
      } else if (m.type === 'go') f = flood(runner!, opts!.concurrency);
      else if (m.type === 'measure') f!.measure();
      else if (m.type === 'stop') {
        const r = await f!.stop();
        runner!.close();
        process.send?.({ type: 'result', ...r }, () => process.exit(0));
      }
    })();
  });
}

/** Floods `mode` for warmup + seconds (in this process or `o.clients` others); measures the second window. */
async function measure(mode: string, o: Options, child: ChildHandle): Promise<{ publishes: number; ms: number; lat: Float64Array; errors: number; serverCpuUs: number; serverPublishes: number; clientCpuUs: number }> {
  let runner: Runner | undefined;
  let load: { measure(): void; stop(): Promise<Array<{ publishes: number; lat: number[]; errors: number; cpuUs: number }>> };
  if (o.clients > 1) load = await loaders(mode, child, o);
  else {
    runner = await runnerFor(mode, child, o);
    const f = flood(runner, o.concurrency);
    load = { measure: () => f.measure(), stop: async () => [await f.stop()] };
  }
  try {
    await new Promise((r) => setTimeout(r, o.warmup * 1000));
    const c0 = await child.cpu();
    const t0 = performance.now();
    load.measure();
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const parts = await load.stop();
    const ms = performance.now() - t0;
    const c1 = await child.cpu();
    const lat = Float64Array.from(parts.flatMap((p) => p.lat)).sort();
    return {
      publishes: parts.reduce((a, p) => a + p.publishes, 0),
      ms,
      lat,
      errors: parts.reduce((a, p) => a + p.errors, 0),
      serverCpuUs: c1.usage.user + c1.usage.system - (c0.usage.user + c0.usage.system),
      serverPublishes: c1.publishes - c0.publishes,
      clientCpuUs: parts.reduce((a, p) => a + p.cpuUs, 0),
    };
  } finally {
    runner?.close();
  }
}

async function runnerFor(mode: string, child: Targets, o: Options): Promise<Runner> {
  const address = mode === 'bare-connect' ? child.bareConnect : mode === 'bare-grpc-js' ? child.bareGrpcJs : mode === 'bare-h2' ? child.bareH2 : child.grpcAddress;
  if (mode === 'http') return httpRunner(child.httpPort, o);
  if (mode !== 'grpc-stream' && o.client === 'h2') return h2Runner(address, o);
  return grpcRunner(address, o, mode === 'grpc-stream');
}

/**
 * Unary Publish over raw node:http2: pre-encoded requests (the same publications as grpc-js
 * sends), round-robin over `sessions` connections; a call fails unless its trailers say
 * grpc-status 0.
 */
async function h2Runner(address: string, o: Options): Promise<Runner> {
  const { connect, constants } = await import('node:http2');
  const { create, toBinary } = await import('@bufbuild/protobuf');
  const { PublishRequestSchema } = await import('../src/api/gen/switchboard/v1/api_pb.ts');
  const sessions = Array.from({ length: o.sessions }, () => {
    const s = connect(`http://${address}`);
    s.on('error', () => {});
    return s;
  });
  await Promise.all(sessions.map((s) => new Promise<void>((resolve, reject) => s.once('connect', () => resolve()).once('error', reject))));
  // As many distinct frames as grpc-js would send before repeating a channel/seq pattern that matters.
  const frames = Array.from({ length: Math.max(o.channels, 1000) }, (_, i) => {
    const msg = toBinary(PublishRequestSchema, create(PublishRequestSchema, { channel: `bench:c${i % o.channels}`, data: payload(o.size, i) }));
    const f = Buffer.alloc(5 + msg.length);
    f.writeUInt32BE(msg.length, 1);
    f.set(msg, 5);
    return f;
  });
  const headers = { [constants.HTTP2_HEADER_METHOD]: 'POST', [constants.HTTP2_HEADER_PATH]: '/switchboard.v1.ApiService/Publish', 'content-type': 'application/grpc', te: 'trailers', authorization: `apikey ${KEY}` };
  let seq = 0;
  const work: Worker = () =>
    new Promise((resolve, reject) => {
      const i = seq++;
      const st = sessions[i % sessions.length]!.request(headers);
      let status: unknown;
      st.on('response', (h) => (status = h['grpc-status'] ?? status));
      st.on('trailers', (t) => (status = t['grpc-status']));
      st.on('data', () => {});
      st.on('error', reject);
      st.on('close', () => (status === '0' ? resolve(1) : reject(new Error(`grpc-status ${String(status)} (rst ${st.rstCode})`))));
      st.end(frames[i % frames.length]);
    });
  return { work, close: () => sessions.forEach((s) => s.destroy()) };
}

export async function run(argv: string[]): Promise<ServerApiRow[]> {
  const o = parse(argv);
  log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, ${cpus().length} CPUs; concurrency ${o.concurrency}, client ${o.client} × ${o.clients}, ${o.size}-byte publications over ${o.channels} channels, ${o.warmup}+${o.seconds} s per mode`);
  const child = await startChild(o.pin);
  const rows: ServerApiRow[] = [];
  try {
    // The first mode measured right after the child starts would pay for the JIT warming up the
    // shared paths (node:http2, the node's publish): every mode is flooded once before any counts.
    if (o.prewarm > 0) {
      log(`pre-warming every mode for ${o.prewarm} s…`);
      for (const mode of o.modes) {
        try {
          await measure(mode, { ...o, warmup: o.prewarm, seconds: 0.05 }, child);
        } catch {
          // measured again below, where a failure is reported
        }
      }
    }
    for (let round = 1; round <= o.rounds; round++) for (const mode of o.modes) {
      log(`${mode}${o.rounds > 1 ? ` (round ${round} of ${o.rounds})` : ''}…`);
      const row: ServerApiRow = {
        round,
        scenario: 'server-api',
        system: `switchboard/${mode}`,
        mode,
        deliveriesPerSec: null,
        publishesPerSec: null,
        p50Ms: null,
        p99Ms: null,
        kibPerConnection: null,
        concurrency: o.concurrency,
        batch: mode === 'grpc-stream' ? o.batch : null,
        latencyOf: mode === 'grpc-stream' ? 'batch' : 'call',
        serverCpuPct: null,
        serverUsPerPublish: null,
        clientCpuPct: null,
        errors: 0,
        client: `${mode === 'http' ? 'node:http' : mode === 'grpc-stream' ? 'grpc-js' : o.client} × ${o.clients} process${o.clients > 1 ? 'es' : ''}${o.client === 'h2' && mode !== 'http' && mode !== 'grpc-stream' ? `, ${o.sessions} connection${o.sessions > 1 ? 's' : ''} each` : ''}`,
      };
      try {
        const m = await measure(mode, o, child);
        const perSec = Math.round((m.publishes / m.ms) * 1000);
        row.deliveriesPerSec = perSec;
        row.publishesPerSec = perSec;
        row.p50Ms = Number(percentile(m.lat, 50).toFixed(2));
        row.p99Ms = Number(percentile(m.lat, 99).toFixed(2));
        row.serverCpuPct = Math.round((m.serverCpuUs / 1000 / m.ms) * 100);
        // The anchors store nothing: their CPU per call is over the calls the client counted.
        const served = mode.startsWith('bare-') ? m.publishes : m.serverPublishes;
        row.serverUsPerPublish = served > 0 ? Number((m.serverCpuUs / served).toFixed(1)) : null;
        row.clientCpuPct = Math.round((m.clientCpuUs / 1000 / m.ms) * 100);
        row.errors = m.errors;
      } catch (err) {
        row.error = err instanceof Error ? err.message : String(err);
        log(`${mode} FAILED: ${row.error}`);
      }
      rows.push(row);
    }
  } finally {
    await child.stop();
  }
  return rows;
}

export function render(rows: readonly ServerApiRow[]): string {
  const rounds = new Set(rows.map((r) => r.round)).size > 1;
  const out = [`| ${rounds ? 'round | ' : ''}mode | publishes/s | p50 ms | p99 ms | latency of | server CPU % | server µs/publish | client CPU % | errors |`, `|${rounds ? '--:|' : ''}---|--:|--:|--:|---|--:|--:|--:|--:|`];
  for (const r of rows) {
    const lead = rounds ? `| ${r.round} | ` : '| ';
    if (r.error) out.push(`${lead}${r.mode} | failed: ${r.error} |`);
    else out.push(`${lead}${r.mode} | ${r.publishesPerSec} | ${r.p50Ms} | ${r.p99Ms} | ${r.latencyOf === 'batch' ? `batch of ${r.batch}` : 'call'} | ${r.serverCpuPct} | ${r.serverUsPerPublish} | ${r.clientCpuPct} | ${r.errors} |`);
  }
  out.push('', `concurrency ${rows[0]?.concurrency ?? '-'} (calls, streams or keep-alive requests in flight); clients: ${[...new Set(rows.map((r) => `${r.mode}: ${r.client}`))].join('; ')}; the seed's Node figure for gRPC: 50–100 K requests/s`);
  return out.join('\n');
}

if (process.argv.includes('--serve')) {
  await serveChild();
} else if (process.argv.includes('--load')) {
  loadChild();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run(process.argv.slice(2))
    .then((rows) => {
      process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify({ results: rows }, null, 2)}\n` : `${render(rows)}\n`);
      process.exit(rows.some((r) => r.error) ? 1 : 0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`bench server-api failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
}
