/**
 * The event consumers on the admin page (headless Chromium) and in /admin/api/stats: a node with
 * an outbox consumer on the real PostgreSQL shows it up, with its published and dead-letter counts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { startNode } from '../../src/app/index.ts';
import { browserUnavailable, launch } from '../e2e/browser.ts';
import { PG_URL, requireUrl, uniqueName, waitUntil } from '../helpers/ingest.ts';

const pgUp = await requireUrl('PostgreSQL', PG_URL, 5432);
const noBrowser = browserUnavailable();
const ADMIN = 'admin-secret-for-ingest-tests';
const db = new pg.Pool({ connectionString: PG_URL, max: 2 });
const t = uniqueName('sbt_outbox');
after(async () => {
  if (pgUp) await db.query(`DROP TABLE IF EXISTS ${t}, ${t}_dead`);
  await db.end();
});

test('the admin page lists the consumers with their state and counts', { skip: !pgUp ? 'no PostgreSQL (not CI)' : (noBrowser ?? false) }, async () => {
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    adminSecret: ADMIN,
    broker: new MemoryBroker(),
    namespaces: { orders: { historySize: 10 } },
    consumers: [{ type: 'outbox', name: 'orders-outbox', url: PG_URL, table: t }],
  });
  const browser = await launch();
  try {
    const stats = async () =>
      ((await (await fetch(`${node.httpUrl}/admin/api/stats`, { headers: { 'X-Admin-Secret': ADMIN } })).json()) as { consumers: { name: string; up: boolean; published: number; deadLetters: number }[] }).consumers;
    await waitUntil(async () => (await stats())[0]?.up === true, 10_000, 'consumer up');
    await db.query(`INSERT INTO ${t} (channel, data) VALUES ('orders:1', '{"a":1}'), ('orders:1', '{"a":2}'), ('nope:1', '{}')`);
    await waitUntil(async () => (await stats())[0]?.published === 2, 10_000, 'published');
    assert.deepEqual((await stats()).map((c) => [c.name, c.published, c.deadLetters]), [['orders-outbox', 2, 1]]);
    const { page } = await browser.page();
    await page.goto(`${node.httpUrl}/admin#secret=${ADMIN}`);
    await page.waitForFunction(() => (document.getElementById('consumers')?.textContent ?? '').includes('orders-outbox'), undefined, { timeout: 10_000 });
    const cells = await page.$$eval('#consumers td', (tds) => tds.map((x) => x.textContent));
    assert.deepEqual([cells[0], cells[1], cells[2], cells[6], cells[7]], ['orders-outbox', 'outbox', 'up', '2', '1']);
    assert.ok(await page.isVisible('#consumers-card'));
  } finally {
    await browser.close();
    await node.close();
  }
});
