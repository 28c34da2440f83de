/**
 * The demo page behind a proxy that blocks transports: WebSocket refused → the page falls back to
 * SSE and still chats; SSE refused too → long polling. Then the control forces a transport.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from './proxy.ts';
import { browserUnavailable, joinDemo, launch, pageTransport, screenshot, send, startDemoNode, waitForMessage, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

let browser: Browser | undefined;
let node: Awaited<ReturnType<typeof startDemoNode>> | undefined;

async function env() {
  node ??= await startDemoNode();
  if (!browser) {
    browser = await launch();
    const b = browser;
    cleanup.push(() => b.close());
  }
  return { node, browser };
}
after(() => node?.close());

for (const { blocked, expect, label } of [
  { blocked: { websocket: 'refuse' }, expect: 'sse', label: 'SSE' },
  { blocked: { websocket: 'refuse', sse: 'refuse' }, expect: 'poll', label: 'Long polling' },
] as const) {
  test(`WebSocket${'sse' in blocked ? ' and SSE' : ''} blocked by a proxy → the page uses ${expect} and chats`, { skip }, async () => {
    const { node, browser } = await env();
    const proxy = await startProxy(node.httpUrl, blocked);
    cleanup.push(() => proxy.close());
    const room = `fb-${expect}`;
    const { page: a } = await browser.page();
    const { page: b } = await browser.page();
    await joinDemo(a, proxy.url, 'Ana', room);
    await joinDemo(b, node.httpUrl, 'Bo', room); // Bo is not behind the proxy
    assert.equal(await pageTransport(a), expect);
    assert.equal(await pageTransport(b), 'websocket');
    assert.match((await a.textContent('#badge')) ?? '', new RegExp(`${label}\\s*·\\s*connected`));
    await send(a, `hello over ${expect}`);
    await waitForMessage(b, `hello over ${expect}`);
    await send(b, `reply to ${expect}`);
    await waitForMessage(a, `reply to ${expect}`);
    await a.waitForFunction(() => [...document.querySelectorAll('#presence .who')].some((e) => e.textContent === 'Bo'), undefined, { timeout: 10_000 });
    await screenshot(a, `demo-fallback-${expect}`);
    await a.close();
    await b.close();
  });
}

test('the transport control forces a transport; the session moves without losing messages', { skip }, async () => {
  const { node, browser } = await env();
  const { page: a } = await browser.page();
  const { page: b } = await browser.page();
  await joinDemo(a, node.httpUrl, 'Ana', 'forced');
  await joinDemo(b, node.httpUrl, 'Bo', 'forced');
  for (const [value, n] of [
    ['poll', 1],
    ['sse', 2],
    ['websocket', 3],
  ] as const) {
    await a.selectOption('#transport', value);
    await a.waitForFunction((v) => (window as unknown as { __demo: { client: { transport?: string } } }).__demo.client.transport === v, value, { timeout: 10_000 });
    await send(b, `message ${n}`);
    await waitForMessage(a, `message ${n}`);
  }
  const delivered = await a.evaluate(() => (window as unknown as { __demo: { ui: { delivered: number[] } } }).__demo.ui.delivered);
  assert.deepEqual(delivered, [1, 2, 3]);
  await a.close();
  await b.close();
});
