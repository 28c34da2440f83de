/**
 * TLS without a proxy (issue 13 item 2): the `tls` option serves `https://` and `wss://` directly
 * and the gRPC API over TLS, with certificates made here by the openssl binary; `reloadTls()`
 * (what SIGHUP calls in the CLI) gives new connections the new certificate, while an open wss
 * session keeps working; bad files are ConfigErrors naming the option; a reload to unusable files
 * throws and keeps serving the old certificate.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import WebSocket from 'ws';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Client, type ClientOptions } from '../../src/client/index.ts';
import { ConfigError, startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { freshMemory } from '../e2e/memory.ts';
import { freePort } from '../helpers/net.ts';
import { waitFor } from './client-helpers.ts';

const KEY = 'tls-test-api-key';
const PROTO = new URL('../../proto/switchboard/v1/api.proto', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sb-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate for 127.0.0.1 and localhost, made by the openssl binary. */
function makeCert(name: string): { cert: string; key: string; pem: Buffer } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key, pem: readFileSync(cert) };
}

/** The certificate a fresh TLS connection is shown (verified against `ca`). */
function peerCert(port: number, ca: Buffer, alpn?: string[]): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.once('error', reject);
  });
}

function httpsJson(url: string, ca: Buffer, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest(
      url,
      { ca, method: data ? 'POST' : 'GET', headers: data ? { 'Content-Type': 'application/json', Authorization: `apikey ${KEY}` } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
      },
    );
    req.once('error', reject);
    req.end(data);
  });
}

/** The SDK over wss:// with `ca` trusted (a `ws` subclass as its WebSocket constructor). */
function wssClient(url: string, ca: Buffer): Client {
  class TrustingWebSocket extends WebSocket {
    constructor(u: string, protocols?: string | string[]) {
      super(u, protocols, { ca });
    }
  }
  const opts: Partial<ClientOptions> = { transports: ['websocket'], websocket: TrustingWebSocket as unknown as ClientOptions['websocket'], minDelay: 20, maxDelay: 200, transportMemory: freshMemory() };
  return new Client(url, opts);
}

describe('tls option', () => {
  const a = makeCert('sb-test-a');
  const b = makeCert('sb-test-b');
  // The node reads its certificate from these paths; the test "renews" it by copying over them.
  const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
  copyFileSync(a.cert, live.cert);
  copyFileSync(a.key, live.key);
  let node: SwitchboardNode;
  const clients: Client[] = [];
  /** What the first SDK client's subscription to `tls-news` received. */
  const got: unknown[] = [];
  let firstClientId = '';

  before(async () => {
    node = await startNode({ port: 0, host: '127.0.0.1', apiKey: KEY, allowAnonymous: true, tls: live, defaultNamespace: { subscribe: 'anonymous', historySize: 10 } });
    await node.startGrpc(0);
  });
  after(async () => {
    for (const c of clients) c.close();
    await node?.close();
  });

  test('https:// and wss:// are served with the certificate; the SDK connects over wss and gets a publication', async () => {
    assert.match(node.httpUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(node.wsUrl, /^wss:\/\/127\.0\.0\.1:\d+\/connection\/websocket$/);
    const health = await httpsJson(`${node.httpUrl}/healthz`, a.pem);
    assert.equal(health.status, 200);
    // Not trusted without the CA: it really is TLS with that certificate.
    await assert.rejects(httpsJson(`${node.httpUrl}/healthz`, b.pem), /self[- ]signed|unable to verify|certificate/i);
    // Plain HTTP to the TLS port gets no answer from the app.
    await assert.rejects(fetch(`http://127.0.0.1:${node.port}/healthz`));

    const c = wssClient(node.httpUrl, a.pem);
    clients.push(c);
    const sub = c.subscribe('tls-news', { onPublication: (p) => got.push(p.data) });
    await c.connect();
    assert.equal(c.transport, 'websocket');
    firstClientId = c.id ?? '';
    await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
    const pub = await httpsJson(`${node.httpUrl}/api/publish`, a.pem, { channel: 'tls-news', data: 'over-tls' });
    assert.equal(pub.status, 200);
    assert.equal(pub.body.result.offset, 1);
    await waitFor(() => got.length === 1, 5000, 'publication');
    assert.deepEqual(got, ['over-tls']);
  });

  test('the gRPC API speaks TLS with the same certificate (grpc-js with the CA)', async () => {
    assert.ok(node.grpc);
    assert.match(node.grpc.url, /^https:/);
    const r = await grpcInfo(node.grpc.address, a.pem);
    assert.equal(r.err, undefined, r.err?.message);
    assert.equal(r.res.nodes.length, 1);
    const insecure = await grpcInfo(node.grpc.address, null);
    assert.ok(insecure.err, 'a plaintext gRPC client must not get through');
  });

  test('reloadTls(): new connections see the new certificate; an open wss session keeps working', async () => {
    const before = await peerCert(node.port, a.pem);
    assert.equal(before.subject.CN, 'sb-test-a');
    copyFileSync(b.cert, live.cert);
    copyFileSync(b.key, live.key);
    node.reloadTls();
    const after = await peerCert(node.port, b.pem);
    assert.equal(after.subject.CN, 'sb-test-b');
    assert.notEqual(after.fingerprint256, before.fingerprint256);
    await assert.rejects(peerCert(node.port, a.pem), /self[- ]signed|unable to verify|certificate/i);
    const grpcAfter = await peerCert(node.grpc!.port, b.pem, ['h2']);
    assert.equal(grpcAfter.subject.CN, 'sb-test-b');
    const r = await grpcInfo(node.grpc!.address, b.pem);
    assert.equal(r.err, undefined, r.err?.message);

    // The session opened before the reload is still the same one and still receives.
    const c = clients[0]!;
    assert.equal(c.state, 'connected');
    assert.equal(c.id, firstClientId, 'the session opened before the reload was not replaced');
    const pub = await httpsJson(`${node.httpUrl}/api/publish`, b.pem, { channel: 'tls-news', data: 'after-reload' });
    assert.equal(pub.status, 200);
    await waitFor(() => got.length === 2, 5000, 'publication after reload');
    assert.deepEqual(got, ['over-tls', 'after-reload']);
    // A new SDK connection trusts the new certificate only.
    const fresh = wssClient(node.httpUrl, b.pem);
    clients.push(fresh);
    await fresh.connect();
    assert.equal(fresh.state, 'connected');
  });

  test('a reload to unusable files throws and keeps the certificate in use', async () => {
    writeFileSync(live.key, 'not a key');
    assert.throws(() => node.reloadTls(), (err: unknown) => err instanceof ConfigError && /tls\.key.*not PEM/.test(err.message));
    copyFileSync(a.key, live.key); // key of A, certificate of B: a mismatch
    assert.throws(() => node.reloadTls(), /do not make a usable certificate and key/);
    const still = await peerCert(node.port, b.pem);
    assert.equal(still.subject.CN, 'sb-test-b');
  });

  test('bad tls options are ConfigErrors naming the field', async () => {
    await assert.rejects(startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, tls: { cert: a.cert } }), /needs both "cert" and "key"/);
    await assert.rejects(startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, tls: { cert: join(dir, 'missing.crt'), key: a.key } }), /option "tls.cert": cannot read/);
    await assert.rejects(startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, tls: { cert: a.cert, key: a.key, extra: 'x' } as never }), /unknown option "tls.extra"/);
  });
});

