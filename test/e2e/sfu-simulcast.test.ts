/**
 * Simulcast through the SFU with Chromium (issue 12 "Simulcast"): a publisher page captures
 * 1280×720 and sends three layers (q 320, h 640, f 1280 wide); the SFU gives Chromium TWCC
 * feedback from our own generator (werift's is off), so Chromium's bandwidth estimate brings all
 * three layers up. A subscriber page gets the top layer by default, then asks for each layer with
 * `setLayers`: the decoded frame width follows (320 / 640 / 1280), each switch is announced with a
 * `layer` event, and the picture keeps decoding across the switches. A second subscriber that
 * asks for nothing keeps the top layer throughout. Dynacast: once both subscribers ask for the
 * lowest layer, the SFU tells the publisher to stop encoding the other two (Chromium's outbound
 * h and f go inactive and their packets stop), and when one asks for the top layer again it comes
 * back and that subscriber decodes 1280 wide again.
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
  const state = { call, client, layers: [], errors: [], publishLayers: [] };
  window.__sfu = state;
  call.on('layer', (ev) => state.layers.push(ev.spatial));
  call.on('publishlayers', (ev) => state.publishLayers.push(ev.layers.filter((l) => l.active).map((l) => l.rid).join('')));
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
  let last = top;
  for (const [spatial, width] of [[0, 320], [1, 640], [2, 1280]] as const) {
    await sub.evaluate(`window.__sfu.call.setLayers(${JSON.stringify(top.track)}, { spatial: ${spatial} })`);
    const v = await waitWidth(sub, width, 15_000, `layer ${spatial}`);
    assert.ok(v.layers.includes(spatial), `a layer event for ${spatial} (${JSON.stringify(v.layers)})`);
    assert.ok(v.framesDecoded > last.framesDecoded, 'decoding across the switch');
    last = v;
  }
  // Every layer has been forwarded now, so the SFU has seen a keyframe of each (dynacast may have
  // paused the middle one before its first keyframe, when nobody wanted it yet).
  assert.deepEqual(published.info.layers.map((l) => l.width), [320, 640, 1280], 'the SFU saw three layers and ordered them by size');
  await new Promise((r) => setTimeout(r, 1500));
  const end = await video(sub);
  assert.ok(end.framesDecoded > last.framesDecoded + 10, `still decoding after the last switch (${last.framesDecoded} → ${end.framesDecoded}; ${layerStats()}; publish-layers ${await pubPage.evaluate('JSON.stringify(window.__sfu.publishLayers)')})`);
  // Freezes counted from the first top-layer frames to the end: the three switches (a freeze is a
  // frame gap ≥ 3× the average; a loaded CI machine adds some of its own).
  assert.ok(end.freezeCount - top.freezeCount <= 3, `few freezes across three switches (${top.freezeCount} → ${end.freezeCount})`);
  const o = await video(other);
  assert.equal(o.frameWidth, 1280, 'the other subscriber kept the top layer');
  console.log(`# simulcast: switches ok, freezeCount ${top.freezeCount} → ${end.freezeCount}; other subscriber ${o.frameWidth} wide, ${o.framesDecoded} frames`);
  await screenshot(sub, 'sfu-simulcast');

  // Dynacast: nobody wants h or f → the publisher stops encoding them.
  const publishLayers = (): Promise<string[]> => pubPage.evaluate('window.__sfu.publishLayers.slice()') as Promise<string[]>;
  const outbound = (): Promise<Record<string, { active: boolean; packets: number }>> =>
    pubPage.evaluate(`(async () => { const o = {}; (await window.__sfu.call.publishConnection.getStats()).forEach((x) => { if (x.type === 'outbound-rtp' && x.rid) o[x.rid] = { active: x.active !== false, packets: Number(x.packetsSent ?? 0) }; }); return o; })()`) as Promise<Record<string, { active: boolean; packets: number }>>;
  // (h may already have been paused and resumed during the switches above: nobody wanted it while
  // one subscriber was on q and the other on f.)
  const before = (await publishLayers()).length;
  const layerOf = (rid: string) => published.layers.find((l) => l.id.endsWith(`/${rid}`))!;
  await sub.evaluate(`window.__sfu.call.setLayers(${JSON.stringify(top.track)}, { spatial: 0 })`);
  await other.evaluate(`window.__sfu.call.setLayers(${JSON.stringify(top.track)}, { spatial: 0 })`);
  await waitWidth(other, 320, 15_000, 'the other subscriber on layer 0');
  const pausedBy = Date.now() + 10_000;
  while (!(await publishLayers()).slice(before).includes('q')) {
    if (Date.now() > pausedBy) throw new Error(`no publish-layers pausing h and f: ${JSON.stringify(await publishLayers())}; ${layerStats()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(layerOf('h').dynacastPaused && layerOf('f').dynacastPaused && !layerOf('q').dynacastPaused, 'the SFU marks h and f paused, q not');
  await new Promise((r) => setTimeout(r, 1500));
  const o1 = await outbound();
  const rx1 = layerOf('f').received;
  await new Promise((r) => setTimeout(r, 1500));
  const o2 = await outbound();
  assert.equal(o2.f?.active, false, `Chromium's f encoding is inactive (${JSON.stringify(o2)})`);
  assert.equal(o2.h?.active, false, `Chromium's h encoding is inactive (${JSON.stringify(o2)})`);
  assert.ok(o2.q!.packets > o1.q!.packets + 10, 'q keeps sending');
  assert.ok(o2.f!.packets - o1.f!.packets <= 2, `f stopped sending (${o1.f!.packets} → ${o2.f!.packets})`);
  assert.ok(layerOf('f').received - rx1 <= 2, 'the SFU gets no f packets');
  const lowFrames = (await video(sub)).framesDecoded;
  // One subscriber wants the top layer again: it comes back at once.
  await other.evaluate(`window.__sfu.call.setLayers(${JSON.stringify(top.track)}, { spatial: 2 })`);
  const back = await waitWidth(other, 1280, 15_000, 'the top layer after dynacast resumed it').catch(async (err: Error) => {
    throw new Error(`${err.message}; publish-layers ${JSON.stringify(await publishLayers())}; ${layerStats()}; publisher: ${await pubStats()}`);
  });
  const pl = await publishLayers();
  assert.equal(pl[pl.length - 1]!.includes('f'), true, `f resumed at the publisher (${JSON.stringify(pl)})`);
  assert.ok(!layerOf('f').dynacastPaused, 'the SFU marks f resumed');
  const subNow = await video(sub);
  assert.equal(subNow.frameWidth, 320, 'the first subscriber stays on layer 0');
  assert.ok(subNow.framesDecoded > lowFrames, 'and keeps decoding');
  console.log(`# dynacast: publish-layers ${JSON.stringify(pl)}; f packets ${o1.f!.packets} → ${o2.f!.packets} while paused; back to 1280 with ${back.framesDecoded} frames`);
});
