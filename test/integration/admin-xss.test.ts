/**
 * The admin page renders every field as text (issue 11, E2), in headless Chromium:
 * - a registry entry signed with the right cluster secret (an insider) whose name is markup shows
 *   that markup as text; one whose `uptime` is markup is rejected by the node's field checks;
 * - whatever the admin API returns — every field of the cluster, channel, client and SFU tables (room
 *   and participant names included) set to
 *   an `<img src=x onerror=…>` payload (the responses are replaced in the browser, to test the
 *   page's rendering alone) — becomes text, no element is created from it and no script runs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { NODES_CHANNEL } from '../../src/server/cluster.ts';
import { signMessage } from '../../src/server/cluster-trust.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { browserUnavailable, CHROMIUM } from '../e2e/browser.ts';

const skip = browserUnavailable() ?? false;
const ADMIN = 'admin-xss-secret';
const SECRET = 'admin-xss-cluster-secret-0123';
const XSS = '<img src=x onerror="window.__xss=(window.__xss||0)+1">';

let node: SwitchboardNode;
let browser: Browser | undefined;
let timer: NodeJS.Timeout | undefined;

before(async () => {
  if (skip) return;
  node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, name: 'xss-home', adminSecret: ADMIN, clusterSecret: SECRET });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-quic'] });
});

after(async () => {
  clearInterval(timer);
  await browser?.close();
  await node?.close();
});

async function openAdmin(): Promise<Page> {
  const page = await browser!.newPage();
  await page.goto(`${node.httpUrl}/admin#secret=${ADMIN}`);
  return page;
}

const entry = (name: string, extra: Record<string, unknown> = {}) => ({ name, connections: 7, channels: 1, draining: false, uptime: 42, publishes: 3, deliveries: 4, rssBytes: 5e7, url: 'http://127.0.0.1:1', time: Date.now(), ...extra });

test('an insider-signed entry with markup in its name renders as text; markup in uptime is rejected', { skip }, async () => {
  const publish = () => {
    for (const m of [signMessage(SECRET, 'nodes', entry(`insider ${XSS}`), Date.now()), signMessage(SECRET, 'nodes', entry('insider-uptime', { uptime: XSS }), Date.now())]) {
      void node.broker.publish(NODES_CHANNEL, m, { historySize: 0, historyTtlMs: 0 });
    }
  };
  publish();
  timer = setInterval(publish, 300);
  const page = await openAdmin();
  await page.waitForFunction((t) => document.getElementById('nodes')?.textContent?.includes(t), `insider ${XSS}`, { timeout: 10_000 });
  const names = await page.$$eval('#nodes tr td:first-child', (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(names, [`insider ${XSS}`, 'xss-home'], 'the uptime-markup entry was rejected by the node');
  assert.equal(await page.$$eval('#nodes img', (x) => x.length), 0);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, 'no script ran');
  assert.ok(node.cluster.rejected.invalid > 0);
  clearInterval(timer);
  await page.close();
});

test('every field the admin API returns is rendered as text (responses replaced in the browser)', { skip }, async () => {
  const page = await browser!.newPage();
  const hostile = { name: XSS, connections: XSS, channels: XSS, publishes: XSS, rssBytes: XSS, uptime: XSS, draining: XSS, stale: false, url: XSS };
  await page.route('**/admin/api/cluster', (r) => r.fulfill({ contentType: 'application/json', body: JSON.stringify({ nodes: [hostile] }) }));
  await page.route('**/admin/api/channels**', (r) => r.fulfill({ contentType: 'application/json', body: JSON.stringify({ channels: [{ channel: XSS, subscribers: XSS }] }) }));
  await page.route('**/admin/api/clients**', (r) =>
    r.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({
        clients: [{ client: XSS, user: XSS, transport: XSS, remoteAddress: XSS, connectedFor: XSS, queuedBytes: XSS, subscriptions: [XSS] }],
        elsewhere: [{ client: XSS, node: XSS, transport: XSS, stale: false }],
      }),
    }),
  );
  await page.route('**/admin/api/connections**', (r) =>
    r.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({ node: XSS, total: XSS, connections: [{ client: XSS, user: XSS, anonymous: false, transport: XSS, remoteAddress: XSS, since: XSS, connectedSince: XSS, channels: XSS }] }),
    }),
  );
  // The SFU section (issue 12): room, participant, user, track, rid and every other field hostile.
  const producer = { track: XSS, kind: XSS, rid: XSS, spatial: XSS, width: XSS, height: XSS, bitrate: XSS, packets: XSS, keyframes: XSS, plis: XSS, nacks: XSS, recovered: XSS, dynacastPaused: false, consumers: XSS };
  const consumer = { track: XSS, publisher: XSS, publisherUser: XSS, kind: XSS, spatial: 0, rid: XSS, width: XSS, height: XSS, targetSpatial: XSS, maxSpatial: 2, bitrate: XSS, packets: XSS, retransmitted: XSS, nacks: XSS, plis: XSS, switches: XSS, paused: false, active: true };
  await page.route('**/admin/api/sfu**', (r) =>
    r.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({
        node: XSS,
        enabled: true,
        truncated: true,
        totalRooms: XSS,
        stats: { participants: XSS, producers: XSS, consumers: XSS, packetsForwarded: XSS, packetsRetransmitted: XSS },
        rooms: [{ room: XSS, participantCount: XSS, participants: [{ client: XSS, user: XSS, downlink: { estimateBps: XSS, desiredBps: XSS }, producers: [producer], consumers: [consumer] }] }],
      }),
    }),
  );
  await page.goto(`${node.httpUrl}/admin#secret=${ADMIN}`);
  await page.waitForFunction(() => (document.getElementById('nodes')?.textContent ?? '').includes('<img'), undefined, { timeout: 10_000 });
  await page.waitForFunction(() => (document.getElementById('sfu')?.textContent ?? '').includes('<img'), undefined, { timeout: 10_000 });
  const sfuText = (await page.textContent('#sfu')) ?? '';
  // room, client, user, producer track, kind, rid, consumer track, publisher user, kind, rid
  assert.ok(sfuText.split(XSS).length - 1 >= 10, `SFU fields shown as text: ${sfuText}`);
  assert.equal(await page.$eval('#sfu tr.sfu-room td', (t) => t.textContent), XSS, 'the room name');
  assert.equal(await page.$eval('#sfu tr.sfu-participant td', (t) => t.textContent), XSS, 'the participant');
  assert.equal(await page.$$eval('#sfu img, #sfu-summary img, #sfu-note img', (x) => x.length), 0, 'no element was made from an SFU field');
  // The connection list (issue 13): every field as text.
  await page.waitForFunction(() => (document.getElementById('conns')?.textContent ?? '').includes('<img'), undefined, { timeout: 10_000 });
  const connText = (await page.textContent('#conns')) ?? '';
  assert.ok(connText.split(XSS).length - 1 >= 5, `connection fields shown as text: ${connText}`);
  assert.equal(await page.$$eval('#conns img, #conn-range img', (x) => x.length), 0);
  await page.fill('#q', XSS);
  await page.click('#lookup button');
  await page.waitForFunction(() => document.querySelectorAll('#clients tr').length === 2, undefined, { timeout: 10_000 });
  const nodeCells = await page.$$eval('#nodes td', (tds) => tds.map((t) => t.textContent));
  assert.equal(nodeCells[0], XSS);
  assert.equal(nodeCells[5], XSS + 's', 'uptime, the field that used to be inserted as HTML');
  assert.equal(await page.$eval('#channels td', (t) => t.textContent), XSS);
  const clientText = (await page.textContent('#clients')) ?? '';
  assert.ok(clientText.split(XSS).length - 1 >= 6, `client fields shown as text: ${clientText}`);
  assert.equal(await page.$$eval('#nodes img, #channels img, #clients img', (x) => x.length), 0, 'no element was made from a field');
  assert.equal(await page.$$eval('#clients button[data-client]', (b) => b.map((x) => x.getAttribute('data-client'))).then((v) => v.every((c) => c === XSS)), true);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, 'no script ran');
  await page.close();
});
