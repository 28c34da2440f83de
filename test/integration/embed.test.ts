/**
 * Embedding (issue 13 item 2, docs/embedding.md): a node attached to an app's own server, inside a
 * real Express app and inside a real Fastify app, under a path prefix on the app's port. The app's
 * routes (and its own WebSocket upgrades) keep working; the SDK connects through the prefix over
 * WebSocket, SSE and long polling and gets publications; the server API and the SDK file are
 * served under the prefix.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { WebSocket, WebSocketServer } from 'ws';
import { attach, fastifySwitchboard, startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { Client, type ClientOptions } from '../../src/client/index.ts';
import { freshMemory } from '../e2e/memory.ts';
import { waitFor } from './client-helpers.ts';

const KEY = 'embed-test-api-key';
const PREFIX = '/switchboard';
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

const nodeOptions = {
  path: PREFIX,
  apiKey: KEY,
  allowAnonymous: true,
  allowedOrigins: ['*'],
  defaultNamespace: { subscribe: 'anonymous' as const, historySize: 10 },
};

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function api(base: string, method: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${PREFIX}/api/${method}`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `apikey ${KEY}` }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/**
 * The SDK at `${base}/switchboard` with only `transports`: connects, subscribes, gets a publication
 * made through the server API under the prefix, and reports the transport it used.
 */
async function sdkRoundTrip(base: string, transports: ClientOptions['transports'], channel: string): Promise<string> {
  const c = new Client(`${base}${PREFIX}`, { transports, minDelay: 20, maxDelay: 200, openTimeout: 1500, upgrade: false, transportMemory: freshMemory() });
  cleanup.push(() => c.close());
  const got: unknown[] = [];
  const sub = c.subscribe(channel, { onPublication: (p) => got.push(p.data) });
  await c.connect();
  await waitFor(() => sub.state === 'subscribed', 5000, `subscribed over ${transports.join(',')}`);
  const pub = await api(base, 'publish', { channel, data: { via: transports.join(',') } });
  assert.equal(pub.status, 200, JSON.stringify(pub.body));
  await waitFor(() => got.length === 1, 5000, 'the publication');
  assert.deepEqual(got, [{ via: transports.join(',') }]);
  const used = c.transport ?? '';
  c.close();
  return used;
}

describe('attach(httpServer)', () => {
  test('serves the prefix; the app keeps its routes and its own WebSocket upgrades', async () => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`app:${req.url}`);
    });
    // The app's own WebSocket endpoint, outside the prefix: its upgrades must reach it untouched.
    const appWss = new WebSocketServer({ noServer: true });
    appWss.on('connection', (ws) => ws.send('app-ws-hello'));
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/app-ws') appWss.handleUpgrade(req, socket, head, (ws) => appWss.emit('connection', ws, req));
    });
    const base = await listen(server);
    const node = await attach(server, nodeOptions);
    cleanup.push(() => closeServer(server), () => appWss.close(), () => node.close());
    assert.equal(node.httpUrl, `${base}${PREFIX}`);
    assert.equal(node.wsUrl, `${base.replace('http', 'ws')}${PREFIX}/connection/websocket`);

    for (const path of ['/', '/other', '/switchboardX', '/api/publish']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      assert.equal(await res.text(), `app:${path}`);
    }
    const appWs = new WebSocket(`${base.replace('http', 'ws')}/app-ws`);
    const hello = await new Promise<string>((resolve, reject) => {
      appWs.once('message', (m) => resolve(String(m)));
      appWs.once('error', reject);
    });
    appWs.close();
    assert.equal(hello, 'app-ws-hello');

    const health = await fetch(`${base}${PREFIX}/healthz`);
    assert.equal(health.status, 200);
    const missing = await fetch(`${base}${PREFIX}/nothing-here`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as any).error.message, /\/switchboard\/nothing-here/);
    assert.equal(await sdkRoundTrip(base, ['websocket'], 'attach-ws'), 'websocket');
    assert.equal(await sdkRoundTrip(base, ['sse'], 'attach-sse'), 'sse');

    // close() gives the server back to the app: the prefix is the app's again.
    await node.close();
    const after = await fetch(`${base}${PREFIX}/healthz`);
    assert.equal(await after.text(), `app:${PREFIX}/healthz`);
  });

  test('rejects the tls option (an attached server has its own TLS) and bad paths', async () => {
    const server = createServer();
    await assert.rejects(attach(server, { ...nodeOptions, tls: { cert: '/x.pem', key: '/y.pem' } }), /option "tls" is for the node's own server/);
    await assert.rejects(startNode({ ...nodeOptions, server: 'none', path: '/a/../b' }), /option "path" must be an absolute URL path/);
    await assert.rejects(startNode({ ...nodeOptions, server: 'none', path: 'relative' }), /option "path"/);
  });
});

