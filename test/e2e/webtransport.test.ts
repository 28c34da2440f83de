/**
 * Headless Chromium over WebTransport (HTTP/3, QUIC on loopback UDP): the browser's own
 * `WebTransport` API pins the node's dev certificate by its SHA-256 (`serverCertificateHashes`),
 * opens a bidirectional stream and chats — the Session's frames, length-prefixed — with a
 * WebSocket client on the same channel. Chromium is launched WITHOUT `--disable-quic` (the other
 * e2e tests pass it; test/e2e/browser.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { loadQuiche } from '../../src/transports/webtransport/binding.ts';
import { CHROMIUM, browserUnavailable } from './browser.ts';
import { RawClient } from '../helpers/raw-client.ts';

const skip = browserUnavailable();
let node: SwitchboardNode;
let browser: Browser;

before(async () => {
  if (skip) return;
  assert.ok(await loadQuiche(), '@matrixai/quic must be installed for the WebTransport e2e test');
  node = await startNode({
    port: 0,
    host: '127.0.0.1',
    allowAnonymous: true,
    namespaces: { chat: { subscribe: 'anonymous', publish: 'anonymous' } },
    webtransport: { port: 0 },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await node?.close();
});

/** Runs in the page: WebTransport connect, Switchboard connect + subscribe, publish, wait for the WebSocket client's message. */
async function pageChat(args: { infoUrl: string; channel: string }): Promise<{ frames: Array<Record<string, unknown>>; error?: string }> {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const varint = (n: number) => (n < 64 ? [n] : n < 16384 ? [0x40 | (n >> 8), n & 0xff] : [0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  const frame = (o: unknown) => {
    const b = enc.encode(JSON.stringify(o));
    return new Uint8Array([...varint(b.length), ...b]);
  };
  const frames: Array<Record<string, unknown>> = [];
  try {
    const info = (await (await fetch(args.infoUrl)).json()) as { url: string; certificateHashes: Array<{ algorithm: string; value: string }> };
    const hashes = info.certificateHashes.map((h) => ({ algorithm: h.algorithm, value: Uint8Array.from(atob(h.value), (c) => c.charCodeAt(0)) }));
    const wt = new (globalThis as unknown as { WebTransport: new (url: string, o: unknown) => any }).WebTransport(info.url, { serverCertificateHashes: hashes });
    await wt.ready;
    const stream = await wt.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    let buf = new Uint8Array(0);
    const next = async (pred: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
      for (;;) {
        const have = frames.find(pred);
        if (have) return have;
        // Parse whatever is buffered first.
        for (;;) {
          if (buf.length === 0) break;
          const first = buf[0]!;
          const n = 1 << (first >> 6);
          if (buf.length < n) break;
          let len = first & 0x3f;
          for (let i = 1; i < n; i++) len = len * 256 + buf[i]!;
          if (buf.length < n + len) break;
          const f = JSON.parse(dec.decode(buf.subarray(n, n + len))) as Record<string, unknown>;
          frames.push(f);
          if (f.t === 'ping') await writer.write(frame({ t: 'pong' }));
          buf = buf.subarray(n + len);
        }
        const again = frames.find(pred);
        if (again) return again;
        const r = await reader.read();
        if (r.done) throw new Error('stream ended');
        const nb = new Uint8Array(buf.length + r.value.length);
        nb.set(buf);
        nb.set(r.value, buf.length);
        buf = nb;
      }
    };
    await writer.write(frame({ t: 'connect', id: 1 }));
    await next((f) => f.id === 1);
    await writer.write(frame({ t: 'sub', id: 2, ch: args.channel }));
    await next((f) => f.id === 2);
    await writer.write(frame({ t: 'pub', id: 3, ch: args.channel, data: { text: 'hello from chromium' } }));
    await next((f) => f.t === 'pub' && (f.data as { text?: string }).text === 'hello from websocket');
    wt.close({ closeCode: 0, reason: 'done' });
  } catch (err) {
    return { frames, error: String(err) };
  }
  return { frames };
}

test('Chromium: chat over WebTransport with a pinned dev certificate, round trip with a WebSocket client', { skip, timeout: 30_000 }, async () => {
  const ws = await RawClient.connect(node.wsUrl);
  await ws.request({ t: 'sub', ch: 'chat:wt' });
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  // tsx compiles pageChat with esbuild's keepNames, which calls a `__name` helper the page lacks.
  await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  await page.goto(`${node.httpUrl}/healthz`);
  const result = page.evaluate(pageChat, { infoUrl: `${node.httpUrl}/connection/webtransport`, channel: 'chat:wt' });
  const fromBrowser = await ws.waitFor((f) => f.t === 'pub' && f.data?.text === 'hello from chromium', 15_000);
  assert.equal(fromBrowser.ch, 'chat:wt');
  const wtSessions = [...node.sessions].filter((s) => s.transport.kind === 'webtransport');
  assert.equal(wtSessions.length, 1, 'the browser is connected over WebTransport');
  ws.send({ t: 'pub', id: 99, ch: 'chat:wt', data: { text: 'hello from websocket' } });
  const r = await result;
  assert.equal(r.error, undefined, `page error: ${r.error} after ${JSON.stringify(r.frames)}`);
  assert.ok(r.frames.some((f) => f.t === 'pub' && (f.data as { text: string }).text === 'hello from chromium'), 'the browser got its own publication back');
  ws.close();
  await ctx.close();
});
