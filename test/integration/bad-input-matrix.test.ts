/**
 * The bad-input matrix: every entry point × every kind of hostile input, one row per case.
 *
 * Each row states its entry point, the input and the documented answer (docs/protocol.md,
 * README "Configuration"); after each row the harness checks that
 *   - a bystander client (subscribed on another connection) still receives publications and was
 *     never disconnected,
 *   - the server is back to its baseline number of sessions (nothing leaked a session),
 * and at the end that the server's heap after forced GC is back near its baseline.
 *
 * The server runs in a child process (`node --expose-gc`) so its memory is measured alone and a
 * crash shows as a failed row instead of taking the test runner down.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { msgpackCodec } from '../../src/protocol/codec.ts';
import { RawClient } from '../helpers/raw-client.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'matrix-secret-matrix-secret-matrix';
const API_KEY = 'matrix-api-key';
const MAX_MESSAGE = 16_384;
const PER_IP = 10;
/** Sockets per address that may sit before sending their request (slowloris bound); above API-flood concurrency. */
const PENDING = 100;
/**
 * Node's HTTP requestTimeout, fixed at 30 s in node.ts (not an option, and Node reads it only when
 * the server is created). Slow-body rows start in before() and are checked at the end, so the
 * matrix waits for it only once, in parallel with the other rows.
 */
const REQUEST_TIMEOUT_MS = 30_000;

// ---- the server under test -----------------------------------------------------------------------

const SERVER = `
import { startNode } from ${JSON.stringify(join(ROOT, 'src/app/index.ts'))};
import { installSse } from ${JSON.stringify(join(ROOT, 'src/transports/sse/endpoint.ts'))};
const node = await startNode({
  port: 0, host: '127.0.0.1', name: 'matrix',
  jwt: { secret: ${JSON.stringify(SECRET)} }, apiKey: ${JSON.stringify(API_KEY)},
  allowedOrigins: ['https://good.example'],
  defaultNamespace: { subscribe: 'authenticated', publish: 'authenticated' },
  maxMessageBytes: ${MAX_MESSAGE}, maxQueueBytes: 65536, maxSubscriptions: 8,
  rateLimit: 50, rateBurst: 20, connectTimeout: 1, handshakeTimeout: 1,
  pingInterval: 1, pongTimeout: 2, maxConnectionsPerIp: ${PER_IP}, maxPendingPerIp: ${PENDING},
});
installSse(node, { absenceTimeout: 1, maxQueuedPosts: 4 });
process.send({ port: node.port });
process.on('message', (m) => {
  if (m.cmd !== 'state') return;
  if (m.gc) for (let i = 0; i < 3; i++) globalThis.gc();
  const mu = process.memoryUsage();
  process.send({ id: m.id, heapUsed: mu.heapUsed, external: mu.external, sessions: node.sessions.size, connections: node.connectionCount, channels: node.hub.channelCount });
});
process.on('disconnect', () => node.close().then(() => process.exit(0)));
`;

interface ServerState {
  heapUsed: number;
  external: number;
  sessions: number;
  connections: number;
  channels: number;
}

class Harness {
  child!: ChildProcess;
  port = 0;
  bystander!: RawClient;
  private seq = 0;
  readonly tmp = mkdtempSync(join(tmpdir(), 'sb-matrix-'));

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/connection/websocket`;
  }
  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', SERVER], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.port = await new Promise<number>((resolve, reject) => {
      this.child.once('message', (m: { port: number }) => resolve(m.port));
      this.child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
    });
    this.child.on('exit', (code, signal) => {
      if (!this.stopping) console.error(`matrix server exited unexpectedly: ${code ?? signal}`);
    });
    this.bystander = await RawClient.connect(this.wsUrl, { token: await token('bystander') });
    await this.bystander.request({ t: 'sub', ch: 'watch' });
  }

  stopping = false;
  async stop(): Promise<void> {
    this.stopping = true;
    this.bystander.close();
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    await Promise.race([exited, sleep(3000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    rmSync(this.tmp, { recursive: true, force: true });
  }

  /** The server's figures; with `gc`, after forced garbage collection. */
  state(gc = true): Promise<ServerState> {
    assert.equal(this.child.exitCode, null, 'the server process is alive');
    const id = ++this.seq;
    return new Promise((resolve) => {
      const on = (m: ServerState & { id: number }) => {
        if (m.id !== id) return;
        this.child.off('message', on);
        resolve(m);
      };
      this.child.on('message', on);
      this.child.send({ cmd: 'state', id, gc });
    });
  }

  /** The bystander still receives publications (via the HTTP API) and was never disconnected. */
  async bystanderAlive(): Promise<void> {
    assert.equal(this.bystander.closeCode, 0, `the bystander was disconnected: ${this.bystander.closeCode} ${this.bystander.closeReason}`);
    const n = this.bystander.pubs('watch').length;
    const r = await api(this, 'publish', { channel: 'watch', data: n });
    assert.equal(r.status, 200);
    await this.bystander.waitCount((f) => f.t === 'pub' && f.ch === 'watch', n + 1, 3000);
  }

  /** Waits until only the bystander's session is left. */
  async settled(gc = false): Promise<ServerState> {
    const end = Date.now() + 6000;
    for (;;) {
      const s = await this.state(false);
      if (s.sessions === 1 && s.connections === 1) return gc ? this.state(true) : s;
      if (Date.now() > end) assert.fail(`sessions did not return to baseline: ${JSON.stringify(s)}`);
      await sleep(100);
    }
  }
}

// ---- clients and helpers ---------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function token(sub: string, opts: { exp?: number; secret?: string } = {}): Promise<string> {
  const j = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt();
  if (opts.exp !== undefined) j.setExpirationTime(opts.exp);
  return j.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

function noneToken(): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: 'admin' })}.`;
}

async function authed(h: Harness, format: 'json' | 'msgpack' = 'json'): Promise<RawClient> {
  return RawClient.connect(h.wsUrl, { token: await token('u1'), format });
}

/** The connection ends with `code`, announced first by a disconnect frame with the right reconnect flag. */
async function closesWith(c: RawClient, code: number): Promise<void> {
  const { code: got } = await c.closed;
  assert.equal(got, code, `close code (frames: ${JSON.stringify(c.frames).slice(0, 300)})`);
  const d = c.frames.find((f) => f.t === 'disconnect');
  assert.ok(d, 'a disconnect frame precedes the close');
  assert.equal(d.code, code);
  assert.equal(d.reconnect, code < 3500);
}