describe('Express', () => {
  let node: SwitchboardNode;
  let base: string;

  test('app.use(prefix, node.requestHandler) + upgradeHandler: app routes, WebSocket, SSE, polling, API, SDK file', async () => {
    node = await startNode({ ...nodeOptions, server: 'none' });
    const app = express();
    app.use(PREFIX, node.requestHandler);
    // The app's body parser comes after Switchboard, so the server API still reads its own body.
    app.use(express.json());
    app.get('/hello', (_req, res) => {
      res.json({ hello: 'express' });
    });
    app.post('/echo', (req, res) => {
      res.json({ echo: req.body as unknown });
    });
    const server = createServer(app);
    server.on('upgrade', (req, socket, head) => {
      if (!node.upgradeHandler(req, socket, head)) socket.destroy();
    });
    base = await listen(server);
    cleanup.push(() => closeServer(server), () => node.close());

    assert.deepEqual(await (await fetch(`${base}/hello`)).json(), { hello: 'express' });
    const echo = await fetch(`${base}/echo`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' });
    assert.deepEqual(await echo.json(), { echo: { a: 1 } });
    // Express's own 404 for what is neither the app's nor Switchboard's.
    const nf = await fetch(`${base}/nope`);
    assert.equal(nf.status, 404);
    assert.match(await nf.text(), /Cannot GET \/nope/);

    assert.equal(await sdkRoundTrip(base, ['websocket'], 'express-ws'), 'websocket');
    assert.equal(await sdkRoundTrip(base, ['sse'], 'express-sse'), 'sse');
    assert.equal(await sdkRoundTrip(base, ['poll'], 'express-poll'), 'poll');

    const h = await api(base, 'history', { channel: 'express-poll' });
    assert.equal(h.status, 200);
    assert.equal(h.body.result.publications.length, 1);
    const bad = await api(base, 'publish', { channel: '' });
    assert.equal(bad.status, 400);

    const types = await fetch(`${base}${PREFIX}/sdk/switchboard.d.ts`);
    assert.equal(types.status, 200);
    assert.match(await types.text(), /class Client/);
    const js = await fetch(`${base}${PREFIX}/sdk/switchboard.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.match(await js.text(), /export\s*\{/);
  });

  test('mounted at the root (app.use(node.requestHandler)) it serves only the prefix', async () => {
    const n = await startNode({ ...nodeOptions, server: 'none' });
    const app = express();
    app.use(n.requestHandler);
    app.get('/hello', (_req, res) => {
      res.send('root-mounted');
    });
    const server = createServer(app);
    const b = await listen(server);
    cleanup.push(() => closeServer(server), () => n.close());
    assert.equal(await (await fetch(`${b}/hello`)).text(), 'root-mounted');
    assert.equal((await fetch(`${b}${PREFIX}/healthz`)).status, 200);
    // The bare prefix redirects to its directory (the demo page's relative links).
    const bare = await fetch(`${b}${PREFIX}`, { redirect: 'manual' });
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get('location'), `${PREFIX}/`);
  });

  test('without the upgrade wiring the SDK falls back to SSE through the prefix', async () => {
    const n = await startNode({ ...nodeOptions, server: 'none' });
    const app = express();
    app.use(PREFIX, n.requestHandler);
    const server = createServer(app);
    const b = await listen(server);
    cleanup.push(() => closeServer(server), () => n.close());
    assert.equal(await sdkRoundTrip(b, ['websocket', 'sse', 'poll'], 'express-fallback'), 'sse');
  });
});

describe('Fastify', () => {
  test('app.register(fastifySwitchboard(node)): app routes, WebSocket, SSE, polling, API beside them on one port', async () => {
    const node = await startNode({ ...nodeOptions, server: 'none' });
    const app = Fastify();
    await app.register(fastifySwitchboard(node));
    app.get('/hello', async () => ({ hello: 'fastify' }));
    app.post('/echo', async (req) => ({ echo: req.body }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    cleanup.push(() => app.close(), () => node.close());

    assert.deepEqual(await (await fetch(`${base}/hello`)).json(), { hello: 'fastify' });
    const echo = await fetch(`${base}/echo`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"b":2}' });
    assert.deepEqual(await echo.json(), { echo: { b: 2 } });
    const nf = await fetch(`${base}/nope`);
    assert.equal(nf.status, 404);
    assert.match(await nf.text(), /Route GET:\/nope not found/);

    assert.equal(await sdkRoundTrip(base, ['websocket'], 'fastify-ws'), 'websocket');
    assert.equal(await sdkRoundTrip(base, ['sse'], 'fastify-sse'), 'sse');
    assert.equal(await sdkRoundTrip(base, ['poll'], 'fastify-poll'), 'poll');
    const info = await api(base, 'info', {});
    assert.equal(info.status, 200);
    assert.equal(info.body.result.nodes.length, 1);
    const unauthorized = await fetch(`${base}${PREFIX}/api/info`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(unauthorized.status, 401);
    assert.equal((await fetch(`${base}${PREFIX}/sdk/switchboard.d.ts`)).status, 200);
  });

  test('attach(fastify.server) works too', async () => {
    const app = Fastify();
    app.get('/hello', async () => 'fastify-attached');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const node = await attach(app.server, nodeOptions);
    cleanup.push(() => app.close(), () => node.close());
    assert.equal(await (await fetch(`${base}/hello`)).text(), 'fastify-attached');
    assert.equal(await sdkRoundTrip(base, ['websocket'], 'fastify-attached-ws'), 'websocket');
    assert.equal(await sdkRoundTrip(base, ['poll'], 'fastify-attached-poll'), 'poll');
  });
});
