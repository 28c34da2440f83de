/**
 * The demo's call beyond 4 people, in headless Chromium (fake camera and microphone, 480×270
 * capture to keep five pages light: two simulcast layers): five pages of one browser join one
 * demo room on a node configured like `npm start` (namespaces `call` and `sfu`, an SFU of its own). The first four
 * press Call and form a mesh (`call:<room>`); the fifth finds four in the mesh and joins through
 * the SFU (`sfu:<room>`), and the four move there. Then every page decodes 4 remote videos from
 * its SFU subscribe transport, and every remote tile's caption shows the layer, the resolution
 * and the bitrate. One page hangs up: the others drop its tile and keep the rest. Named sfu-*
 * so scripts/test.mjs runs it with the other heavy SFU browser tests, one at a time.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserUnavailable, launch, MEDIA_ARGS, screenshot, type Browser } from './browser.ts';
import { startNode } from '../../src/app/index.ts';
import { createSfu } from '../../src/webrtc/sfu/index.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

interface Demo {
  __demo: {
    client: { state: string; id?: string };
    ui: {
      callMode: string;
      call: { state: string } | null;
      sfu: { state: string; subscribeConnection?: RTCPeerConnection } | null;
    };
  };
}

/** Polls `check` in the page until it returns true, or fails with what `describe` says then. */
async function until(page: Page, what: string, ms: number, check: () => boolean | Promise<boolean>, describe: () => unknown = () => ''): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await page.evaluate(check).catch(() => false)) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms (${JSON.stringify(await page.evaluate(describe).catch((e: Error) => e.message))})`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Per remote video of the page's SFU subscribe transport: frames decoded, and the tile captions. */
function report(page: Page) {
  return page.evaluate(async () => {
    const d = (window as unknown as Demo).__demo;
    const pc = d.ui.sfu?.subscribeConnection;
    const decoded: number[] = [];
    if (pc) (await pc.getStats()).forEach((r: { type: string; kind?: string; framesDecoded?: number }) => r.type === 'inbound-rtp' && r.kind === 'video' && decoded.push(r.framesDecoded ?? 0));
    const captions = [...document.querySelectorAll('.tile:not(.local)')].map((t) => ({ name: t.querySelector('.name')?.textContent ?? '', stats: (t.querySelector('.stats') as HTMLElement | null)?.hidden ? '' : t.querySelector('.stats')?.textContent ?? '', chip: t.querySelector('.chip')?.textContent ?? '' }));
    return { mode: d.ui.callMode, mesh: d.ui.call !== null, decoded, captions, status: document.getElementById('call-status')?.textContent ?? '' };
  });
}

/** kbit/s in a caption. */
const bitrate = (caption: string): number => {
  const m = /· (\d+(?:\.\d)?) (k|M)bit\/s$/.exec(caption);
  return m ? Number(m[1]) * (m[2] === 'M' ? 1000 : 1) : NaN;
};
const CAPTION = /^layer [qhf] · \d+×\d+ · \d+(\.\d)? (k|M)bit\/s$/;

test('demo: five people in one room — the call moves from the mesh to the SFU, each page decodes 4 remote videos captioned with layer, resolution and bitrate', { skip, timeout: 300_000 }, async () => {
  const sfu = createSfu();
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    namespaces: {
      typing: { subscribe: 'anonymous', publish: 'anonymous', lossy: true },
      call: { subscribe: 'anonymous', publish: 'anonymous', presence: true, presenceRead: 'anonymous', joinLeave: true, signaling: true },
      sfu: { subscribe: 'anonymous', publish: 'anonymous', presence: true, presenceRead: 'anonymous', joinLeave: true, sfu: true },
    },
    sfu,
  });
  cleanup.push(() => node.close());
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());

  const names = ['Ana', 'Bo', 'Cy', 'Di', 'Ed'];
  const pages: Page[] = [];
  for (const name of names) {
    const { page } = await browser.page();
    await page.setViewportSize({ width: 900, height: 700 });
    await page.goto(`${node.httpUrl}/?transport=websocket&capture=480x270&name=${name}&room=town`);
    await page.waitForFunction(() => (window as unknown as Demo).__demo.client.state === 'connected', undefined, { timeout: 30_000 });
    pages.push(page);
  }
  // Everyone knows everyone's name (the typing channel's hello/here) before the tiles are checked.
  for (const page of pages) await page.waitForFunction(() => document.querySelector('#count')?.textContent === '5', undefined, { timeout: 30_000 });

  // Four press Call one after the other: a mesh.
  for (const page of pages.slice(0, 4)) {
    await page.click('#call-start');
    await until(page, 'in the mesh call', 30_000, () => {
      const ui = (window as unknown as Demo).__demo.ui;
      return ui.callMode === 'mesh' && ui.call?.state === 'joined';
    });
  }
  // The fifth finds four in the mesh: it joins through the SFU, and the others follow.
  await pages[4]!.click('#call-start');
  for (const [i, page] of pages.entries()) {
    await until(
      page,
      `${names[i]} on the SFU`,
      60_000,
      () => {
        const ui = (window as unknown as Demo).__demo.ui;
        return ui.callMode === 'sfu' && ui.call === null && ui.sfu?.state === 'joined';
      },
      () => (window as unknown as Demo).__demo.ui.callMode,
    );
  }

  // Every page: 4 remote videos decoding, and each of its 4 remote tiles has shown a caption of
  // layer, size and a measured bitrate (on a loaded 2-core machine one stream may stall for a
  // while; a tile counts once its caption was complete).
  const end = Date.now() + 150_000;
  let last: Awaited<ReturnType<typeof report>>[] = [];
  const captioned = new Map<string, string>();
  for (;;) {
    last = await Promise.all(pages.map(report));
    for (const [i, r] of last.entries()) for (const c of r.captions) if (CAPTION.test(c.stats) && bitrate(c.stats) > 0) captioned.set(`${names[i]} sees ${c.name}`, c.stats);
    const done = captioned.size === 20 && last.every((r) => r.decoded.length === 4 && r.decoded.every((n) => n > 10) && r.captions.length === 4);
    if (done) break;
    if (Date.now() > end) throw new Error(`not every page decodes 4 captioned videos: ${JSON.stringify(last)}; captioned: ${JSON.stringify([...captioned])}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  for (const [i, r] of last.entries()) {
    assert.equal(r.mode, 'sfu');
    assert.equal(r.mesh, false, 'the mesh call was left');
    assert.deepEqual(r.captions.map((c) => c.name).sort(), names.filter((n) => n !== names[i]).sort(), `${names[i]} sees the four others by name`);
    for (const c of r.captions) {
      assert.equal(c.chip, 'via SFU');
      assert.match(captioned.get(`${names[i]} sees ${c.name}`) ?? '', CAPTION);
    }
    assert.match(r.status, /^5 people in the call · through the SFU/);
  }
  console.log(`[sfu-demo] captions seen: ${[...captioned].map(([k, v]) => `${k}: ${v}`).join('; ')}`);
  console.log(`[sfu-demo] now: ${last.map((r, i) => `${names[i]}: ${r.captions.map((c) => `${c.name} ${c.stats || '—'}`).join(', ')} (frames ${r.decoded.join('/')})`).join(' | ')}`);
  await screenshot(pages[0]!, 'demo-sfu-5');

  // The SFU holds the room: five participants, each receiving the other four's video and audio.
  const st = sfu.stats();
  assert.deepEqual([st.rooms, st.participants, st.producers, st.consumers], [1, 5, 10, 40]);

  // Ed hangs up: everyone else drops his tile, the other three stay.
  await pages[4]!.click('#hangup');
  for (const page of pages.slice(0, 4)) {
    await until(page, 'Ed’s tile gone', 60_000, () => document.querySelectorAll('.tile:not(.local)').length === 3 && ![...document.querySelectorAll('.tile .name')].some((n) => n.textContent === 'Ed'));
  }
  assert.match((await report(pages[0]!)).status, /^4 people in the call · through the SFU/);
});