interface RawResult {
  text: string;
  /** The server closed the socket (rather than our timeout). */
  closedByServer: boolean;
  ms: number;
}

/** Writes `parts` on a fresh TCP connection (with `gapMs` between them) and collects the answer until the server closes or `timeoutMs`. */
function raw(h: Harness, parts: Array<string | Buffer>, opts: { timeoutMs?: number; gapMs?: number; localAddress?: string } = {}): Promise<RawResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const s = net.connect({ port: h.port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    let text = '';
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closedByServer, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 5000);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.on('connect', async () => {
      for (const p of parts) {
        if (done || s.destroyed) return;
        s.write(p);
        if (opts.gapMs) await sleep(opts.gapMs);
      }
    });
  });
}

const UPGRADE = (path = '/connection/websocket', extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

/** A masked client frame; `len` overrides the encoded payload length (to lie about it). */
function wsFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; masked?: boolean; len?: bigint } = {}): Buffer {
  const fin = opts.fin ?? true;
  const masked = opts.masked ?? true;
  const n = opts.len ?? BigInt(payload.length);
  let head: Buffer;
  if (n < 126n) head = Buffer.from([(fin ? 0x80 : 0) | opcode, (masked ? 0x80 : 0) | Number(n)]);
  else if (n < 65536n) {
    head = Buffer.alloc(4);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = (masked ? 0x80 : 0) | 126;
    head.writeUInt16BE(Number(n), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = (masked ? 0x80 : 0) | 127;
    head.writeBigUInt64BE(n, 2);
  }
  if (!masked) return Buffer.concat([head, payload]);
  return Buffer.concat([head, Buffer.alloc(4), payload]); // zero mask: payload unchanged
}

/** Upgrades on a raw socket, sends `frames`, and returns the close code of the server's close frame (-1 if none). */
function wsRaw(h: Harness, frames: Buffer[]): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect(h.port, '127.0.0.1', () => s.write(UPGRADE()));
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (!upgraded && end !== -1) {
        upgraded = true;
        buf = buf.subarray(end + 4);
        for (const f of frames) s.write(f);
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      const i = buf.lastIndexOf(0x88);
      resolve(i >= 0 && buf.length >= i + 4 ? buf.readUInt16BE(i + 2) : -1);
    });
  });
}

