/**
 * The SDK over WebTransport in headless Chromium (QUIC on): `webtransportTransport` at the head of
 * the transport list — a chat round trip, recovery across a forced disconnect, and the fallback to
 * WebSocket when UDP packets are dropped (remembered for the origin, so the next client goes
 * straight to WebSocket).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { disconnect } from '../../src/protocol/codes.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { loadQuiche } from '../../src/transports/webtransport/binding.ts';
import { CHROMIUM, browserUnavailable } from './browser.ts';
import { RawClient } from '../helpers/raw-client.ts';

const skip = browserUnavailable();
let browser: Browser;
let bundle = '';
const nodes: SwitchboardNode[] = [];

async function wtNode(): Promise<SwitchboardNode> {
  const n = await startNode({
    port: 0,
    host: '127.0.0.1',
    allowAnonymous: true,
    namespaces: { chat: { subscribe: 'anonymous', publish: 'anonymous', historyRead: 'anonymous', historySize: 100, historyTtl: 300, recover: true } },
    webtransport: { port: 0 },
  });
  nodes.push(n);
  return n;
}

before(async () => {
  if (skip) return;
  assert.ok(await loadQuiche(), '@matrixai/quic must be installed for the WebTransport e2e tests');
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const out = await build({
    stdin: {
      contents: "import { Client } from './src/client/index.ts'; import { webtransportTransport } from './src/transports/webtransport/client-transport.ts'; globalThis.SB = { Client, webtransportTransport };",
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  bundle = out.outputFiles[0]!.text;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The launcher in browser.ts passes --disable-quic; WebTransport needs QUIC.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  for (const n of nodes) await n.close();
});

async function sdkPage(node: SwitchboardNode): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (err) => console.error('[page error]', err.message));
  await page.goto(`${node.httpUrl}/healthz`);
  await page.addScriptTag({ content: bundle });
  return page;
}

type PageWindow = { SB: { Client: new (url: string, o: unknown) => any; webtransportTransport: unknown }; c: any; got: Array<{ channel: string; data: { text: string }; offset: number }>; transports: string[] };

test('SDK: webtransport first — connects over WebTransport, chats with a WebSocket client', { skip, timeout: 40_000 }, async () => {
  const node = await wtNode();
  const page = await sdkPage(node);
  const ws = await RawClient.connect(node.wsUrl);
  await ws.request({ t: 'sub', ch: 'chat:sdk' });
  const transport = await page.evaluate(async (url) => {
    const w = globalThis as unknown as PageWindow;
    w.got = [];
    w.c = new w.SB.Client(url, { transports: [w.SB.webtransportTransport, 'websocket'], openTimeout: 3000 });
    w.c.on('publication', (p: PageWindow['got'][number]) => w.got.push(p));
    w.transports = [];
    for (const ev of ['disconnected', 'connected', 'error', 'gap']) w.c.on(ev, (e: unknown) => w.transports.push(`${ev}:${JSON.stringify(e)}`.slice(0, 300)));
    w.c.subscribe('chat:sdk');
    await w.c.connect();
    return w.c.transport as string;
  }, node.httpUrl);
  assert.equal(transport, 'webtransport');
  await page.waitForFunction(() => (globalThis as unknown as PageWindow).c.getSubscription('chat:sdk')?.state === 'subscribed');
  await page.evaluate(() => (globalThis as unknown as PageWindow).c.publish('chat:sdk', { text: 'from the sdk' }));
  assert.equal((await ws.waitFor((f) => f.t === 'pub' && f.data?.text === 'from the sdk')).ch, 'chat:sdk');
  await ws.request({ t: 'pub', ch: 'chat:sdk', data: { text: 'from websocket' } });
  await page.waitForFunction(() => (globalThis as unknown as PageWindow).got.some((p) => p.data.text === 'from websocket'), undefined, { timeout: 5000 });

  // Recovery across a forced disconnect: the server drops the WebTransport session, publications
  // made meanwhile come back from history on the resubscribe after the reconnect.
  const session = [...node.sessions].find((s) => s.transport.kind === 'webtransport');
  assert.ok(session, 'a WebTransport session on the node');
  session.close(disconnect('reconnectRequested'));
  const replies: unknown[] = [];
  for (let i = 0; i < 3; i++) replies.push(await ws.request({ t: 'pub', ch: 'chat:sdk', data: { text: `missed ${i}` } }));
  await page
    .waitForFunction(() => ['missed 0', 'missed 1', 'missed 2'].every((t) => (globalThis as unknown as PageWindow).got.some((p) => p.data.text === t)), undefined, { timeout: 15_000 })
    .catch(async (err: unknown) => {
      const state = await page.evaluate(() => {
        const w = globalThis as unknown as PageWindow;
        return JSON.stringify({ sub: w.c.getSubscription('chat:sdk')?.state, state: w.c.state, transport: w.c.transport, got: w.got.map((p) => p.data.text), log: w.transports });
      });
      throw new Error(`${String(err)}; replies ${JSON.stringify(replies)}; page: ${state}; node sessions: ${JSON.stringify([...node.sessions].map((s) => ({ k: s.transport.kind, st: s.state, subs: [...((s as unknown as { subs?: Map<string, unknown> }).subs?.keys() ?? [])], buf: s.transport.bufferedBytes, q: (s.transport as unknown as { session?: { quic: { queuedBytes: number; conn: { stats(): unknown } } } }).session?.quic.conn.stats() })))}`);
    });
  const after = await page.evaluate(() => {
    const w = globalThis as unknown as PageWindow;
    return { transport: w.c.transport as string, offsets: w.got.map((p) => p.offset), gaps: w.transports.filter((e) => e.startsWith('gap:')) };
  });
  assert.deepEqual(after.gaps, [], 'recovered from history: no gap');
  assert.equal(after.transport, 'webtransport', 'reconnected over WebTransport');
  assert.deepEqual(after.offsets, [...after.offsets].sort((a, b) => a - b), 'in order, no duplicates');
  assert.equal(new Set(after.offsets).size, after.offsets.length);
  ws.close();
  await page.evaluate(() => (globalThis as unknown as PageWindow).c.close());
});

test('SDK: UDP dropped → falls back to WebSocket after openTimeout, and remembers it', { skip, timeout: 40_000 }, async () => {
  const node = await wtNode();
  // Every UDP packet to the node's QUIC port is dropped (the socket stays bound, nothing answers):
  // what a firewall that blocks UDP looks like to the browser.
  const socket = (node.webtransport!.endpoint as unknown as { socket: import('node:dgram').Socket }).socket;
  socket.removeAllListeners('message');
  const page = await sdkPage(node);
  const first = await page.evaluate(async (url) => {
    const w = globalThis as unknown as PageWindow;
    const t0 = performance.now();
    w.c = new w.SB.Client(url, { transports: [w.SB.webtransportTransport, 'websocket'], openTimeout: 1500, upgrade: false });
    await w.c.connect();
    return { transport: w.c.transport as string, ms: performance.now() - t0 };
  }, node.httpUrl);
  assert.equal(first.transport, 'websocket');
  assert.ok(first.ms >= 1400, `waited for openTimeout before falling back (${Math.round(first.ms)} ms)`);
  const second = await page.evaluate(async (url) => {
    const w = globalThis as unknown as PageWindow;
    w.c.close();
    const t0 = performance.now();
    const c2 = new w.SB.Client(url, { transports: [w.SB.webtransportTransport, 'websocket'], openTimeout: 1500, upgrade: false });
    await c2.connect();
    const out = { transport: c2.transport as string, ms: performance.now() - t0 };
    c2.close();
    return out;
  }, node.httpUrl);
  assert.equal(second.transport, 'websocket');
  assert.ok(second.ms < 1000, `remembered: straight to WebSocket (${Math.round(second.ms)} ms)`);
});
