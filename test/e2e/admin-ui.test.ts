/**
 * The admin page and the demo in headless Chromium (issue 13, item 7), against a real node with 30
 * real WebSocket clients (24 named by JWT, 6 anonymous):
 * - no page error and no console error before (and at) login;
 * - the paged connection list: page size 10, Next through three pages, every client once, Prev
 *   back; the anonymous filter finds the anonymous ones;
 * - tiles say whether they are cluster-wide or this node's; the charts' y labels never repeat;
 * - at 390 px the admin page and the demo have no horizontal scroll;
 * - the demo keeps the user in the room on reload;
 * - behind the shipped HAProxy config set to round robin (every request to the next node), two
 *   nodes: the cluster tile sums both, the per-node figures stay one node's, and the node picker
 *   pages each node's list (the next page's cursor is forwarded to its node).
 * Screenshots go to test-artifacts/ (gitignored) and must exist.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { ARTIFACTS, browserUnavailable, launch, MEDIA_ARGS, startDemoNode, type Browser } from './browser.ts';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { startNode } from '../../src/app/index.ts';
import { haveBinary, startHaproxy } from '../helpers/cluster-lb.ts';
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

const noHaproxy = skip ?? (haveBinary('haproxy') ? undefined : process.env.CI === 'true' ? undefined : 'haproxy not installed');

test('admin behind HAProxy round robin: cluster tile over two nodes, per-node figures pinned, each node\'s list paged', { skip: noHaproxy }, async () => {
  if (!haveBinary('haproxy')) throw new Error('haproxy not installed; CI=true, so this test fails instead of skipping');
  const broker = new MemoryBroker();
  const opts = { host: '127.0.0.1', port: 0, allowAnonymous: true, adminSecret: ADMIN, nodeInfoInterval: 0.2, defaultNamespace: { subscribe: 'anonymous' as const, publish: 'anonymous' as const } };
  const a = await startNode({ ...opts, name: 'lb-a', broker });
  const b = await startNode({ ...opts, name: 'lb-b', broker: broker.peer() });
  cleanup.push(() => broker.close(), () => a.close(), () => b.close());
  const clients: RawClient[] = [];
  cleanup.push(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < 3; i++) clients.push(await RawClient.connect(a.wsUrl));
  for (let i = 0; i < 12; i++) clients.push(await RawClient.connect(b.wsUrl));
  const lb = await startHaproxy([Number(new URL(a.httpUrl).port), Number(new URL(b.httpUrl).port)], 'roundrobin');
  cleanup.push(() => lb.stop());
  const end = Date.now() + 5000;
  while ((a.clusterInfo().length < 2 || b.clusterInfo().length < 2) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));

  // The balancer does alternate: unpinned requests are answered by both nodes.
  const answered = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const r = await fetch(`http://127.0.0.1:${lb.port}/admin/api/stats`, { headers: { 'X-Admin-Secret': ADMIN } });
    answered.add(((await r.json()) as { node: string }).node);
  }
  assert.deepEqual([...answered].sort(), ['lb-a', 'lb-b']);

  const browser: Browser = await launch();
  cleanup.push(() => browser.close());
  const { page } = await browser.page();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${lb.port}/admin`);
  await page.fill('#secret', ADMIN);
  await page.click('#login-form button');
  await page.waitForFunction(() => document.getElementById('k-conn')?.textContent === '15', undefined, { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('s-conn')?.textContent === 'cluster · 2 of 2 nodes reporting', undefined, { timeout: 10_000 });
  // Per-node figures stay one node's while the balancer alternates: sample the labels for 3 s.
  const labels = new Set<string>();
  const shown = new Set<string>();
  for (let i = 0; i < 10; i++) {
    labels.add((await page.textContent('[data-node-scope]')) ?? '');
    shown.add((await page.textContent('#k-cap')) ?? '');
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(labels.size, 1, `one node's figures: ${[...labels].join(' / ')}`);
  const pinnedName = /this node \((lb-[ab])\)/.exec([...labels][0]!)?.[1];
  assert.ok(pinnedName, [...labels][0]);
  const mine = pinnedName === 'lb-a' ? 3 : 12;
  assert.ok([...shown].every((t) => t.startsWith(`this node (${pinnedName}): ${mine} `)), [...shown].join(' / '));

  // Node B's list through the balancer, in pages of 10: the second page's request may reach A,
  // which forwards it to B by the cursor.
  await page.selectOption('#pick', 'lb-b');
  await page.selectOption('#conn-size', '10');
  await page.click('#conn-filter button');
  await page.waitForFunction(() => document.getElementById('conn-range')?.textContent === '1–10 of 12 on lb-b', undefined, { timeout: 10_000 });
  const first = await listedIds(page);
  await page.click('#conn-next');
  await page.waitForFunction(() => document.getElementById('conn-range')?.textContent === '11–12 of 12 on lb-b', undefined, { timeout: 10_000 });
  const second = await listedIds(page);
  assert.deepEqual(new Set([...first, ...second]), new Set(clients.slice(3).map((c) => c.clientId)));
  await page.waitForFunction(() => document.querySelector('[data-node-scope]')?.textContent === 'this node (lb-b)', undefined, { timeout: 5000 });
  await page.selectOption('#pick', 'lb-a');
  await page.waitForFunction(() => document.getElementById('conn-range')?.textContent === '1–3 of 3 on lb-a', undefined, { timeout: 10_000 });
  assert.deepEqual(new Set(await listedIds(page)), new Set(clients.slice(0, 3).map((c) => c.clientId)));
  await shot(page, 'admin-ui-haproxy');
  assert.deepEqual(errors, []);
});
