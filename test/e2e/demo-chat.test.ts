/**
 * The demo page in headless Chromium against a real node: two users chat and see each other in the
 * presence list; history on join; the typing indicator; the transport badge.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { browserUnavailable, joinDemo, launch, pageTransport, screenshot, send, shownMessages, startDemoNode, waitForMessage, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

test('two users chat, see each other in presence, history on join, typing indicator', { skip }, async () => {
  const node = await startDemoNode();
  cleanup.push(() => node.close());
  const browser: Browser = await launch();
  cleanup.push(() => browser.close());
  const { page: ana } = await browser.page();
  const { page: bo } = await browser.page();

  // The bundle and its types are served.
  const sdk = await fetch(`${node.httpUrl}/sdk/switchboard.js`);
  assert.equal(sdk.status, 200);
  assert.match(sdk.headers.get('content-type') ?? '', /javascript/);
  assert.match(await sdk.text(), /setTransports/);
  const dts = await fetch(`${node.httpUrl}/sdk/switchboard.d.ts`);
  assert.match(await dts.text(), /export declare class Client/);

  await node.publish('lobby', { name: 'Server', text: 'Welcome to the lobby', at: Date.now() });
  await joinDemo(ana, node.httpUrl, 'Ana', 'lobby');
  await waitForMessage(ana, 'Welcome to the lobby'); // history on join
  assert.equal(await pageTransport(ana), 'websocket');
  assert.match((await ana.textContent('#badge')) ?? '', /WebSocket\s*·\s*connected/);

  await joinDemo(bo, node.httpUrl, 'Bo', 'lobby');
  await send(ana, 'Hi Bo, this is Switchboard');
  await waitForMessage(bo, 'Hi Bo, this is Switchboard');
  await send(bo, 'Hello Ana! Presence and typing work too');
  await waitForMessage(ana, 'Hello Ana! Presence and typing work too');

  for (const [page, other] of [
    [ana, 'Bo'],
    [bo, 'Ana'],
  ] as const) {
    await page.waitForFunction((n) => [...document.querySelectorAll('#presence .who')].some((e) => e.textContent === n), other, { timeout: 10_000 });
  }
  assert.equal(await ana.textContent('#count'), '2');

  await bo.type('#text', 'one more thing', { delay: 10 });
  await ana.waitForFunction(() => document.querySelector('#typing')?.textContent === 'Bo is typing…', undefined, { timeout: 5000 });

  assert.deepEqual(await shownMessages(bo), ['Welcome to the lobby', 'Hi Bo, this is Switchboard', 'Hello Ana! Presence and typing work too']);
  await screenshot(ana, 'demo-chat-ana');
  await screenshot(bo, 'demo-chat-bo');

  // Bo leaves: Ana's presence list shrinks.
  await bo.close();
  await ana.waitForFunction(() => document.querySelector('#count')?.textContent === '1', undefined, { timeout: 10_000 });
});
