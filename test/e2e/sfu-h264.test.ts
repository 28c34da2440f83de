/**
 * H.264 through the SFU with Chromium (issue 12 "Codecs"): a publisher page asks for H.264
 * (`videoCodec: 'h264'`, i.e. setCodecPreferences) and sends three simulcast layers; the SFU's
 * answer keeps the browser's order, so Chromium sends H.264, and the SFU forwards it as it is —
 * keyframes found from the IDR/SPS NAL units (single NAL, STAP-A, first FU-A), no VP8 descriptor
 * rewriting — with its own payload type to a subscriber that accepted H.264. The subscriber's
 * inbound stream is H.264 and decodes; asking for the lowest layer switches to it on an H.264
 * keyframe (320 wide) and back to the top.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { browserUnavailable, launch, MEDIA_ARGS, openWith, startSfuNode, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

const JOIN = `async ({ room, publish }) => {
  const { Client, SfuCall } = await import(location.origin + '/sdk/switchboard.js');
  const client = new Client(location.origin, { transports: ['websocket'] });
  const localStream = publish ? await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 15 }, audio: false }) : undefined;
  const call = new SfuCall(client, room, { localStream, videoCodec: 'h264' });
  const state = { call, errors: [], tracks: [] };
  window.__sfu = state;
  call.on('track', ({ info }) => state.tracks.push(info.codec));
  call.on('error', ({ error }) => state.errors.push(String(error)));
  await call.join();
  return client.id;
}`;

/** In the page: the codec and size of what arrives (subscriber) or leaves (publisher). */
const STATS = `async (which) => {
  const s = window.__sfu;
  const pc = which === 'in' ? s.call.subscribeConnection : s.call.publishConnection;
  const out = { mime: [], frameWidth: 0, framesDecoded: 0, track: '' };
  for (const [id, info] of s.call.tracks) if (info.kind === 'video') out.track = id;
  if (!pc) return out;
  const st = await pc.getStats();
  st.forEach((x) => {
    if ((x.type === 'inbound-rtp' || x.type === 'outbound-rtp') && x.kind === 'video') {
      const c = x.codecId ? st.get(x.codecId) : undefined;
      if (c && !out.mime.includes(c.mimeType)) out.mime.push(c.mimeType);
      if (x.type === 'inbound-rtp') {
        out.frameWidth = Number(x.frameWidth ?? 0);
        out.framesDecoded = Number(x.framesDecoded ?? 0);
      }
    }
  });
  return out;
}`;

interface Stats {
  mime: string[];
  frameWidth: number;
  framesDecoded: number;
  track: string;
}

test('H.264 from Chromium is forwarded as H.264: the subscriber decodes it, and layer switches wait for H.264 keyframes', { skip, timeout: 180_000 }, async () => {
  const { node, sfu: sfuNode } = await startSfuNode();
  const sfu = sfuNode as SfuRouterService;
  cleanup.push(() => node.close());
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());
  const open = async (publish: boolean): Promise<Page> => (await openWith(browser, node.httpUrl, JOIN, { room: 'sfu:h264', publish })).page;
  const pub = await open(true);
  const sub = await open(false);
  const stats = (page: Page, which: 'in' | 'out'): Promise<Stats> => page.evaluate(`(${STATS})(${JSON.stringify(which)})`) as Promise<Stats>;
  const layers = (): string => {
    const out: string[] = [];
    for (const r of sfu.routers.values()) for (const p of r.participants.values()) for (const e of p.published.values()) for (const l of e.layers) out.push(`${l.id} ${l.codec} pt=${l.payloadType} rx=${l.received} kf=${l.keyframes} wrongPt=${l.wrongPayloadType}`);
    return out.join('; ');
  };
  async function waitFor(cond: (s: Stats) => boolean, ms: number, what: string): Promise<Stats> {
    const end = Date.now() + ms;
    let s = await stats(sub, 'in');
    while (!cond(s)) {
      if (Date.now() > end) throw new Error(`${what}: ${JSON.stringify(s)}; publisher ${JSON.stringify(await stats(pub, 'out'))}; SFU ${layers()}`);
      await new Promise((r) => setTimeout(r, 250));
      s = await stats(sub, 'in');
    }
    return s;
  }
  const first = await waitFor((s) => s.framesDecoded > 10, 60_000, 'the subscriber decodes');
  assert.deepEqual((await stats(pub, 'out')).mime, ['video/H264'], 'Chromium publishes H.264');
  assert.deepEqual(first.mime, ['video/H264'], 'the subscriber receives H.264');
  assert.deepEqual(await sub.evaluate('window.__sfu.tracks'), ['H264'], 'the track is announced as H.264');
  const producers = [...[...sfu.routers.values()][0]!.participants.values()].flatMap((p) => [...p.published.values()].flatMap((e) => e.layers));
  assert.ok(producers.every((l) => l.codec === 'H264' && l.badVp8 === 0), layers());
  assert.ok(producers.some((l) => l.keyframes > 0), 'keyframes found in the H.264 stream');

  const top = await waitFor((s) => s.frameWidth === 1280, 60_000, 'the top layer (1280 wide)');
  await sub.evaluate(`window.__sfu.call.setLayers(${JSON.stringify(top.track)}, { spatial: 0 })`);
  const low = await waitFor((s) => s.frameWidth === 320, 20_000, 'switched to the lowest layer');
  assert.ok(low.framesDecoded > top.framesDecoded, 'decoding across the switch');
  await sub.evaluate(`window.__sfu.call.setLayers(${JSON.stringify(top.track)}, {})`);
  const back = await waitFor((s) => s.frameWidth === 1280 && s.framesDecoded > low.framesDecoded + 10, 30_000, 'back on the top layer');
  console.log(`# h264: ${back.framesDecoded} frames decoded, ${layers()}`);
  assert.deepEqual(await sub.evaluate('window.__sfu.errors'), []);
  assert.deepEqual(await pub.evaluate('window.__sfu.errors'), []);
});
