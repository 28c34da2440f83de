/**
 * The admin page and the demo in headless Chromium (issue 13, item 7), against a real node with 30
 * real WebSocket clients (24 named by JWT, 6 anonymous):
 * - no page error and no console error before (and at) login;
 * - the paged connection list: page size 10, Next through three pages, every client once, Prev
 *   back; the anonymous filter finds the anonymous ones;
 * - tiles say whether they are cluster-wide or this node's; the charts' y labels never repeat;
 * - at 390 px the admin page and the demo have no horizontal scroll;
 * - the demo keeps the user in the room on reload.
 * Screenshots go to test-artifacts/ (gitignored) and must exist.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { ARTIFACTS, browserUnavailable, launch, MEDIA_ARGS, startDemoNode, type Browser } from './browser.ts';
import { RawClient } from '../helpers/raw-client.ts';

const skip = browserUnavailable();
const ADMIN = 'admin-ui-secret-for-tests';
const JWT = 'admin-ui-jwt-secret-0123456789abcdef';
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** Collects uncaught page errors and console errors from the moment the page exists. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 1000, `screenshot ${path} written`);
  return path;
}

const scrollWidth = (page: Page) => page.evaluate(() => document.scrollingElement!.scrollWidth);
const range = (page: Page) => page.textContent('#conn-range');
const listedIds = (page: Page) => page.$$eval('#conns tr td:first-child code', (cs) => cs.map((c) => c.textContent ?? ''));

test('admin: paged connection list, anonymous filter, labelled scopes, unique axis labels, 390 px; demo: 390 px and rejoin on reload', { skip }, async () => {
  const node = await startDemoNode({ name: 'ui-node-1', adminSecret: ADMIN, allowAnonymous: true, jwt: { secret: JWT }, maxConnections: 1000 });
  cleanup.push(() => node.close());
  const clients: RawClient[] = [];
  cleanup.push(() => clients.forEach((c) => c.close()));
  const key = new TextEncoder().encode(JWT);
  for (let i = 0; i < 24; i++) {
    const c = await RawClient.connect(node.wsUrl, { token: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(`user-${String(i).padStart(2, '0')}`).sign(key) });
    await c.request({ t: 'sub', ch: `room-${i % 4}` });
    clients.push(c);
  }
  const anonymous: RawClient[] = [];
  for (let i = 0; i < 6; i++) anonymous.push(await RawClient.connect(node.wsUrl));
  clients.push(...anonymous);
  assert.equal(node.connectionCount, 30);

  // Fake camera and microphone: the demo's call panel is checked at 390 px too.
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());

  // ---- desktop: login, the paged list ---------------------------------------------------------
  const { page } = await browser.page();
  const errors = watchErrors(page);
  await page.goto(`${node.httpUrl}/admin`);
  await page.waitForSelector('#login', { state: 'visible' });
  await new Promise((r) => setTimeout(r, 1500)); // a few polling intervals before login
  assert.deepEqual(errors, [], 'nothing uncaught and no console error before login');
  await page.fill('#secret', ADMIN);
  await page.click('#login-form button');
  await page.waitForFunction(() => document.getElementById('k-conn')?.textContent === '30', undefined, { timeout: 10_000 });
  // Scopes are said: connections and deliveries cluster-wide, the rest this node's.
  assert.match((await page.textContent('#s-conn')) ?? '', /^cluster · 1 of 1 node reporting$/);
  const nodeScopes = await page.$$eval('[data-node-scope]', (xs) => xs.map((x) => x.textContent));
  assert.ok(nodeScopes.length >= 4 && nodeScopes.every((t) => t === 'this node (ui-node-1)'), JSON.stringify(nodeScopes));

  await page.selectOption('#conn-size', '10');
  await page.click('#conn-filter button');
  await page.waitForFunction(() => document.getElementById('conn-range')?.textContent === '1–10 of 30 on ui-node-1', undefined, { timeout: 10_000 });
  assert.equal(await page.isDisabled('#conn-prev'), true);
  const seen: string[] = [];
  for (let p = 0; p < 3; p++) {
    const ids = await listedIds(page);
    assert.equal(ids.length, 10, `page ${p + 1} has 10 rows`);
    seen.push(...ids);
    if (p < 2) {
      await page.click('#conn-next');
      await page.waitForFunction((want) => document.getElementById('conn-range')?.textContent === want, `${(p + 1) * 10 + 1}–${(p + 2) * 10} of 30 on ui-node-1`, { timeout: 10_000 });
    }
  }
  assert.equal(await page.isDisabled('#conn-next'), true, 'the last page has no Next');
  assert.deepEqual(new Set(seen), new Set(clients.map((c) => c.clientId)), 'three pages list all 30 clients');
  assert.equal(new Set(seen).size, 30, 'no duplicates');
  // Columns: client, user, transport, remote address, connected since, channels.
  const row = await page.$$eval('#conns tr:first-child td', (tds) => tds.map((t) => t.textContent ?? ''));
  assert.equal(row[2], 'websocket');
  assert.match(row[3]!, /127\.0\.0\.1/);
  assert.ok(row[4]!.length >= 8, `connected since: ${row[4]}`);
  await page.click('#conn-prev');
  await page.waitForFunction(() => document.getElementById('conn-range')?.textContent === '11–20 of 30 on ui-node-1', undefined, { timeout: 10_000 });
  assert.deepEqual(await listedIds(page), seen.slice(10, 20), 'Prev shows the same second page');

  // Anonymous users are findable.
  await page.check('#conn-anon');
  await page.click('#conn-filter button');
  await page.waitForFunction(() => document.getElementById('conn-range')?.textContent === '1–6 of 6 on ui-node-1', undefined, { timeout: 10_000 });
  const users = await page.$$eval('#conns tr td:nth-child(2)', (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(users, Array(6).fill('(anonymous)'));
  assert.deepEqual(new Set(await listedIds(page)), new Set(anonymous.map((c) => c.clientId)));
  // A user filter.
  await page.uncheck('#conn-anon');
  await page.fill('#conn-user', 'user-07');
  await page.click('#conn-filter button');
  await page.waitForFunction(() => document.getElementById('conn-range')?.textContent === '1–1 of 1 on ui-node-1', undefined, { timeout: 10_000 });

  // Axis labels never repeat: the drawn ones, and the tick rule over a spread of maxima.
  const drawn = await page.$$eval('canvas', (cs) => cs.map((c) => (c as HTMLCanvasElement).dataset.yLabels ?? ''));
  assert.equal(drawn.length, 2);
  for (const d of drawn) {
    const labels = d.split('|');
    assert.ok(labels.length >= 2, `labels drawn: ${d}`);
    assert.equal(new Set(labels).size, labels.length, `no repeated y label: ${d}`);
  }
  const repeats = await page.evaluate(() => {
    const out: string[] = [];
    const t = (window as unknown as { __admin: { ticks: (m: number) => { ticks: Array<{ label: string }> } } }).__admin.ticks;
    for (const m of [0, 0.3, 1, 1.15, 2.2, 3, 3.45, 7, 11, 34.5, 99, 1150, 9999, 11_000, 12_345, 99_999, 1.2e6, 3.3e7]) {
      const labels = t(m).ticks.map((x) => x.label);
      if (new Set(labels).size !== labels.length || labels.length < 2) out.push(`${m}: ${labels.join(',')}`);
    }
    return out;
  });
  assert.deepEqual(repeats, []);
  await shot(page, 'admin-ui-desktop');
  assert.deepEqual(errors, [], 'no page or console error');

  // ---- 390 px: admin ------------------------------------------------------------------------------
  const phone = await browser.page();
  await phone.page.setViewportSize({ width: 390, height: 844 });
  const phoneErrors = watchErrors(phone.page);
  await phone.page.goto(`${node.httpUrl}/admin`);
  await phone.page.waitForSelector('#login', { state: 'visible' });
  assert.ok((await scrollWidth(phone.page)) <= 390, 'login screen fits 390 px');
  await shot(phone.page, 'admin-ui-390-login');
  await phone.page.fill('#secret', ADMIN);
  await phone.page.click('#login-form button');
  await phone.page.waitForFunction(() => document.getElementById('k-conn')?.textContent === '30', undefined, { timeout: 10_000 });
  await phone.page.waitForFunction(() => document.querySelectorAll('#conns tr td code').length > 0, undefined, { timeout: 10_000 });
  await new Promise((r) => setTimeout(r, 1200)); // charts drawn at their narrow size
  const adminWidth = await scrollWidth(phone.page);
  assert.ok(adminWidth <= 390, `admin page at 390 px: scrollWidth ${adminWidth}`);
  await shot(phone.page, 'admin-ui-390');
  assert.deepEqual(phoneErrors, []);

  // ---- 390 px: demo, and a reload keeps the room ------------------------------------------------
  const demo = await browser.page();
  await demo.page.setViewportSize({ width: 390, height: 844 });
  const demoErrors: string[] = [];
  demo.page.on('pageerror', (e) => demoErrors.push(e.message));
  await demo.page.goto(`${node.httpUrl}/`);
  await demo.page.waitForSelector('#join-form');
  assert.ok((await scrollWidth(demo.page)) <= 390, 'demo join form fits 390 px');
  await demo.page.fill('#name', 'Rita');
  await demo.page.fill('#room', 'reload-room');
  await demo.page.click('#join-form button[type=submit]');
  const connected = () => demo.page.waitForFunction(() => (window as unknown as { __demo: { client: { state: string } } }).__demo.client.state === 'connected', undefined, { timeout: 20_000 });
  await connected();
  await demo.page.fill('#text', 'before the reload');
  await demo.page.press('#text', 'Enter');
  await demo.page.waitForFunction(() => [...document.querySelectorAll('.msg .bubble')].some((b) => b.textContent === 'before the reload'), undefined, { timeout: 10_000 });
  const demoWidth = await scrollWidth(demo.page);
  assert.ok(demoWidth <= 390, `demo room at 390 px: scrollWidth ${demoWidth}`);
  await shot(demo.page, 'demo-390-room');

  await demo.page.reload();
  await connected();
  assert.equal(await demo.page.isHidden('#join'), true, 'the join form is not shown again');
  assert.equal(await demo.page.textContent('#room-title'), '#reload-room');
  assert.equal(await demo.page.evaluate(() => (window as unknown as { __demo: { ui: { name: string; room: string } } }).__demo.ui.room), 'reload-room');
  assert.equal(await demo.page.evaluate(() => (window as unknown as { __demo: { ui: { name: string } } }).__demo.ui.name), 'Rita');
  // History on rejoin: the message sent before the reload is there.
  await demo.page.waitForFunction(() => [...document.querySelectorAll('.msg .bubble')].some((b) => b.textContent === 'before the reload'), undefined, { timeout: 10_000 });
  assert.ok((await scrollWidth(demo.page)) <= 390, 'demo after reload fits 390 px');
  await shot(demo.page, 'demo-390-after-reload');
  // The call panel (own camera tile) at 390 px.
  await demo.page.click('#call-start');
  await demo.page.waitForSelector('#call', { state: 'visible', timeout: 10_000 });
  await demo.page.waitForFunction(() => document.querySelectorAll('#tiles video').length > 0, undefined, { timeout: 15_000 });
  const callWidth = await scrollWidth(demo.page);
  assert.ok(callWidth <= 390, `demo in a call at 390 px: scrollWidth ${callWidth}`);
  await shot(demo.page, 'demo-390-call');
  await demo.page.click('#hangup');
  // Leave, then reload: the join form again (leaving is remembered too).
  await demo.page.click('#leave');
  await demo.page.reload();
  await demo.page.waitForSelector('#join-form', { state: 'visible' });
  assert.equal(await demo.page.isHidden('#chat'), true);
  assert.deepEqual(demoErrors, []);
});
