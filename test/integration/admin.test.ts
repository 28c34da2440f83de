/**
 * The admin page in headless Chromium: the secret gate, live figures and charts, the cluster and
 * busiest-channel tables, and a client lookup that disconnects the client. Leaves a screenshot in
 * test-artifacts/admin.png. Also the admin API without a browser: 401/403 without the secret.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { installAdmin } from '../../src/admin/admin.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { browserUnavailable, CHROMIUM } from '../e2e/browser.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const SECRET = 'admin-secret-for-tests';

let node: SwitchboardNode;
const clients: RawClient[] = [];

before(async () => {
  // The node's constructor installs the admin routes and reads the secret from the environment.
  process.env.SWITCHBOARD_ADMIN_SECRET = SECRET;
  node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, name: 'admin-node-1', defaultNamespace: { subscribe: 'anonymous', publish: 'anonymous' }, maxConnections: 500 });
  delete process.env.SWITCHBOARD_ADMIN_SECRET;
  for (let i = 0; i < 12; i++) {
    const c = await RawClient.connect(node.wsUrl);
    await c.request({ t: 'sub', ch: i < 7 ? 'lobby' : i < 10 ? 'news' : 'chat-room-42' });
    clients.push(c);
  }
});

after(async () => {
  for (const c of clients) c.close();
  await node.close();
});

test('admin API: 401 without or with a wrong secret; 403 when no secret is configured', async () => {
  assert.equal((await fetch(`${node.httpUrl}/admin/api/stats`)).status, 401);
  assert.equal((await fetch(`${node.httpUrl}/admin/api/stats`, { headers: { 'X-Admin-Secret': 'nope' } })).status, 401);
  const ok = await fetch(`${node.httpUrl}/admin/api/stats`, { headers: { 'X-Admin-Secret': SECRET } });
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { connections: number }).connections, 12);
  const plain = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true });
  assert.equal((await fetch(`${plain.httpUrl}/admin/api/stats`, { headers: { 'X-Admin-Secret': '' } })).status, 403);
  await plain.close();
  // Dev mode generates a secret and announces it.
  const lines: string[] = [];
  const dev = await startNode({ port: 0, host: '127.0.0.1', insecure: true });
  const generated = installAdmin(dev, { log: (l) => lines.push(l) });
  assert.ok(generated.length >= 12 && lines[0]!.includes(generated));
  await dev.close();
});

test('admin page in headless Chromium: charts, nodes, channels, lookup and disconnect', { skip: browserUnavailable() ?? false }, async () => {
  const profile = mkdtempSync(join(tmpdir(), 'sb-admin-chromium-'));
  let browser: BrowserContext | undefined;
  const errors: string[] = [];
  try {
    // A fresh profile directory per run (Playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
      viewport: { width: 1360, height: 1000 },
    });
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${node.httpUrl}/admin`);
    // The secret gate.
    await page.waitForSelector('#login', { state: 'visible' });
    await page.fill('#secret', SECRET);
    await page.click('#login-form button');
    await page.waitForFunction(() => document.getElementById('k-conn')?.textContent === '12');
    // Traffic so the message chart has something to draw.
    const pub = clients[0]!;
    for (let s = 0; s < 4; s++) {
      for (let i = 0; i < 40; i++) pub.send({ t: 'pub', id: 10_000 + s * 100 + i, ch: 'lobby', data: i });
      await new Promise((r) => setTimeout(r, 700));
    }
    await page.waitForFunction(() => Number(document.getElementById('k-out')?.textContent ?? '0') > 0 || document.getElementById('k-out')?.textContent?.endsWith('k'));
    assert.match((await page.textContent('#nodes')) ?? '', /admin-node-1/);
    const channels = await page.$$eval('#channels tr td:first-child', (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(channels.slice(0, 3), ['lobby', 'news', 'chat-room-42']);
    // Client lookup and disconnect.
    const victim = clients[11]!;
    await page.fill('#q', victim.clientId);
    await page.click('#lookup button');
    await page.waitForSelector(`#clients button[data-client="${victim.clientId}"]`);
    assert.match((await page.textContent('#clients')) ?? '', /chat-room-42/);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'admin.png'), fullPage: true });
    // The connection list has the same button; this is the lookup table's.
    await page.click(`#clients button[data-client="${victim.clientId}"]`);
    assert.equal((await victim.closed).code, 3006);
    await page.waitForFunction(() => /Disconnected/.test(document.getElementById('error')?.textContent ?? ''));
    assert.deepEqual(errors, []);
  } catch (err) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await browser?.pages().at(-1)?.screenshot({ path: join(ARTIFACTS, 'admin-failure.png'), fullPage: true }).catch(() => {});
    throw new Error(`${(err as Error).message}; page errors: ${errors.join(' | ')}; closed clients: ${clients.map((c, i) => (c.closeCode ? `${i}:${c.closeCode} ${c.closeReason}` : '')).filter(Boolean).join(', ')}`, { cause: err });
  } finally {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
