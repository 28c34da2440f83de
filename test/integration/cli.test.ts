/**
 * The CLI as a user meets it (issue 13 item 5), through bin/switchboard.mjs in a child process:
 * --help for every command, --version, errors that name the bad value and suggest the known key
 * or flag, the effective configuration at start (secrets redacted), --log-level, and structured
 * logs that say why a refused origin, a bad token or a wrong API key was refused — rate-limited.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { freePort } from '../helpers/net.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/switchboard.mjs');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** A clean environment: no SWITCHBOARD_* from the caller's shell. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_') && k !== 'PORT') e[k] = v;
  return { ...e, ...extra };
}

function cli(args: string[], extraEnv: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: env(extraEnv), encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, body: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(body));
  return f;
}

describe('CLI usage', () => {
  test('--help for every command, help COMMAND, --version', () => {
    const top = cli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /switchboard start/);
    assert.match(top.stdout, /switchboard token/);
    for (const args of [['start', '--help'], ['start', '-h'], ['help', 'start']]) {
      const r = cli(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /switchboard start — run a node/);
      assert.match(r.stdout, /--log-level L/);
      assert.match(r.stdout, /--config FILE/);
    }
    for (const args of [['token', '--help'], ['help', 'token']]) {
      const r = cli(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /switchboard token — print a development JWT/);
      assert.match(r.stdout, /--user ID/);
    }
    for (const args of [['--version'], ['-v'], ['version']]) {
      const r = cli(args);
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), `switchboard-rt ${pkg.version} (node ${process.version})`);
    }
  });

  test('errors name the bad value and suggest the known command, flag or key (exit 2)', () => {
    const cases: Array<[string[], RegExp, Record<string, string>?]> = [
      [['start', '--port', 'abc'], /--port must be an integer 0–65535, got "abc"/],
      [['start', '--port', '70000'], /--port must be an integer 0–65535, got "70000"/],
      [['start', '--prot', '80'], /unknown option "--prot" for start; did you mean "--port"\?/],
      [['strat'], /unknown command "strat"; did you mean "start"\?/],
      [['help', 'tokn'], /no help for "tokn"; did you mean "token"\?/],
      [['token', '--usr', 'x'], /unknown option "--usr" for token; did you mean "--user"\?/],
      [['token', '--user', 'u', '--secret', 's', '--info', '{bad'], /--info must be JSON, got "\{bad"/],
      [['start', '--log-level', 'verbose'], /--log-level must be one of debug, info, warn, error, silent, got "verbose"/],
      [['start'], /SWITCHBOARD_LOG_LEVEL must be one of .* got "loud"/, { SWITCHBOARD_LOG_LEVEL: 'loud' }],
      [['start'], /SWITCHBOARD_PING_INTERVAL must be a number, got "often"/, { SWITCHBOARD_PING_INTERVAL: 'often' }],
      [['start', '--config', configFile('typo.json', { apikey: 'k', port: 0 })], /unknown option "apikey" in .*typo\.json; did you mean "apiKey"\?/],
      [['start', '--config', configFile('typo2.json', { alowedOrigins: ['x'] })], /did you mean "allowedOrigins"\?/],
      [['start', '--config', configFile('typo3.json', { namespaces: { chat: { subscrbe: 'anonymous' } } })], /unknown option "namespaces\.chat\.subscrbe"; did you mean "namespaces\.chat\.subscribe"\?/],
      [['start', '--config', configFile('typo4.json', { jwt: { secrett: 'x' } })], /unknown option "jwt\.secrett"; did you mean "jwt\.secret"\?/],
      [['start', '--config', configFile('badport.json', { port: 'http' })], /option "port" must be a number, got "http"/],
      [['start', '--config', configFile('nothing-close.json', { zzzzqqq: 1 })], /unknown option "zzzzqqq" in [^;]*$/m],
      [['start', '--config', configFile('sfu-typo.json', { sfu: { worker: 2 } })], /configuration error: sfu\.worker is not an SFU option; did you mean "workers"\?/],
      [['start', '--dev'], /SWITCHBOARD_SFU_WORKERS must be an integer from 0 to 64, got 99/, { SWITCHBOARD_SFU_WORKERS: '99' }],
    ];
    for (const [args, want, e] of cases) {
      const r = cli(args, e);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, want, args.join(' '));
    }
  });
});

interface Running {
  child: ChildProcess;
  port: number;
  out: () => string;
  err: () => string;
  records: () => Array<Record<string, any>>;
}

async function startNode(args: string[], extraEnv: Record<string, string> = {}): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'start', '--port', String(port), '--host', '127.0.0.1', ...args], { cwd: ROOT, env: env(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const end = Date.now() + 20_000;
  while (!/listening on http/.test(out)) {
    if (Date.now() > end || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`no start: ${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const records = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
  return { child, port, out: () => out, err: () => err, records };
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode !== null) return;
  const exited = new Promise((res) => r.child.once('exit', res));
  r.child.kill('SIGKILL');
  await exited;
}

/** Opens a WebSocket; resolves with the HTTP status of a refused upgrade, or the open socket. */
function ws(port: number, origin?: string): Promise<{ status?: number; socket?: WebSocket }> {
  return new Promise((resolve) => {
    const s = new WebSocket(`ws://127.0.0.1:${port}/connection/websocket`, 'switchboard.json', origin ? { origin } : {});
    s.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      s.terminate();
    });
    s.once('open', () => resolve({ socket: s }));
    s.once('error', () => {});
  });
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('CLI logs', () => {
  const SECRET = 'jwt-secret-for-cli-log-test-0123456789';
  const API_KEY = 'api-key-for-cli-log-test';

  test('JSON logs say why an origin, a token and an API key were refused; refusals are rate-limited; the config is printed without secrets', { timeout: 60_000 }, async () => {
    const cfg = configFile('logs.json', { jwt: { secret: SECRET }, apiKey: API_KEY, allowedOrigins: ['https://good.example'] });
    const n = await startNode(['--config', cfg, '--log-format', 'json']);
    try {
      const conf = n.records().find((r) => r.msg === 'effective configuration');
      assert.ok(conf, n.err());
      assert.equal(conf.config.apiKey, '***');
      assert.equal(conf.config.jwt.secret, '***');
      assert.deepEqual(conf.config.allowedOrigins, ['https://good.example']);
      assert.ok(!n.err().includes(SECRET) && !n.out().includes(SECRET), 'the JWT secret is never printed');
      assert.ok(!n.err().includes(API_KEY) && !n.out().includes(API_KEY), 'the API key is never printed');

      // A refused origin.
      assert.equal((await ws(n.port, 'https://evil.example')).status, 403);
      await until(() => n.records().some((r) => r.reason === 'origin_not_allowed'), 'the origin refusal');
      const o = n.records().find((r) => r.reason === 'origin_not_allowed')!;
      assert.equal(o.level, 'warn');
      assert.equal(o.origin, 'https://evil.example');
      assert.equal(o.transport, 'websocket');
      assert.equal(o.ip, '127.0.0.1');
      assert.match(o.msg, /origin not allowed/);
      assert.ok(!Number.isNaN(Date.parse(o.time)));

      // A bad token (from an allowed origin).
      const ok = await ws(n.port, 'https://good.example');
      assert.ok(ok.socket);
      const closed = new Promise<number>((r) => ok.socket!.once('close', (code) => r(code)));
      ok.socket.send(JSON.stringify({ t: 'connect', id: 1, token: 'not.a.jwt' }));
      await closed;
      await until(() => n.records().some((r) => r.reason === 'token_invalid'), 'the token refusal');
      const t = n.records().find((r) => r.reason === 'token_invalid')!;
      assert.equal(t.level, 'warn');
      assert.match(t.msg, /^connect refused: /);
      assert.equal(t.transport, 'websocket');
      assert.ok(!JSON.stringify(t).includes('not.a.jwt'), 'the token itself is not logged');

      // A wrong API key and a bad API call.
      const res = await fetch(`http://127.0.0.1:${n.port}/api/info`, { method: 'POST', headers: { authorization: 'apikey wrong', 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 401);
      await until(() => n.records().some((r) => r.reason === 'api_key_invalid'), 'the API key refusal');
      assert.equal(n.records().find((r) => r.reason === 'api_key_invalid')!.api, 'http');
      const bad = await fetch(`http://127.0.0.1:${n.port}/api/publish`, { method: 'POST', headers: { authorization: `apikey ${API_KEY}`, 'content-type': 'application/json' }, body: '{"channel":"x"}' });
      assert.equal(bad.status, 400);
      await until(() => n.records().some((r) => r.reason === 'api_call_refused'), 'the refused call');
      const c = n.records().find((r) => r.reason === 'api_call_refused')!;
      assert.equal(c.level, 'info');
      assert.match(c.msg, /field "data" is required/);

      // A hostile client: 200 refused origins in a burst make at most the burst (20) of records.
      await Promise.all(Array.from({ length: 200 }, () => ws(n.port, 'https://evil.example')));
      await new Promise((r) => setTimeout(r, 300));
      const origins = n.records().filter((r) => r.reason === 'origin_not_allowed');
      assert.ok(origins.length <= 22, `${origins.length} origin records for 201 refusals`);
      assert.ok(origins.length >= 5);
      // After a pause the next record carries the count of those held back.
      await new Promise((r) => setTimeout(r, 1100));
      // (Under load the burst spreads out and records in its middle carry counts too: wait for the
      // record of this last refusal itself, which carries what was held back before it.)
      const originRecords = (): Array<Record<string, any>> => n.records().filter((r) => r.reason === 'origin_not_allowed');
      const beforeFlush = originRecords().length;
      await ws(n.port, 'https://evil.example');
      await until(() => originRecords().length > beforeFlush, 'the record after the pause');
      assert.ok(originRecords().at(-1)!.suppressed > 0, `the record after the pause carries the suppressed count (${JSON.stringify(originRecords().at(-1))})`);
      // Under load some of the burst are refused earlier, at admission (session rate, per-address
      // limits: the reasons of util/log.ts admissionReason), before their origin is looked at.
      const burstReasons = new Set(['origin_not_allowed', 'session_rate_limit', 'per_ip_connection_limit', 'pending_session_limit', 'connection_limit', 'connection_refused']);
      const total = n.records().filter((r) => burstReasons.has(r.reason as string)).reduce((sum, r) => sum + 1 + (r.suppressed ?? 0), 0);
      assert.equal(total, 202, 'every refusal is either logged or counted');
    } finally {
      await stop(n);
    }
  });

  test('the sfu section: --dev with SWITCHBOARD_SFU_WORKERS runs the SFU in worker threads', { timeout: 60_000 }, async () => {
    const n = await startNode(['--dev'], { SWITCHBOARD_SFU_WORKERS: '1', SWITCHBOARD_SFU_HOST_ADDRESSES: '127.0.0.1,127.0.0.2' });
    try {
      assert.match(n.out(), /SFU in 1 worker threads, announcing 127\.0\.0\.1, 127\.0\.0\.2/, n.out());
    } finally {
      await stop(n);
    }
  });

  test('--log-level error hides the refusals; pretty format prints the effective configuration as aligned lines', { timeout: 60_000 }, async () => {
    const cfg = configFile('quiet.json', { jwt: { secret: SECRET }, allowedOrigins: ['https://good.example'] });
    const n = await startNode(['--config', cfg, '--log-format', 'pretty'], { SWITCHBOARD_LOG_LEVEL: 'error', SWITCHBOARD_API_KEY: API_KEY });
    try {
      assert.match(n.out(), /effective configuration \(file .*quiet\.json, SWITCHBOARD_\* environment, flags; secrets \*\*\*; log level error\)/);
      assert.match(n.out(), /^ {2}apiKey +\*\*\* +\(env\)$/m);
      assert.match(n.out(), /^ {2}jwt\.secret +\*\*\* +\(file\)$/m);
      assert.match(n.out(), /^ {2}port +\d+ +\(flag\)$/m);
      assert.match(n.out(), /^ {2}pingInterval +25 +\(default\)$/m);
      assert.ok(!n.out().includes(SECRET) && !n.out().includes(API_KEY));
      assert.equal((await ws(n.port, 'https://evil.example')).status, 403);
      await new Promise((r) => setTimeout(r, 300));
      assert.doesNotMatch(n.err(), /origin/);
    } finally {
      await stop(n);
    }
    // The same refusal at the default level, pretty: one human line with the reason.
    const m = await startNode(['--config', cfg, '--log-format', 'pretty']);
    try {
      assert.equal((await ws(m.port, 'https://evil.example')).status, 403);
      await until(() => /WARN  WebSocket connection refused: origin not allowed/.test(m.err()), 'the pretty line');
      assert.match(m.err(), /reason=origin_not_allowed ip=127\.0\.0\.1 transport=websocket origin=https:\/\/evil\.example/);
    } finally {
      await stop(m);
    }
  });
});
