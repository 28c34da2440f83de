/**
 * Simulcast through the SFU with Chromium (issue 12 "Simulcast"): a publisher page captures
 * 1280×720 and sends three layers (q 320, h 640, f 1280 wide); the SFU gives Chromium TWCC
 * feedback from our own generator (werift's is off), so Chromium's bandwidth estimate brings all
 * three layers up. A subscriber page gets the top layer by default, then asks for each layer with
 * `setLayers`: the decoded frame width follows (320 / 640 / 1280), each switch is announced with a
 * `layer` event, and the picture keeps decoding across the switches. A second subscriber that
 * asks for nothing keeps the top layer throughout.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { browserUnavailable, launch, MEDIA_ARGS, openWith, screenshot, startSfuNode, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

/** In the page: joins; publishes 1280×720 video when `publish` (a string: see cluster-origin.test.ts). */
const JOIN = `async ({ room, publish }) => {
  const { Client, SfuCall } = await import(location.origin + '/sdk/switchboard.js');
  const client = new Client(location.origin, { transports: ['websocket'] });
  const localStream = publish ? await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 15 }, audio: false }) : undefined;
  const call = new SfuCall(client, room, { localStream });
  const state = { call, client, layers: [], errors: [] };
  window.__sfu = state;
  call.on('layer', (ev) => state.layers.push(ev.spatial));
  call.on('error', ({ error }) => state.errors.push(String(error)));
  await call.join();
  return client.id;
}`;

/** In the page: the received video's size and counters, and the layer events so far. */
const VIDEO = `async () => {
  const s = window.__sfu;
  const pc = s.call.subscribeConnection;
  const out = { frameWidth: 0, framesDecoded: 0, freezeCount: 0, layers: s.layers.slice(), errors: s.errors, track: '' };
  for (const [id, info] of s.call.tracks) if (info.kind === 'video') out.track = id;
  if (!pc) return out;
  (await pc.getStats()).forEach((x) => {
    if (x.type === 'inbound-rtp' && x.kind === 'video') {
      out.frameWidth = Number(x.frameWidth ?? 0);
      out.framesDecoded = Number(x.framesDecoded ?? 0);
      out.freezeCount = Number(x.freezeCount ?? 0);
    }
  });
  return out;
}`;

interface Video {
  frameWidth: number;
  framesDecoded: number;
  freezeCount: number;
  layers: number[];
  errors: string[];
  track: string;
}

const video = (page: Page): Promise<Video> => page.evaluate(`(${VIDEO})()`) as Promise<Video>;

async function waitWidth(page: Page, width: number, ms: number, what: string): Promise<Video> {
  const end = Date.now() + ms;
  let v = await video(page);
  while (v.frameWidth !== width) {
    if (Date.now() > end) throw new Error(`${what}: frame width ${v.frameWidth}, not ${width}, after ${ms} ms (${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 250));
    v = await video(page);
  }
  return v;
}

test('simulcast: three layers from Chromium; a subscriber\'s requested layer is honoured (320 / 640 / 1280 wide), another keeps the top layer', { skip, timeout: 180_000 }, async () => {
  const { node, sfu: sfuNode } = await startSfuNode();
  const sfu = sfuNode as SfuRouterService;
  cleanup.push(() => node.close());
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());
  const open = async (publish: boolean): Promise<Page> => (await openWith(browser, node.httpUrl, JOIN, { room: 'sfu:simulcast', publish })).page;
  const pubPage = await open(true);
  const pubStats = (): Promise<string> =>
    pubPage.evaluate(`(async () => { const pc = window.__sfu.call.publishConnection; const o = []; (await pc.getStats()).forEach((x) => { if (x.type === 'outbound-rtp') o.push(x.rid + ':' + x.frameWidth + ':' + x.qualityLimitationReason + ':' + Math.round((x.targetBitrate ?? 0) / 1000) + 'k'); if (x.type === 'remote-inbound-rtp') o.push('rr ' + x.ssrc + ' lost=' + x.packetsLost + ' frac=' + x.fractionLost); if (x.type === 'candidate-pair' && x.nominated) o.push('avail ' + Math.round((x.availableOutgoingBitrate ?? 0) / 1000) + 'k'); }); return o.join(' '); })()`) as Promise<string>;
  const sub = await open(false);
  const other = await open(false);

  const layerStats = (): string => {
    const out: string[] = [];
    for (const r of sfu.routers.values())
      for (const p of r.participants.values())
        for (const e of p.published.values()) for (const l of e.layers) out.push(`${l.id} ${l.width}x${l.height} rx=${l.received} kf=${l.keyframes} pli=${l.plis} ${Math.round(l.bitrate / 1000)}kbps`);
    return out.join('; ');
  };
  // Default: the best layer; Chromium needs our TWCC feedback to bring it up.
  const top = await waitWidth(sub, 1280, 60_000, 'top layer by default').catch(async (err: Error) => {
    throw new Error(`${err.message}; server layers: ${layerStats()}; publisher: ${await pubStats()}`);
  });
  assert.deepEqual(top.errors, []);
  const room = [...sfu.routers.values()][0]!;
  const published = [...[...room.participants.values()].find((p) => p.published.size > 0)!.published.values()][0]!;
  assert.deepEqual(published.info.layers.map((l) => l.width), [320, 640, 1280], 'the SFU saw three layers and ordered them by size');

  let last = top;
  for (const [spatial, width] of [[0, 320], [1, 640], [2, 1280]] as const) {
    await sub.evaluate(`window.__sfu.call.setLayers(${JSON.stringify(top.track)}, { spatial: ${spatial} })`);
    const v = await waitWidth(sub, width, 15_000, `layer ${spatial}`);
    assert.ok(v.layers.includes(spatial), `a layer event for ${spatial} (${JSON.stringify(v.layers)})`);
    assert.ok(v.framesDecoded > last.framesDecoded, 'decoding across the switch');
    last = v;
  }
  await new Promise((r) => setTimeout(r, 1500));
  const end = await video(sub);
  assert.ok(end.framesDecoded > last.framesDecoded + 10, 'still decoding after the last switch');
  // Freezes counted from the first top-layer frames to the end: the three switches (a freeze is a
  // frame gap ≥ 3× the average; a loaded CI machine adds some of its own).
  assert.ok(end.freezeCount - top.freezeCount <= 3, `few freezes across three switches (${top.freezeCount} → ${end.freezeCount})`);
  const o = await video(other);
  assert.equal(o.frameWidth, 1280, 'the other subscriber kept the top layer');
  console.log(`# simulcast: switches ok, freezeCount ${top.freezeCount} → ${end.freezeCount}; other subscriber ${o.frameWidth} wide, ${o.framesDecoded} frames`);
  await screenshot(sub, 'sfu-simulcast');
});
