/**
 * A lossy channel over WebTransport datagrams in headless Chromium, through the SDK: a
 * `datagrams: true` namespace delivers over datagrams; then the node's UDP socket drops a random
 * 10 % of its outgoing packets (a lossy path, both directions' retransmissions included), and
 * the SDK reports the lost datagram publications as `gap`s and keeps going, while a reliable
 * namespace on the same connection loses nothing (QUIC retransmits its stream data).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { loadQuiche } from '../../src/transports/webtransport/binding.ts';
import { CHROMIUM, browserUnavailable } from './browser.ts';

const skip = browserUnavailable();
let browser: Browser;
let bundle = '';
let node: SwitchboardNode;

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
  node = await startNode({
    port: 0,
    host: '127.0.0.1',
    allowAnonymous: true,
    namespaces: {
      cursor: { subscribe: 'anonymous', publish: 'anonymous', datagrams: true, lossy: true },
      chat: { subscribe: 'anonymous', publish: 'anonymous', historySize: 1000, historyTtl: 300, recover: true },
    },
    webtransport: { port: 0 },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // WebTransport needs QUIC (browser.ts's launcher passes --disable-quic).
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await node?.close();
});

type Got = { channel: string; data: { i: number }; offset: number };
type Gap = { channel: string; reason: string; from?: number; to?: number };
type PageWindow = { SB: { Client: new (url: string, o: unknown) => any; webtransportTransport: unknown }; c: any; got: Got[]; gaps: Gap[] };

test('SDK: a datagrams namespace over WebTransport; 10 % packet loss gives gaps on it and nothing lost on the reliable one', { skip, timeout: 60_000 }, async () => {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (err) => console.error('[page error]', err.message));
  await page.goto(`${node.httpUrl}/healthz`);
  await page.addScriptTag({ content: bundle });
  const transport = await page.evaluate(async (url) => {
    const w = globalThis as unknown as PageWindow;
    w.got = [];
    w.gaps = [];
    w.c = new w.SB.Client(url, { transports: [w.SB.webtransportTransport, 'websocket'], openTimeout: 3000, upgrade: false });
    w.c.on('publication', (p: Got) => w.got.push(p));
    w.c.on('gap', (g: Gap) => w.gaps.push(g));
    w.c.subscribe('cursor:1');
    w.c.subscribe('chat:1');
    await w.c.connect();
    return w.c.transport as string;
  }, node.httpUrl);
  assert.equal(transport, 'webtransport');
  await page.waitForFunction(() => ['cursor:1', 'chat:1'].every((ch) => (globalThis as unknown as PageWindow).c.getSubscription(ch)?.state === 'subscribed'));

  const count = (ch: string) => page.evaluate((c) => (globalThis as unknown as PageWindow).got.filter((p) => p.channel === c).length, ch);
  const sentBefore = node.stats.datagramsSent;
  // No loss: every cursor publication arrives as a datagram.
  for (let i = 1; i <= 20; i++) await node.publish('cursor:1', { i });
  await page.waitForFunction(() => (globalThis as unknown as PageWindow).got.filter((p) => p.channel === 'cursor:1').length === 20, undefined, { timeout: 5000 });
  assert.equal(node.stats.datagramsSent - sentBefore, 20, 'sent as datagrams');

  // A lossy path: the node's UDP socket drops a random 10 % of what it sends.
  const endpoint = node.webtransport!.endpoint! as unknown as { sendPacket(buf: Buffer, to: unknown): void };
  const send = endpoint.sendPacket.bind(endpoint);
  let dropped = 0;
  endpoint.sendPacket = (buf, to) => {
    if (Math.random() < 0.1) dropped++;
    else send(buf, to);
  };
  for (let i = 21; i <= 220; i++) {
    await node.publish('cursor:1', { i });
    await node.publish('chat:1', { i });
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 10));
  }
  // The reliable channel gets all 200, in order (QUIC retransmits lost stream data).
  await page.waitForFunction(() => (globalThis as unknown as PageWindow).got.filter((p) => p.channel === 'chat:1').length >= 200, undefined, { timeout: 20_000 });
  // Let the last datagrams land, then publish one more cursor position after the loss stops,
  // so a hole at the tail shows up too.
  endpoint.sendPacket = send;
  await node.publish('cursor:1', { i: 221 });
  await page.waitForFunction(() => (globalThis as unknown as PageWindow).got.some((p) => p.channel === 'cursor:1' && p.data.i === 221), undefined, { timeout: 5000 });

  const r = await page.evaluate(() => {
    const w = globalThis as unknown as PageWindow;
    return { got: w.got, gaps: w.gaps, state: w.c.state as string, transport: w.c.transport as string };
  });
  assert.ok(dropped > 0, 'packets were dropped');
  const chat = r.got.filter((p) => p.channel === 'chat:1').map((p) => p.data.i);
  assert.deepEqual(
    chat,
    Array.from({ length: 200 }, (_, k) => k + 21),
    'reliable namespace: everything, in order',
  );
  assert.deepEqual(
    r.gaps.filter((g) => g.channel === 'chat:1'),
    [],
  );
  const cursor = r.got.filter((p) => p.channel === 'cursor:1').map((p) => p.offset);
  assert.ok(cursor.length < 221, `some cursor publications were lost (${cursor.length} of 221 arrived, ${dropped} packets dropped)`);
  assert.deepEqual(cursor, [...new Set(cursor)].sort((a, b) => a - b), 'delivered in offset order, no duplicates');
  const gaps = r.gaps.filter((g) => g.channel === 'cursor:1');
  assert.ok(gaps.length > 0, 'gaps reported');
  assert.ok(gaps.every((g) => g.reason === 'gap'), `lost datagrams are reported like conflation: ${JSON.stringify(gaps.slice(0, 3))}`);
  // Every offset 1..221 is either delivered or inside a reported gap: nothing skipped silently.
  const covered = new Set(cursor);
  for (const g of gaps) for (let o = g.from!; o <= g.to!; o++) covered.add(o);
  assert.equal(covered.size, 221, 'delivered + reported = everything published');
  assert.equal(r.state, 'connected');
  assert.equal(r.transport, 'webtransport', 'kept going on the same connection');
  assert.equal(await count('cursor:1'), cursor.length);
  await page.evaluate(() => (globalThis as unknown as PageWindow).c.close());
});