describe('tls in the CLI', () => {
  test('SIGHUP reloads the certificate of a running `switchboard start`', async (t) => {
    const c1 = makeCert('sb-cli-1');
    const c2 = makeCert('sb-cli-2');
    const live = { cert: join(dir, 'cli.crt'), key: join(dir, 'cli.key') };
    copyFileSync(c1.cert, live.cert);
    copyFileSync(c1.key, live.key);
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--port', String(port), '--host', '127.0.0.1'], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: { ...process.env, SWITCHBOARD_TLS_CERT: live.cert, SWITCHBOARD_TLS_KEY: live.key, SWITCHBOARD_ALLOW_ANONYMOUS: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => /listening on https:\/\//.test(out) || child.exitCode !== null, 30_000, 'the CLI to listen');
    assert.match(out, new RegExp(`listening on https://127\\.0\\.0\\.1:${port}`), out);
    assert.equal((await peerCert(port, c1.pem)).subject.CN, 'sb-cli-1');
    copyFileSync(c2.cert, live.cert);
    copyFileSync(c2.key, live.key);
    child.kill('SIGHUP');
    await waitFor(() => /TLS certificate reloaded/.test(out), 10_000, 'the reload log line');
    assert.equal((await peerCert(port, c2.pem)).subject.CN, 'sb-cli-2');
    assert.equal(child.exitCode, null, 'SIGHUP must not stop the node');
  });
});

function grpcInfo(address: string, ca: Buffer | null): Promise<{ res?: any; err?: Error }> {
  const def = protoLoader.loadSync(PROTO, { longs: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { switchboard: { v1: { ApiService: grpc.ServiceClientConstructor } } };
  const creds = ca ? grpc.credentials.createSsl(ca) : grpc.credentials.createInsecure();
  // The certificate names 127.0.0.1 and localhost; the address is 127.0.0.1:port.
  const client = new pkg.switchboard.v1.ApiService(address, creds) as unknown as grpc.Client & Record<string, (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: Error | null, res: any) => void) => void>;
  const md = new grpc.Metadata();
  md.set('authorization', `apikey ${KEY}`);
  return new Promise((resolve) => {
    client.Info!({}, md, { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      resolve(err ? { err } : { res });
    });
  });
}