async function api(h: Harness, method: string, body: unknown, opts: { key?: string | null; type?: string; raw?: string; httpMethod?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'Content-Type': opts.type ?? 'application/json' };
  if (opts.key !== null) headers.Authorization = `apikey ${opts.key ?? API_KEY}`;
  const res = await fetch(`${h.httpUrl}/api/${method}`, {
    method: opts.httpMethod ?? 'POST',
    headers,
    ...(opts.httpMethod === 'GET' ? {} : { body: opts.raw ?? JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: res.status, body: parsed };
}

/** Opens an SSE stream and returns its session key and a function that closes it. */
async function sseOpen(h: Harness, opts: { localAddress?: string } = {}): Promise<{ key: string; status: number; close: () => void; text: () => string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: h.port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, () =>
      s.write('GET /connection/sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n'),
    );
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no SSE session event: ${text}`)), 3000);
    s.on('error', () => {});
    s.on('data', (d) => {
      text += d.toString();
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
      const m = /event: session\ndata: (\{.*\})\n/.exec(text);
      if (m || (status !== 0 && status !== 200 && text.includes('\r\n\r\n{'))) {
        clearTimeout(timer);
        resolve({ key: m ? (JSON.parse(m[1]!) as { session: string }).session : '', status, close: () => s.destroy(), text: () => text });
      }
    });
  });
}

async function ssePost(h: Harness, key: string | null, body: string, type = 'application/json'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${h.httpUrl}/connection/sse${key === null ? '' : `?session=${key}`}`, { method: 'POST', headers: { 'Content-Type': type }, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/**
 * Runs `switchboard start` with a config file and/or environment and expects exit code 2 naming the
 * problem. Started once, early (each run is a tsx start-up of a second or two; they overlap the
 * other rows), and awaited by its row.
 */
const cliRuns = new Map<string, Promise<{ code: number | null; stderr: string }>>();
function cliRun(tmp: string, config: string | null, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const id = JSON.stringify([config, env]);
  let p = cliRuns.get(id);
  if (p) return p;
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'start', '--port', '0', '--host', '127.0.0.1'];
  if (config !== null) {
    const file = join(tmp, `c${cliRuns.size}.json`);
    writeFileSync(file, config);
    args.push('--config', file);
  }
  p = new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  cliRuns.set(id, p);
  return p;
}

async function cli(h: Harness, config: string | null, env: Record<string, string>, message: RegExp): Promise<void> {
  const { code, stderr } = await cliRun(h.tmp, config, env);
  assert.equal(code, 2, `exit code (stderr: ${stderr})`);
  assert.match(stderr, message);
}

// ---- the matrix ------------------------------------------------------------------------------------

type Entry = 'ws-upgrade' | 'ws-frames' | 'sse' | 'poll' | 'http-api' | 'cli-config';

interface Row {
  entry: Entry;
  input: string;
  expect: string;
  /** The documented/desired answer is not what the server does yet: the row runs as a todo and says what is missing. */
  gap?: string;
  run(h: Harness): Promise<void>;
}

const big = (n: number) => 'x'.repeat(n);
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

interface CliRow {
  input: string;
  expect: string;
  gap?: string;
  config: string | null;
  env: Record<string, string>;
  message: RegExp;
}

function cliRows(): CliRow[] {
  return [
    { input: 'unknown key in the config file', expect: 'exit 2 naming the key', config: '{"port":0,"insecure":true,"colour":"blue"}', env: {}, message: /unknown option "colour"/ },
    { input: 'wrong type in the config file', expect: 'exit 2 naming the field', config: '{"insecure":true,"pingInterval":"soon"}', env: {}, message: /"pingInterval" must be a number/ },
    { input: 'malformed JSON config file', expect: 'exit 2', config: '{"port": 0,', env: {}, message: /not valid JSON/ },
    { input: 'config file holding an array', expect: 'exit 2', config: '[1,2]', env: {}, message: /must hold a JSON object/ },
    { input: 'deeply nested / wrong namespace options', expect: 'exit 2 naming the field', config: `{"insecure":true,"namespaces":{"chat":{"subscribe":{"a":${nested(50)}}}}}`, env: {}, message: /namespaces\.chat\.subscribe/ },
    { input: 'env var with a non-number', expect: 'exit 2 naming the variable', config: null, env: { SWITCHBOARD_INSECURE: '1', SWITCHBOARD_MAX_CONNECTIONS: 'lots' }, message: /SWITCHBOARD_MAX_CONNECTIONS must be a number/ },
    { input: 'SWITCHBOARD_NAMESPACES not JSON', expect: 'exit 2', config: null, env: { SWITCHBOARD_INSECURE: '1', SWITCHBOARD_NAMESPACES: '{chat:' }, message: /SWITCHBOARD_NAMESPACES must be JSON/ },
    { input: 'no JWT key and anonymous off', expect: 'exit 2 (bad configuration)', config: '{"port":0}', env: {}, message: /no JWT key configured/ },
  ];
}

const rows: Row[] = [
  // -- WebSocket upgrade (HTTP level) --
  { entry: 'ws-upgrade', input: 'wrong path', expect: 'HTTP 404', run: async (h) => assert.match((await raw(h, [UPGRADE('/elsewhere')])).text, /^HTTP\/1.1 404/) },
  { entry: 'ws-upgrade', input: 'missing Sec-WebSocket-Key', expect: 'HTTP 400', run: async (h) => assert.match((await raw(h, ['GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n'])).text, /^HTTP\/1.1 400/) },
  { entry: 'ws-upgrade', input: 'malformed Sec-WebSocket-Key', expect: 'HTTP 400', run: async (h) => assert.match((await raw(h, [UPGRADE().replace('dGhlIHNhbXBsZSBub25jZQ==', '%%%')])).text, /^HTTP\/1.1 400/) },
  { entry: 'ws-upgrade', input: 'Sec-WebSocket-Version 8', expect: 'HTTP 426 with Sec-WebSocket-Version: 13', run: async (h) => assert.match((await raw(h, [UPGRADE().replace('Version: 13', 'Version: 8')])).text, /^HTTP\/1.1 426[^]*Sec-WebSocket-Version: 13/) },
  { entry: 'ws-upgrade', input: 'unknown subprotocol', expect: 'HTTP 400', run: async (h) => assert.match((await raw(h, [UPGRADE('/connection/websocket', 'Sec-WebSocket-Protocol: mqtt\r\n')])).text, /^HTTP\/1.1 400/) },
  { entry: 'ws-upgrade', input: 'bad ?format= value', expect: 'HTTP 400', run: async (h) => assert.match((await raw(h, [UPGRADE('/connection/websocket?format=xml')])).text, /^HTTP\/1.1 400/) },
  { entry: 'ws-upgrade', input: 'POST instead of GET', expect: 'HTTP 405', run: async (h) => assert.match((await raw(h, [UPGRADE().replace('GET', 'POST')])).text, /^HTTP\/1.1 405/) },
  { entry: 'ws-upgrade', input: 'Origin not allowed', expect: 'HTTP 403', run: async (h) => assert.match((await raw(h, [UPGRADE('/connection/websocket', 'Origin: https://evil.example\r\n')])).text, /^HTTP\/1.1 403/) },
  { entry: 'ws-upgrade', input: 'oversize headers (64 KiB)', expect: 'HTTP 431/400, socket closed', run: async (h) => {
    const r = await raw(h, [UPGRADE('/connection/websocket', `X-Pad: ${big(65_536)}\r\n`)]);
    assert.match(r.text, /^HTTP\/1.1 (431|400)/);
    assert.ok(r.closedByServer);
  } },
  { entry: 'ws-upgrade', input: 'garbage request line', expect: 'HTTP 400, socket closed', run: async (h) => {
    const r = await raw(h, ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n']);
    assert.match(r.text, /^HTTP\/1.1 400/);
    assert.ok(r.closedByServer);
  } },
  { entry: 'ws-upgrade', input: 'slowloris: headers never finished', expect: 'socket closed after handshakeTimeout (1 s)', run: async (h) => {
    const r = await raw(h, ['GET /connection/websocket HTTP/1.1\r\n', 'Host: x\r\n', 'X-A: 1\r\n', 'X-B: 2\r\n'], { gapMs: 300, timeoutMs: 5000 });
    assert.ok(r.closedByServer && r.ms < 4000, `closed=${r.closedByServer} after ${r.ms} ms`);
  } },
  { entry: 'ws-upgrade', input: '20 concurrent half-open upgrades', expect: 'all closed after handshakeTimeout', run: async (h) => {
    const rs = await Promise.all(Array.from({ length: 20 }, () => raw(h, ['GET /connection/websocket HTTP/1.1\r\nHost: x\r\n'], { timeoutMs: 5000 })));
    assert.ok(rs.every((r) => r.closedByServer && r.ms < 4000));
  } },
  { entry: 'ws-upgrade', input: `too many connections from one IP (> ${PER_IP})`, expect: 'HTTP 429 with Retry-After; other IPs unaffected', run: async (h) => {
    const opts = { localAddress: '127.0.0.2' };
    const ok: WebSocket[] = [];
    for (let i = 0; i < PER_IP; i++) {
      const ws = new WebSocket(h.wsUrl, 'switchboard.json', opts);
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      ok.push(ws);
    }
    const r = await raw(h, [UPGRADE()], opts);
    assert.match(r.text, /^HTTP\/1.1 429[^]*Retry-After: \d+/);
    const other = await authed(h); // 127.0.0.1 still gets in
    other.close();
    for (const ws of ok) ws.terminate();
  } },

  { entry: 'ws-upgrade', input: `${PENDING + 10} idle TCP connections from one IP (no request sent)`, expect: `connections past ${PENDING} from that IP refused at once`, run: async (h) => {
    const rs = await Promise.all(Array.from({ length: PENDING + 10 }, () => raw(h, [], { timeoutMs: 500, localAddress: '127.0.0.4' })));
    assert.ok(rs.filter((r) => r.closedByServer).length >= 10, `${rs.filter((r) => r.closedByServer).length} of ${rs.length} refused within 500 ms`);
  } },

  // -- WebSocket frames --
  { entry: 'ws-frames', input: 'malformed JSON', expect: 'disconnect 3501', run: async (h) => {
    const c = await authed(h);
    c.sendRaw('{"t":"pub",');
    await closesWith(c, 3501);
  } },
  { entry: 'ws-frames', input: 'malformed MessagePack', expect: 'disconnect 3501', run: async (h) => {
    const c = await authed(h, 'msgpack');
    c.sendRaw(Buffer.from([0x85, 0xa1, 0x74]));
    await closesWith(c, 3501);
  } },
  { entry: 'ws-frames', input: 'MessagePack extension types (timestamp, unknown ext) as data', expect: 'ok reply or disconnect 3501, never a crash', run: async (h) => {
    for (const ext of [Buffer.from([0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0xd5, 0x42, 1, 2]), Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x01])]) {
      const c = await authed(h, 'msgpack');
      const head = Buffer.from(msgpackCodec.encode({ t: 'pub', id: 7, ch: 'ext', data: 0 }));
      c.sendRaw(Buffer.concat([head.subarray(0, -1), ext])); // replace the trailing `0` (data) by the extension
      const end = await Promise.race([c.waitFor((f) => f.id === 7).then((f) => f.t), c.closed.then((x) => x.code)]);
      assert.ok(end === 'ok' || end === 'err' || end === 3501, `got ${end}`);
      c.close();
    }
  } },
  { entry: 'ws-frames', input: 'invalid UTF-8 in a text message', expect: 'close 1007 (RFC 6455, no disconnect message)', run: async (h) => {
    const c = await authed(h);
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    assert.equal((await c.closed).code, 1007);
    assert.ok(!c.frames.some((f) => f.t === 'disconnect'), 'a WebSocket-level close has no disconnect message');
  } },
  { entry: 'ws-frames', input: 'frame is an array / string / number', expect: 'disconnect 3501', run: async (h) => {
    for (const bad of ['[1,2,3]', '"str"', '42']) {
      const c = await authed(h);
      c.sendRaw(bad);
      await closesWith(c, 3501);
    }
  } },
  { entry: 'ws-frames', input: 'wrong field types (ch: 42, id: -1, id: "1", reverse: "yes")', expect: 'disconnect 3501', run: async (h) => {
    for (const bad of ['{"t":"sub","id":1,"ch":42}', '{"t":"sub","id":-1,"ch":"x"}', '{"t":"sub","id":"1","ch":"x"}', '{"t":"history","id":1,"ch":"x","reverse":"yes"}']) {
      const c = await authed(h);
      c.sendRaw(bad);
      await closesWith(c, 3501);
    }
  } },
  { entry: 'ws-frames', input: 'presence page fields of the wrong type (limit 0, limit "5", cursor 42)', expect: 'disconnect 3501', run: async (h) => {
    for (const bad of ['{"t":"presence","id":1,"ch":"x","limit":0}', '{"t":"presence","id":1,"ch":"x","limit":"5"}', '{"t":"presence","id":1,"ch":"x","cursor":42}']) {
      const c = await authed(h);
      c.sendRaw(bad);
      await closesWith(c, 3501);
    }
  } },
  { entry: 'ws-frames', input: 'missing required fields (pub without data, frame without t)', expect: 'disconnect 3501', run: async (h) => {
    for (const bad of ['{"t":"pub","id":1,"ch":"x"}', '{"id":1}']) {
      const c = await authed(h);
      c.sendRaw(bad);
      await closesWith(c, 3501);
    }
  } },
  { entry: 'ws-frames', input: 'deep nesting (100 levels, JSON and MessagePack)', expect: 'disconnect 3501', run: async (h) => {
    const c = await authed(h);
    c.sendRaw(`{"t":"pub","id":5,"ch":"watch","data":${nested(100)}}`);
    await closesWith(c, 3501);
    const m = await authed(h, 'msgpack');
    let v: unknown = 1;
    for (let i = 0; i < 100; i++) v = [v];
    m.sendRaw(Buffer.from(msgpackCodec.encode({ t: 'pub', id: 5, ch: 'watch', data: v })));
    await closesWith(m, 3501);
  } },
  { entry: 'ws-frames', input: 'unknown fields in a known frame', expect: 'ignored: ok reply, connection kept', run: async (h) => {
    const c = await authed(h);
    const r = await c.request({ t: 'sub', ch: 'u-ch', color: 'red', nested: { a: [1, 2] } });
    assert.equal(r.t, 'ok');
    c.close();
  } },
  { entry: 'ws-frames', input: 'unknown frame type with an id', expect: 'error 104, connection kept', run: async (h) => {
    const c = await authed(h);
    assert.equal((await c.request({ t: 'teleport' })).code, 104);
    assert.equal((await c.request({ t: 'sub', ch: 'x' })).t, 'ok');
    c.close();
  } },
  { entry: 'ws-frames', input: 'string field over 8192 characters', expect: 'disconnect 3501', run: async (h) => {
    const c = await authed(h);
    c.send({ t: 'pub', id: 3, ch: 'watch', data: 1, key: big(9000) });
    await closesWith(c, 3501);
  } },
  { entry: 'ws-frames', input: 'bad channel names', expect: 'error 112, connection kept', run: async (h) => {
    const c = await authed(h);
    for (const ch of ['', 'sp ace', 'semi;colon', big(256), 'ünïcode', '$sb:nodes']) assert.equal((await c.request({ t: 'sub', ch })).code, 112, ch);
    c.close();
  } },
  { entry: 'ws-frames', input: 'unknown namespace', expect: 'error 102', run: async (h) => {
    const c = await authed(h);
    assert.equal((await c.request({ t: 'sub', ch: 'nope:x' })).code, 102);
    c.close();
  } },
  { entry: 'ws-frames', input: 'more than 256 frames in one message', expect: 'disconnect 3501', run: async (h) => {
    const c = await authed(h);
    c.sendRaw(Array.from({ length: 300 }, () => '{"t":"pong"}').join('\n'));
    await closesWith(c, 3501);
  } },
  { entry: 'ws-frames', input: `message over maxMessageBytes (${MAX_MESSAGE})`, expect: 'close 1009 (RFC 6455, no disconnect message), refused from the header', run: async (h) => {
    const c = await authed(h);
    c.sendRaw(JSON.stringify({ t: 'pub', id: 9, ch: 'watch', data: big(MAX_MESSAGE + 100) }));
    assert.equal((await c.closed).code, 1009);
    assert.ok(!c.frames.some((f) => f.t === 'disconnect'), 'a WebSocket-level close has no disconnect message');
  } },
  { entry: 'ws-frames', input: '64-bit length header claiming 2^62 bytes', expect: 'close 1009 (nothing allocated)', run: async (h) => {
    assert.equal(await wsRaw(h, [wsFrame(1, Buffer.alloc(0), { len: 1n << 62n })]), 1009);
  } },
  { entry: 'ws-frames', input: '64-bit length header with the most significant bit set', expect: 'close 1002', run: async (h) => {
    assert.equal(await wsRaw(h, [wsFrame(1, Buffer.alloc(0), { len: 1n << 63n })]), 1002);
  } },
  { entry: 'ws-frames', input: 'fragments adding up past maxMessageBytes', expect: 'close 1009', run: async (h) => {
    const part = Buffer.alloc(6000, 0x20);
    assert.equal(await wsRaw(h, [wsFrame(1, part, { fin: false }), wsFrame(0, part, { fin: false }), wsFrame(0, part, { fin: false })]), 1009);
  } },
  { entry: 'ws-frames', input: '100,000 empty continuation frames', expect: 'close 1009 at the fragment cap', run: async (h) => {
    assert.equal(await wsRaw(h, [wsFrame(1, Buffer.alloc(0), { fin: false }), Buffer.concat(Array.from({ length: 100_000 }, () => wsFrame(0, Buffer.alloc(0), { fin: false })))]), 1009);
  } },
  { entry: 'ws-frames', input: 'unmasked client frame', expect: 'close 1002 (protocol error)', run: async (h) => {
    assert.equal(await wsRaw(h, [wsFrame(1, Buffer.from('{}'), { masked: false })]), 1002);
  } },
  { entry: 'ws-frames', input: 'reserved opcode 0x3', expect: 'close 1002', run: async (h) => assert.equal(await wsRaw(h, [wsFrame(3, Buffer.alloc(0))]), 1002) },
  { entry: 'ws-frames', input: 'fragmented control frame', expect: 'close 1002', run: async (h) => assert.equal(await wsRaw(h, [wsFrame(9, Buffer.alloc(0), { fin: false })]), 1002) },
  { entry: 'ws-frames', input: 'continuation without a message', expect: 'close 1002', run: async (h) => assert.equal(await wsRaw(h, [wsFrame(0, Buffer.from('x'))]), 1002) },
  { entry: 'ws-frames', input: 'close frame with invalid code 999', expect: 'close 1002', run: async (h) => assert.equal(await wsRaw(h, [wsFrame(8, Buffer.from([0x03, 0xe7]))]), 1002) },
  { entry: 'ws-frames', input: 'first frame not connect', expect: 'disconnect 3501', run: async (h) => {
    const c = await RawClient.open(h.wsUrl);
    c.send({ t: 'sub', id: 1, ch: 'watch' });
    await closesWith(c, 3501);
  } },
  { entry: 'ws-frames', input: 'no connect frame (idle after upgrade)', expect: 'disconnect 3502 after connectTimeout', run: async (h) => closesWith(await RawClient.open(h.wsUrl), 3502) },
  { entry: 'ws-frames', input: 'connect twice', expect: 'error 113, connection kept', run: async (h) => {
    const c = await authed(h);
    assert.equal((await c.request({ t: 'connect', token: await token('u1') })).code, 113);
    c.close();
  } },
  { entry: 'ws-frames', input: 'token signed with another key / garbage / no sub', expect: 'error 101 then disconnect 3500', run: async (h) => {
    for (const tok of [await token('u', { secret: 'another-secret-another-secret-xxx' }), 'not.a.jwt', big(5000)]) {
      const c = await RawClient.open(h.wsUrl);
      assert.equal((await c.request({ t: 'connect', token: tok })).code, 101);
      await closesWith(c, 3500);
    }
  } },
  { entry: 'ws-frames', input: 'alg:none token', expect: 'error 101 then disconnect 3500', run: async (h) => {
    const c = await RawClient.open(h.wsUrl);
    assert.equal((await c.request({ t: 'connect', token: noneToken() })).code, 101);
    await closesWith(c, 3500);
  } },
  { entry: 'ws-frames', input: 'expired token', expect: 'error 109 then disconnect 3003 (reconnect)', run: async (h) => {
    const c = await RawClient.open(h.wsUrl);
    assert.equal((await c.request({ t: 'connect', token: await token('u', { exp: Math.floor(Date.now() / 1000) - 60 }) })).code, 109);
    await closesWith(c, 3003);
  } },
  { entry: 'ws-frames', input: 'anonymous connect where anonymous is off', expect: 'error 101 then disconnect 3500', run: async (h) => {
    const c = await RawClient.open(h.wsUrl);
    assert.equal((await c.request({ t: 'connect' })).code, 101);
    await closesWith(c, 3500);
  } },
  { entry: 'ws-frames', input: 'subscription flood past maxSubscriptions (8)', expect: 'error 106 for the 9th', run: async (h) => {
    const c = await authed(h);
    for (let i = 0; i < 8; i++) assert.equal((await c.request({ t: 'sub', ch: `s${i}` })).t, 'ok');
    assert.equal((await c.request({ t: 'sub', ch: 's8' })).code, 106);
    c.close();
  } },
  { entry: 'ws-frames', input: 'command flood past the rate limit', expect: 'error 111 (temporary), then disconnect 3007 with a delay', run: async (h) => {
    const c = await authed(h);
    // presence_stats: small replies (a presence list of a busy channel would fill the 64 KiB
    // outbound budget first, a 3004 slow consumer, when the flooding client reads late).
    await c.floodUntilClosed((i) => Array.from({ length: 60 }, (_, j) => ({ t: 'presence_stats', id: 100 + i * 100 + j, ch: 'watch' })));
    await closesWith(c, 3007);
    assert.ok(c.frames.some((f) => f.t === 'err' && f.code === 111 && f.temporary === true));
    assert.ok(c.frames.find((f) => f.t === 'disconnect')!.delay >= 1000);
  } },
  { entry: 'ws-frames', input: 'reader that stops reading while publications flow (half-open)', expect: 'disconnect 3004 slow consumer', run: async (h) => {
    const c = await authed(h);
    await c.request({ t: 'sub', ch: 'firehose' });
    (c.ws as unknown as { _socket: net.Socket })._socket.pause();
    // Each publication is far below maxQueueBytes (64 KiB): the queue grows only because nobody reads.
    const payload = big(16_000);
    for (let i = 0; i < 200 && (await h.state(false)).connections > 1; i++) {
      await Promise.all(Array.from({ length: 20 }, () => api(h, 'publish', { channel: 'firehose', data: payload })));
    }
    (c.ws as unknown as { _socket: net.Socket })._socket.resume();
    await closesWith(c, 3004);
  } },
  { entry: 'ws-frames', input: 'client that never answers pings', expect: 'disconnect 3005 no pong', run: async (h) => {
    const c = await authed(h);
    c.autoPong = false;
    await closesWith(c, 3005);
  } },

  // -- SSE --
  { entry: 'sse', input: 'Origin not allowed', expect: 'HTTP 403', run: async (h) => assert.match((await raw(h, ['GET /connection/sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: https://evil.example\r\n\r\n'], { timeoutMs: 1500 })).text, /^HTTP\/1.1 403/) },
  { entry: 'sse', input: 'PUT method', expect: 'HTTP 405', run: async (h) => assert.match((await raw(h, ['PUT /connection/sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'], { timeoutMs: 1500 })).text, /^HTTP\/1.1 405/) },
  { entry: 'sse', input: 'GET with an unknown session key', expect: 'HTTP 404', run: async (h) => assert.match((await raw(h, ['GET /connection/sse?session=nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { timeoutMs: 1500 })).text, /^HTTP\/1.1 404/) },
  { entry: 'sse', input: 'Last-Event-ID not a number', expect: 'HTTP 400', run: async (h) => {
    const s = await sseOpen(h);
    assert.match((await raw(h, [`GET /connection/sse?session=${s.key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nLast-Event-ID: -1x\r\n\r\n`], { timeoutMs: 1500 })).text, /^HTTP\/1.1 400/);
    s.close();
  } },
  { entry: 'sse', input: 'POST without a session', expect: 'HTTP 400', run: async (h) => assert.equal((await ssePost(h, null, '{"t":"pong"}')).status, 400) },
  { entry: 'sse', input: 'POST with an unknown session', expect: 'HTTP 404', run: async (h) => assert.equal((await ssePost(h, 'nope', '{"t":"pong"}')).status, 404) },
  { entry: 'sse', input: 'POST with a wrong Content-Type', expect: 'HTTP 415', run: async (h) => {
    const s = await sseOpen(h);
    assert.equal((await ssePost(h, s.key, 'a=1', 'application/x-www-form-urlencoded')).status, 415);
    s.close();
  } },
  { entry: 'sse', input: 'POST with malformed JSON', expect: 'HTTP 400 with disconnect 3501', run: async (h) => {
    const s = await sseOpen(h);
    const r = await ssePost(h, s.key, '{"t":"connect",');
    assert.equal(r.status, 400);
    assert.equal(r.body.disconnect.code, 3501);
    s.close();
  } },
  { entry: 'sse', input: 'POST with deep nesting', expect: 'HTTP 400 with disconnect 3501', run: async (h) => {
    const s = await sseOpen(h);
    const r = await ssePost(h, s.key, `{"t":"connect","id":1,"x":${nested(100)}}`);
    assert.equal(r.status, 400);
    assert.equal(r.body.disconnect.code, 3501);
    s.close();
  } },
  { entry: 'sse', input: 'POST with wrong field types', expect: 'HTTP 400 with disconnect 3501', run: async (h) => {
    const s = await sseOpen(h);
    const r = await ssePost(h, s.key, '{"t":"connect","id":"one"}');
    assert.equal(r.status, 400);
    assert.equal(r.body.disconnect.code, 3501);
    s.close();
  } },
  { entry: 'sse', input: 'POST body over maxMessageBytes (declared)', expect: 'HTTP 413 with disconnect 3504', run: async (h) => {
    const s = await sseOpen(h);
    const r = await ssePost(h, s.key, big(MAX_MESSAGE + 1));
    assert.equal(r.status, 413);
    assert.equal(r.body.disconnect.code, 3504);
    s.close();
  } },
  { entry: 'sse', input: 'POST body over maxMessageBytes (chunked, undeclared)', expect: 'HTTP 413', run: async (h) => {
    const s = await sseOpen(h);
    const chunk = big(4096);
    const body = Array.from({ length: 5 }, () => `1000\r\n${chunk}\r\n`).join('') + '0\r\n\r\n';
    const r = await raw(h, [`POST /connection/sse?session=${s.key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, body], { timeoutMs: 2000 });
    assert.match(r.text, /^HTTP\/1.1 413/);
    s.close();
  } },
  { entry: 'sse', input: 'flood of POSTs while one is still being read', expect: 'HTTP 429 past maxQueuedPosts (4)', run: async (h) => {
    const s = await sseOpen(h);
    const slow = raw(h, [`POST /connection/sse?session=${s.key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`], { timeoutMs: 1000 });
    await sleep(100);
    const rs = await Promise.all(Array.from({ length: 5 }, () => raw(h, [`POST /connection/sse?session=${s.key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"t":"pong"}`], { timeoutMs: 600 })));
    assert.equal(rs.filter((r) => /^HTTP\/1.1 429/.test(r.text)).length, 1);
    await slow;
    s.close();
  } },
  { entry: 'sse', input: `too many streams from one IP (> ${PER_IP})`, expect: 'HTTP 429', run: async (h) => {
    const streams = [];
    for (let i = 0; i < PER_IP; i++) streams.push(await sseOpen(h, { localAddress: '127.0.0.3' }));
    const over = await sseOpen(h, { localAddress: '127.0.0.3' });
    assert.equal(over.status, 429);
    over.close();
    for (const s of streams) s.close();
  } },
  { entry: 'sse', input: 'bad token in connect over POST', expect: '204, then error 101 and disconnect 3500 on the stream', run: async (h) => {
    const s = await sseOpen(h);
    assert.equal((await ssePost(h, s.key, '{"t":"connect","id":1,"token":"not.a.jwt"}')).status, 204);
    for (let i = 0; i < 30 && !s.text().includes('"code":3500'); i++) await sleep(50);
    assert.match(s.text(), /"t":"err","id":1,"code":101/);
    assert.match(s.text(), /"t":"disconnect","code":3500/);
    s.close();
  } },

  // -- long polling: not landed yet (src/transports/poll/endpoint.ts is a stub); see the skip row below --

  // -- HTTP API --
  { entry: 'http-api', input: 'no API key / wrong API key', expect: 'HTTP 401', run: async (h) => {
    assert.equal((await api(h, 'publish', { channel: 'watch', data: 1 }, { key: null })).status, 401);
    assert.equal((await api(h, 'publish', { channel: 'watch', data: 1 }, { key: 'wrong' })).status, 401);
    assert.equal((await api(h, 'publish', { channel: 'watch', data: 1 }, { key: big(10_000) })).status, 401);
  } },
  { entry: 'http-api', input: 'GET / unknown method', expect: 'HTTP 405 / 404', run: async (h) => {
    assert.equal((await api(h, 'publish', undefined, { httpMethod: 'GET' })).status, 405);
    assert.equal((await api(h, big(300), {})).status, 404);
  } },
  { entry: 'http-api', input: 'wrong Content-Type', expect: 'HTTP 415', run: async (h) => assert.equal((await api(h, 'publish', null, { raw: 'channel=watch', type: 'text/plain' })).status, 415) },
  { entry: 'http-api', input: 'malformed JSON / not an object', expect: 'HTTP 400', run: async (h) => {
    for (const rawBody of ['{"channel":', '[1,2]', '"x"', '', '\u0000']) assert.equal((await api(h, 'publish', null, { raw: rawBody })).status, 400, JSON.stringify(rawBody));
  } },
  { entry: 'http-api', input: 'wrong field types', expect: 'HTTP 400 naming the field', run: async (h) => {
    const r = await api(h, 'disconnect', { user: 'u1', delay: 'soon' });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /"delay"/);
    assert.equal((await api(h, 'publish', { channel: ['watch'], data: 1 })).status, 400);
    assert.equal((await api(h, 'disconnect', { client: 'x', reconnect: 'yes' })).status, 400);
  } },
  { entry: 'http-api', input: 'connections: no user, forged cursor, limit 0', expect: 'HTTP 400 naming the problem', run: async (h) => {
    const noUser = await api(h, 'connections', {});
    assert.equal(noUser.status, 400);
    assert.match(noUser.body.error.message, /"user"/);
    const forged = await api(h, 'connections', { user: 'u1', cursor: '../../etc' });
    assert.equal(forged.status, 400);
    assert.match(forged.body.error.message, /cursor/);
    assert.equal((await api(h, 'connections', { user: 'u1', limit: 0 })).status, 400);
  } },
  { entry: 'http-api', input: 'unknown fields', expect: 'HTTP 400 naming the field', run: async (h) => {
    const r = await api(h, 'publish', { channel: 'watch', data: 1, __proto__x: 1, priority: 'high' });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /unknown field/);
  } },
  { entry: 'http-api', input: 'deep nesting in data', expect: 'HTTP 400', run: async (h) => assert.equal((await api(h, 'publish', null, { raw: `{"channel":"watch","data":${nested(5000)}}` })).status, 400) },
  { entry: 'http-api', input: 'body over 1 MiB (declared)', expect: 'HTTP 413', run: async (h) => assert.equal((await api(h, 'publish', { channel: 'watch', data: big(1_100_000) })).status, 413) },
  { entry: 'http-api', input: 'body over 1 MiB (chunked, undeclared)', expect: 'HTTP 413 or connection closed', run: async (h) => {
    const chunk = big(65_536);
    const r = await raw(h, [`POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: apikey ${API_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, ...Array.from({ length: 20 }, () => `10000\r\n${chunk}\r\n`)], { timeoutMs: 3000 });
    assert.ok(/^HTTP\/1.1 413/.test(r.text) || (r.closedByServer && r.text === ''), r.text.slice(0, 80));
  } },
  { entry: 'http-api', input: 'slowloris headers on a plain request', expect: 'closed after handshakeTimeout', run: async (h) => {
    const r = await raw(h, ['POST /api/publish HTTP/1.1\r\n', 'Host: x\r\n'], { gapMs: 200, timeoutMs: 5000 });
    assert.ok(r.closedByServer && r.ms < 4000);
  } },
  { entry: 'http-api', input: 'flood: 300 publishes, 50 in flight at a time', expect: 'all answered 200, offsets 1..300 without gaps', run: async (h) => {
    const rs: Array<{ status: number; body: any }> = [];
    for (let w = 0; w < 6; w++) rs.push(...(await Promise.all(Array.from({ length: 50 }, (_, i) => api(h, 'publish', { channel: 'api-flood', data: w * 50 + i })))));
    assert.ok(rs.every((r) => r.status === 200));
    assert.deepEqual(rs.map((r) => r.body.result.offset).sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i + 1));
  } },
  { entry: 'http-api', input: 'broadcast to 10,001 channels / 100 bad channels', expect: 'HTTP 400 / per-channel error 112', run: async (h) => {
    assert.equal((await api(h, 'broadcast', { channels: Array.from({ length: 10_001 }, (_, i) => `c${i}`), data: 1 })).status, 400);
    const r = await api(h, 'broadcast', { channels: Array.from({ length: 100 }, (_, i) => `bad ${i}`), data: 1 });
    assert.ok(r.body.result.responses.every((x: any) => x.error.code === 112));
  } },

  // -- long polling --
  ...((): Row[] => {
    const poll = (h: Harness, q: string, init: RequestInit = {}) => fetch(`${h.httpUrl}/connection/poll${q}`, init);
    const newKey = async (h: Harness) => encodeURIComponent(((await (await poll(h, '')).json()) as { session: string }).session);
    const post = (h: Harness, key: string, body: string, type = 'application/json') => poll(h, `?session=${key}`, { method: 'POST', headers: { 'Content-Type': type }, body });
    return [
      { entry: 'poll', input: 'GET with an unknown session key', expect: 'HTTP 404', run: async (h) => assert.equal((await poll(h, '?session=nope&ack=0')).status, 404) },
      { entry: 'poll', input: 'ack not a number', expect: 'HTTP 400', run: async (h) => assert.equal((await poll(h, `?session=${await newKey(h)}&ack=x`)).status, 400) },
      { entry: 'poll', input: 'PUT method', expect: 'HTTP 405', run: async (h) => assert.equal((await poll(h, '', { method: 'PUT' })).status, 405) },
      { entry: 'poll', input: 'POST without a session', expect: 'HTTP 400', run: async (h) => assert.equal((await poll(h, '', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"t":"pong"}' })).status, 400) },
      { entry: 'poll', input: 'POST with a wrong Content-Type', expect: 'HTTP 415, session kept', run: async (h) => {
        const key = await newKey(h);
        assert.equal((await post(h, key, '{"t":"pong"}', 'image/png')).status, 415);
        assert.equal((await post(h, key, '{"t":"connect","id":1}')).status, 204);
      } },
      { entry: 'poll', input: 'POST with malformed JSON', expect: 'HTTP 400 with disconnect 3501', run: async (h) => {
        const r = await post(h, await newKey(h), '{"t":');
        assert.equal(r.status, 400);
        assert.equal(((await r.json()) as { disconnect?: { code: number } }).disconnect?.code, 3501);
      } },
      { entry: 'poll', input: 'POST body over maxMessageBytes', expect: 'HTTP 413', run: async (h) => assert.equal((await post(h, await newKey(h), JSON.stringify({ t: 'pub', id: 1, ch: 'x', data: 'z'.repeat(MAX_MESSAGE + 10) }))).status, 413) },
      { entry: 'poll', input: 'DELETE then reuse the key', expect: '204, then HTTP 410', run: async (h) => {
        const key = await newKey(h);
        assert.equal((await poll(h, `?session=${key}`, { method: 'DELETE' })).status, 204);
        assert.equal((await poll(h, `?session=${key}&ack=0`)).status, 410);
      } },
    ];
  })(),
  ...cliRows().map((c): Row => ({ entry: 'cli-config', input: c.input, expect: c.expect, ...(c.gap ? { gap: c.gap } : {}), run: (h) => cli(h, c.config, c.env, c.message) })),
];

/**
 * Slow-body rows: started before the matrix, checked after it (see REQUEST_TIMEOUT_MS). The SSE
 * session itself ends within seconds (no connect: 3502 stale); its half-sent POST is still held
 * open until Node's requestTimeout.
 */
interface SlowBody {
  entry: Entry;
  input: string;
  expect: string;
  started?: Promise<RawResult>;
  start(h: Harness): Promise<void>;
}

// The status is 400, not 408: node.ts answers every 'clientError' (timeouts and header overflow
// included) with 400. Reported; the row pins the close time, which is what bounds the attack.
const SLOW_EXPECT = `HTTP 400 and close after Node's requestTimeout (${REQUEST_TIMEOUT_MS / 1000} s, fixed in node.ts)`;
const slowBodies: SlowBody[] = [
  {
    entry: 'http-api',
    input: 'slowloris body (declares 100 bytes, sends 10, then nothing)',
    expect: SLOW_EXPECT,
    async start(h) {
      this.started = raw(h, [`POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: apikey ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"channel"`], { timeoutMs: REQUEST_TIMEOUT_MS + 8000 });
    },
  },
  {
    entry: 'sse',
    input: 'slowloris POST body (declares 100 bytes, sends 10, then nothing)',
    expect: SLOW_EXPECT,
    async start(h) {
      const sse = await sseOpen(h);
      this.started = raw(h, [`POST /connection/sse?session=${sse.key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"t":"pong"`], { timeoutMs: REQUEST_TIMEOUT_MS + 8000 });
      await sleep(100);
      sse.close();
    },
  },
];

describe('bad-input matrix', () => {
  const h = new Harness();
  let baseline: ServerState;

  before(async () => {
    await h.start();
    // Warm up every path once so lazily created state (JIT code, metric children) is in the baseline.
    await api(h, 'publish', { channel: 'warm', data: 1 });
    (await authed(h)).close();
    const s = await sseOpen(h);
    s.close();
    baseline = await h.settled(true);
    for (const b of slowBodies) await b.start(h);
    for (const c of cliRows()) void cliRun(h.tmp, c.config, c.env);
    await h.settled();
  });

  after(async () => {
    const end = await h.settled(true);
    const grew = end.heapUsed - baseline.heapUsed;
    console.log(`bad-input matrix: ${rows.length + slowBodies.length} rows (${rows.filter((r) => r.gap).length} known gaps); server heap after GC ${(baseline.heapUsed / 1048576).toFixed(1)} → ${(end.heapUsed / 1048576).toFixed(1)} MiB (${grew >= 0 ? '+' : ''}${(grew / 1048576).toFixed(2)}), external ${(baseline.external / 1048576).toFixed(1)} → ${(end.external / 1048576).toFixed(1)} MiB`);
    await h.stop();
    // Back to baseline: within 25 % + 4 MiB (the heap holds compiled code and metrics for every path exercised).
    assert.ok(end.heapUsed <= baseline.heapUsed * 1.25 + 4 * 1048576, `server heap grew from ${baseline.heapUsed} to ${end.heapUsed}`);
    assert.ok(end.external <= baseline.external + 8 * 1048576, `server external memory grew from ${baseline.external} to ${end.external}`);
    assert.equal(end.channels, baseline.channels, 'no channel subscriptions left behind');
  });

  for (const row of rows) {
    test(`${row.entry} | ${row.input} → ${row.expect}`, { timeout: 20_000, ...(row.gap ? { todo: `GAP: ${row.gap}` } : {}) }, async () => {
      try {
        await row.run(h);
      } finally {
        await h.bystanderAlive();
        await h.settled();
      }
    });
  }

  for (const b of slowBodies) {
    test(`${b.entry} | ${b.input} → ${b.expect}`, async () => {
      const r = await b.started!;
      assert.ok(r.closedByServer, `still open after ${r.ms} ms`);
      assert.match(r.text, /^HTTP\/1.1 (408|400)/, `after ${r.ms} ms: ${JSON.stringify(r.text.slice(0, 200))}`);
      assert.ok(r.ms >= REQUEST_TIMEOUT_MS - 2000 && r.ms <= REQUEST_TIMEOUT_MS + 3000, `closed after ${r.ms} ms`);
      await h.bystanderAlive();
      await h.settled();
    });
  }

});
