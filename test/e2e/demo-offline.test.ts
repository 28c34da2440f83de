/**
 * The browser goes offline for a few seconds (context.setOffline) while the other user keeps
 * writing; when it is back, the missed messages arrive exactly once, in order.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { browserUnavailable, joinDemo, launch, screenshot, send, shownMessages, startDemoNode, waitForMessage } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

interface DemoWindow {
  __demo: { client: { state: string }; ui: { delivered: number[] } };
}

test('offline for a few seconds, then back: missed messages arrive exactly once', { skip }, async () => {
  const node = await startDemoNode({ pingInterval: 2, pongTimeout: 1 });
  cleanup.push(() => node.close());
  const browser = await launch();
  cleanup.push(() => browser.close());
  const { page: a, context: actx } = await browser.page();
  const { page: b } = await browser.page();
  await joinDemo(a, node.httpUrl, 'Ana', 'offline');
  await joinDemo(b, node.httpUrl, 'Bo', 'offline');
  await send(b, 'before');
  await waitForMessage(a, 'before');

  await actx.setOffline(true);
  // The page notices (heartbeat: ping 2 s + pong 1 s, or the socket error) and starts reconnecting.
  await a.waitForFunction(() => (window as unknown as DemoWindow).__demo.client.state !== 'connected', undefined, { timeout: 10_000 });
  for (const t of ['missed 1', 'missed 2', 'missed 3']) await send(b, t);
  await waitForMessage(b, 'missed 3');
  await a.waitForTimeout(1500);
  await screenshot(a, 'demo-offline-during');
  await actx.setOffline(false);

  await waitForMessage(a, 'missed 3', 30_000);
  await send(b, 'after');
  await waitForMessage(a, 'after');
  assert.deepEqual(await shownMessages(a), ['before', 'missed 1', 'missed 2', 'missed 3', 'after']);
  const delivered = await a.evaluate(() => (window as unknown as DemoWindow).__demo.ui.delivered);
  assert.deepEqual(delivered, [1, 2, 3, 4, 5], 'each publication delivered once, in order');
  await screenshot(a, 'demo-offline-after');
});
