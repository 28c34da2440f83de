/**
 * The package as a user gets it: `npm pack` (its `prepack` builds dist/), the tarball installed
 * into a fresh consumer project in a temp dir (`npm install --prefer-offline`: dependencies come
 * from the npm cache), and there
 * - the tarball's file list: dist/ with the demo and the SDK bundle + .d.ts, no tests/benchmarks;
 * - (a) a server and a client run with plain `node` (an .mjs importing `switchboard-rt` and
 *   `switchboard-rt/client`), and the bin starts;
 * - (b) consumer TypeScript type-checks with `strict` under node16, nodenext and bundler
 *   resolution, without `allowImportingTsExtensions`, without the DOM lib (Node) and with it
 *   (a browser app using the WebRTC types).
 * One pack and one install serve every case.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let tmp: string;
let consumer: string;
let packed: string[] = [];

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'sb-pack-'));
  const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', tmp], { cwd: root, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  // prepack/prepare print to stdout before the JSON.
  const info = JSON.parse(stdout.slice(stdout.indexOf('[\n'))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const tarball = join(tmp, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);
  consumer = join(tmp, 'consumer');
  await run('mkdir', ['-p', consumer]);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const typesNode = (JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version;
  await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, `@types/node@${typesNode}`], { cwd: consumer, timeout: 120_000 });
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the tarball ships dist (code, types, demo, SDK bundle and its types) and nothing else', () => {
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/cli/main.js', 'dist/web/static/index.html', 'dist/web/sdk/switchboard.js', 'dist/web/sdk/switchboard.d.ts', 'bin/switchboard.mjs', 'package.json', 'README.md', 'LICENSE', 'proto/switchboard/v1/api.proto', 'docs/openapi.yaml']) {
    assert.ok(packed.includes(f), `${f} is in the tarball`);
  }
  const stray = packed.filter((f) => /^(src|test|bench|scripts|\.ci|\.github|deploy)\//.test(f) || f.endsWith('.test.js'));
  assert.deepEqual(stray, [], 'no sources, tests, benchmarks or CI files');
  const dts = packed.filter((f) => f.endsWith('.d.ts'));
  for (const f of dts.slice(0, 400)) {
    const text = readFileSync(join(consumer, 'node_modules/switchboard-rt', f), 'utf8');
    assert.doesNotMatch(text, /from\s+['"]\.{1,2}\/[^'"]*\.ts['"]/, `${f} imports no .ts specifier`);
  }
});

test('(a) a server and a client run with plain node from the installed package', async () => {
  const script = `
import { startNode } from 'switchboard-rt';
import { Client } from 'switchboard-rt/client';
const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true,
  namespaces: { feed: { subscribe: 'anonymous', publish: 'anonymous' } } });
const http = node.httpUrl;
for (const [path, type] of [['/', 'text/html'], ['/sdk/switchboard.js', 'text/javascript'], ['/sdk/switchboard.d.ts', 'text/plain']]) {
  const r = await fetch(http + path);
  if (r.status !== 200 || !String(r.headers.get('content-type')).startsWith(type)) throw new Error(path + ' answered ' + r.status + ' ' + r.headers.get('content-type'));
  await r.arrayBuffer();
}
const c = new Client(node.wsUrl);
await c.connect();
const got = new Promise((res) => {
  const sub = c.subscribe('feed:pkg', { onPublication: (p) => res(p.data), onSubscribed: () => { sub.publish({ hello: 'package' }).catch((e) => { console.error(e); process.exit(3); }); } });
});
const timer = setTimeout(() => { console.error('no publication'); process.exit(2); }, 10000);
const data = await got;
clearTimeout(timer);
if (JSON.stringify(data) !== '{"hello":"package"}') throw new Error('got ' + JSON.stringify(data));
c.close();
await node.close();
console.log('roundtrip ok');
process.exit(0);
`;
  writeFileSync(join(consumer, 'roundtrip.mjs'), script);
  const { stdout } = await run(process.execPath, ['roundtrip.mjs'], { cwd: consumer, timeout: 30_000 });
  assert.match(stdout, /roundtrip ok/);

  // The bin runs the compiled CLI with plain node: a dev node starts and serves /.
  const bin = spawn(process.execPath, [join(consumer, 'node_modules/switchboard-rt/bin/switchboard.mjs'), 'start', '--dev', '--port', '0', '--host', '127.0.0.1'], { cwd: consumer, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  bin.stdout.on('data', (d: Buffer) => (out += d.toString()));
  bin.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => bin.on('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 20_000;
    let url: string | undefined;
    while (!url && Date.now() < deadline) {
      url = /http:\/\/127\.0\.0\.1:\d+/.exec(out)?.[0];
      if (bin.exitCode !== null) break;
      if (!url) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(url, `the bin printed its URL:\n${out}`);
    const r = await fetch(`${url}/`);
    assert.equal(r.status, 200);
    await r.arrayBuffer();
  } finally {
    bin.kill('SIGTERM');
    await exited;
  }
});

const NODE_CONSUMER = `
import { startNode, type StartOptions, type SwitchboardNode } from 'switchboard-rt';
import { Client, type Publication, type ClientOptions } from 'switchboard-rt/client';

const options: StartOptions = { port: 0, insecure: true };
export async function main(): Promise<string[]> {
  const node: SwitchboardNode = await startNode(options);
  const clientOptions: Partial<ClientOptions> = { format: 'json' };
  const c = new Client(node.wsUrl, clientOptions);
  await c.connect();
  const seen: string[] = [];
  const sub = c.subscribe('feed:x', { onPublication: (p: Publication) => seen.push(String(p.offset)) });
  const ack = await sub.publish({ n: 1 });
  const offset: number = ack.offset;
  seen.push(String(offset));
  c.close();
  await node.close();
  return seen;
}
`;

const BROWSER_CONSUMER = `
import { Client, type Call, type CallPeer } from 'switchboard-rt/client';

export function wire(call: Call, peer: CallPeer): RTCPeerConnection {
  const pc: RTCPeerConnection = peer.pc;
  const state: RTCPeerConnectionState = peer.connectionState;
  call.on('track', (e) => { const t: MediaStreamTrack = e.track; const s: readonly MediaStream[] = e.streams; void t; void s; });
  void state;
  return pc;
}
export const client = new Client('wss://example.test/ws');
`;

const modes: Array<{ name: string; module: string; resolution: string; dom: boolean; file: string }> = [
  { name: 'node16', module: 'node16', resolution: 'node16', dom: false, file: 'node.ts' },
  { name: 'nodenext', module: 'nodenext', resolution: 'nodenext', dom: false, file: 'node.ts' },
  { name: 'bundler', module: 'esnext', resolution: 'bundler', dom: false, file: 'node.ts' },
  { name: 'bundler + DOM (browser app, WebRTC types)', module: 'esnext', resolution: 'bundler', dom: true, file: 'browser.ts' },
];

for (const m of modes) {
  test(`(b) consumer TypeScript type-checks: ${m.name}, strict, skipLibCheck off`, async () => {
    writeFileSync(join(consumer, 'node.ts'), NODE_CONSUMER);
    writeFileSync(join(consumer, 'browser.ts'), BROWSER_CONSUMER);
    const config = `tsconfig.${m.name.split(' ')[0]}${m.dom ? '-dom' : ''}.json`;
    writeFileSync(
      join(consumer, config),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: m.module,
          moduleResolution: m.resolution,
          lib: m.dom ? ['ES2023', 'DOM'] : ['ES2023'],
          types: m.dom ? [] : ['node'],
          strict: true,
          skipLibCheck: false,
          noEmit: true,
        },
        files: [m.file],
      }),
    );
    const r = await run(process.execPath, [tsc, '-p', config], { cwd: consumer, timeout: 60_000 }).then(
      () => ({ ok: true, out: '' }),
      (err: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    assert.ok(r.ok, `tsc -p ${config} failed:\n${r.out.split('\n').slice(0, 40).join('\n')}`);
  });
}
