/**
 * The admin page's SFU section in headless Chromium, against a real node whose SFU runs a real
 * room: two participants (SDK + werift peers, synthetic VP8 with real keyframe headers, see
 * test/helpers/sfu-member.ts) publish and receive each other. The page, opened with the admin
 * secret, shows the room, both participants, each one's producer with its resolution and a
 * non-zero bitrate, and each one's consumer of the other's producer forwarding at a non-zero
 * bitrate; the figures refresh (packet counts grow); when a participant leaves, its rows go.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { ARTIFACTS, browserUnavailable, launch, type Browser } from './browser.ts';
import { startNode } from '../../src/app/index.ts';
import { createSfu } from '../../src/webrtc/sfu/index.ts';
import { SyntheticMember } from '../helpers/sfu-member.ts';

const skip = browserUnavailable();
const ADMIN = 'admin-sfu-ui-secret';
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

interface Row {
  kind: string;
  cells: string[];
}

const rows = (page: Page): Promise<Row[]> => page.$$eval('#sfu tr', (trs) => trs.map((t) => ({ kind: t.className, cells: [...t.querySelectorAll('td')].map((c) => c.textContent ?? '') })));

const kbps = (text: string): number => {
  const m = /([\d.]+) (k|M)bit\/s/.exec(text);
  return m ? Number(m[1]) * (m[2] === 'M' ? 1000 : 1) : NaN;
};

test('admin page: SFU rooms, participants, producers and consumers with resolution and bitrate', { skip, timeout: 120_000 }, async () => {
  const sfu = createSfu();
  const node = await startNode({ port: 0, host: '127.0.0.1', name: 'sfu-ui-node', allowAnonymous: true, adminSecret: ADMIN, namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous' } }, sfu });
  cleanup.push(() => node.close());
  const members = [new SyntheticMember(node.wsUrl, 'sfu:townhall', 320, 180), new SyntheticMember(node.wsUrl, 'sfu:townhall', 640, 360)];
  cleanup.push(() => members.forEach((m) => m.stop()));
  for (const m of members) {
    m.start();
    await m.call.join();
  }
  const [a, b] = members.map((m) => m.client.id!);

  mkdirSync(ARTIFACTS, { recursive: true });
  const browser: Browser = await launch();
  cleanup.push(() => browser.close());
  const { page } = await browser.page();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${node.httpUrl}/admin#secret=${ADMIN}`);

  // Poll the rendered table until both consumers forward at a measured rate (the page refreshes
  // the section every 2 s; the SFU measures rates every 500 ms).
  const end = Date.now() + 60_000;
  let shown: Row[] = [];
  for (;;) {
    shown = await rows(page);
    const consumers = shown.filter((r) => r.kind === 'sfu-consumer');
    const producers = shown.filter((r) => r.kind === 'sfu-producer');
    if (consumers.length === 2 && producers.length === 2 && [...consumers, ...producers].every((r) => kbps(r.cells[5]!) > 0) && producers.every((r) => r.cells[4] !== '—')) break;
    if (Date.now() > end) throw new Error(`SFU section never complete: ${JSON.stringify(shown)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(await page.isVisible('#sfu-card'), true);
  assert.match((await page.textContent('#sfu-summary')) ?? '', /^1 room · 2 participants · 2 tracks · 2 consumers/);
  const room = shown.filter((r) => r.kind === 'sfu-room');
  assert.deepEqual(room.map((r) => r.cells), [['sfu:townhall', '2 participants']]);
  assert.deepEqual(shown.filter((r) => r.kind === 'sfu-participant').map((r) => r.cells[0]).sort(), [a, b].sort());
  // Rows in order: each participant, then its producer(s), then its consumer(s).
  for (const [me, other, size] of [
    [a, b, '320×180'],
    [b, a, '640×360'],
  ] as const) {
    const at = shown.findIndex((r) => r.kind === 'sfu-participant' && r.cells[0] === me);
    const producer = shown[at + 1]!;
    const consumer = shown[at + 2]!;
    assert.equal(producer.kind, 'sfu-producer');
    assert.equal(producer.cells[0], '↑ publishes');
    assert.equal(producer.cells[1]!.startsWith(`${me}:`), true, 'its own track');
    assert.equal(producer.cells[2], 'video');
    assert.equal(producer.cells[3], 'single');
    assert.equal(producer.cells[4], size);
    assert.ok(kbps(producer.cells[5]!) > 10, `producer bitrate ${producer.cells[5]}`);
    assert.match(producer.cells[9]!, /^live · 1 receiving$/);
    assert.equal(consumer.kind, 'sfu-consumer');
    assert.equal(consumer.cells[0], '↓ receives');
    assert.match(consumer.cells[1]!, new RegExp(`^${other}:\\S+ from \\(anonymous\\)$`), 'the other participant’s producer');
    assert.equal(consumer.cells[3], 'single', 'forwarding the only layer');
    assert.equal(consumer.cells[4], size === '320×180' ? '640×360' : '320×180', 'the resolution of the layer it forwards');
    assert.ok(kbps(consumer.cells[5]!) > 10, `consumer bitrate ${consumer.cells[5]}`);
    assert.match(consumer.cells[9]!, /^forwarding/);
  }
  // It refreshes: a consumer's packet count grows.
  const packets = (r: Row[]) => Number((r.find((x) => x.kind === 'sfu-consumer')?.cells[6] ?? '').replace(/\D.*$/, '').replace(/k$/, ''));
  const before = packets(shown);
  const until = Date.now() + 20_000;
  while (packets(await rows(page)) <= before) {
    if (Date.now() > until) throw new Error(`the SFU section did not refresh (packets stayed ${before})`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await page.locator('#sfu-card').screenshot({ path: `${ARTIFACTS}admin-sfu.png` });

  // One leaves: its rows go, the room shows one participant.
  members[1]!.stop();
  const gone = Date.now() + 30_000;
  for (;;) {
    shown = await rows(page);
    if (shown.filter((r) => r.kind === 'sfu-participant').length === 1 && shown.filter((r) => r.kind === 'sfu-consumer').length === 0) break;
    if (Date.now() > gone) throw new Error(`rows of the participant that left stayed: ${JSON.stringify(shown)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual(shown.find((r) => r.kind === 'sfu-room')?.cells, ['sfu:townhall', '1 participant']);
  assert.deepEqual(errors, [], 'no page or console errors');
});
