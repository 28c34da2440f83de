/**
 * A room's publisher bitrate cap with Chromium (issue 12 item 4): the namespace caps each
 * participant's video at 500 kbit/s; a Chromium publisher sending three simulcast layers from a
 * 1280×720 capture is told per-layer maxBitrate (150 k for q, 350 k for h, the top layer off) and
 * gets REMB with the cap. Chromium then sends within the cap (bytes on the wire measured from its
 * outbound-rtp stats over 4 s), its send estimate stays at the cap, the top layer stops, and a
 * subscriber decodes the best remaining layer (640 wide). A publisher that ignores the cap is
 * tested with werift peers in test/webrtc/sfu-caps.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
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
  const call = new SfuCall(client, room, { localStream });
  const state = { call, caps: [], errors: [] };
  window.__sfu = state;
  call.on('publishlayers', (ev) => state.caps.push(ev.layers.map((l) => l.rid + '=' + (l.maxBitrate ?? '-') + (l.active ? '' : '(off)')).join(' ')));
  call.on('error', ({ error }) => state.errors.push(String(error)));
  await call.join();
  return client.id;
}`;

/** The publisher's outbound layers (bytes, packets, active, maxBitrate) and its send estimate. */
const OUTBOUND = `async () => {
  const pc = window.__sfu.call.publishConnection;
  const out = { layers: {}, available: 0, bytes: 0 };
  const params = pc.getSenders().find((s) => s.track && s.track.kind === 'video').getParameters();
  (await pc.getStats()).forEach((x) => {
    if (x.type === 'outbound-rtp' && x.kind === 'video') {
      const enc = params.encodings.find((e) => e.rid === x.rid) || {};
      out.layers[x.rid] = { bytes: Number(x.bytesSent ?? 0) + Number(x.headerBytesSent ?? 0), packets: Number(x.packetsSent ?? 0), width: Number(x.frameWidth ?? 0), active: enc.active !== false, maxBitrate: enc.maxBitrate ?? 0 };
      out.bytes += Number(x.bytesSent ?? 0) + Number(x.headerBytesSent ?? 0);
    }
    if (x.type === 'candidate-pair' && x.availableOutgoingBitrate !== undefined) out.available = Math.max(out.available, Number(x.availableOutgoingBitrate));
  });
  return out;
}`;

interface Outbound {
  layers: Record<string, { bytes: number; packets: number; width: number; active: boolean; maxBitrate: number }>;
  available: number;
  bytes: number;
}

const VIDEO = `async () => {
  const pc = window.__sfu.call.subscribeConnection;
  const out = { frameWidth: 0, framesDecoded: 0 };
  if (!pc) return out;
  (await pc.getStats()).forEach((x) => {
    if (x.type === 'inbound-rtp' && x.kind === 'video') {
      out.frameWidth = Number(x.frameWidth ?? 0);
      out.framesDecoded = Number(x.framesDecoded ?? 0);
    }
  });
  return out;
}`;

test('a room\'s bitrate cap: Chromium is told per-layer maxBitrate and REMB, sends within the cap, and the subscriber gets the best layer that fits', { skip, timeout: 150_000 }, async () => {
  const { node } = await startSfuNode({ namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous', sfuMaxPublishBitrate: 500_000 } } });
  cleanup.push(() => node.close());
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());
  const open = async (publish: boolean): Promise<Page> => (await openWith(browser, node.httpUrl, JOIN, { room: 'sfu:capped', publish })).page;
  const pub = await open(true);
  const sub = await open(false);
  const outbound = (): Promise<Outbound> => pub.evaluate(`(${OUTBOUND})()`) as Promise<Outbound>;
  const video = (): Promise<{ frameWidth: number; framesDecoded: number }> => sub.evaluate(`(${VIDEO})()`) as Promise<{ frameWidth: number; framesDecoded: number }>;

  // The SDK applied the split: q 150 k, h 350 k, f off.
  const end = Date.now() + 20_000;
  let o = await outbound();
  while (!(o.layers.q?.maxBitrate === 150_000 && o.layers.h?.maxBitrate === 350_000 && o.layers.f?.active === false)) {
    if (Date.now() > end) throw new Error(`encodings not capped: ${JSON.stringify(o)}; events ${await pub.evaluate('JSON.stringify(window.__sfu.caps)')}`);
    await new Promise((r) => setTimeout(r, 250));
    o = await outbound();
  }
  // The subscriber decodes the best layer left (h, 640 wide).
  const vEnd = Date.now() + 45_000;
  let v = await video();
  while (v.frameWidth !== 640) {
    if (Date.now() > vEnd) throw new Error(`subscriber at ${v.frameWidth}, not 640: ${JSON.stringify(await outbound())}`);
    await new Promise((r) => setTimeout(r, 250));
    v = await video();
  }
  // What Chromium sends, over 4 s once settled: within the cap (headers included), and the top layer stopped.
  await new Promise((r) => setTimeout(r, 2000));
  const a = await outbound();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 4000));
  const b = await outbound();
  const bps = ((b.bytes - a.bytes) * 8 * 1000) / (Date.now() - t0);
  const fPackets = (b.layers.f?.packets ?? 0) - (a.layers.f?.packets ?? 0);
  console.log(`# capped publisher: ${Math.round(bps / 1000)} kbit/s sent, send estimate ${Math.round(b.available / 1000)} kbit/s, f packets in 4 s ${fPackets}; subscriber ${v.frameWidth} wide`);
  assert.ok(bps <= 500_000 * 1.2, `Chromium sends within the cap (${Math.round(bps)} bit/s)`);
  assert.ok(bps > 100_000, `and still sends video (${Math.round(bps)} bit/s)`);
  assert.equal(fPackets, 0, 'the top layer is off');
  assert.ok(b.available > 0 && b.available <= (500_000 + 64_000) * 1.1, `REMB bounds Chromium's send estimate (${b.available})`);
  const after2 = await video();
  assert.ok(after2.framesDecoded > v.framesDecoded + 20, 'the subscriber keeps decoding');
  assert.deepEqual(await pub.evaluate('window.__sfu.errors'), []);
});
