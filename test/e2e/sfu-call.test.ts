/**
 * The SFU with Chromium as the real peer (issue 12 "Tests"): three headless pages with fake
 * camera and microphone join one SFU room through the SDK's SfuCall; each publishes VP8 video and
 * Opus audio to the server's SFU (werift transports, our forwarding and SRTP) and receives the
 * other two participants' tracks on its subscribe transport. Checked from each page's getStats():
 * video frames decoded and audio packets received for both remote participants, and the SRTP
 * profile in use. Then one page leaves: the other two are told (trackremoved) and keep decoding.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserUnavailable, launch, MEDIA_ARGS, openWith, screenshot, startSfuNode, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

/** In the page: joins the SFU room with camera and microphone (a string: see cluster-origin.test.ts). */
const JOIN = `async ({ room }) => {
  const { Client, SfuCall } = await import(location.origin + '/sdk/switchboard.js');
  const client = new Client(location.origin, { transports: ['websocket'] });
  const localStream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 15 }, audio: true });
  const call = new SfuCall(client, room, { localStream });
  const state = { call, client, tracks: [], removed: [], errors: [] };
  window.__sfu = state;
  call.on('track', ({ info, track }) => state.tracks.push({ client: info.client, kind: info.kind, id: track.id }));
  call.on('trackremoved', ({ track }) => state.removed.push(track));
  call.on('error', ({ error }) => state.errors.push(String(error)));
  await call.join();
  return client.id;
}`;

/** In the page: what the subscribe transport receives, by publisher (stream id = its client id). */
const REPORT = `async () => {
  const s = window.__sfu;
  const out = { id: s.client.id, byClient: {}, cipher: '', removed: s.removed.length, errors: s.errors, tracks: s.tracks.length, senderReports: [] };
  const pc = s.call.subscribeConnection;
  if (!pc) return out;
  const mids = new Map();
  for (const t of pc.getTransceivers()) if (t.mid !== null && t.receiver.track) mids.set(t.receiver.track.id, t.mid);
  const stats = [];
  (await pc.getStats()).forEach((x) => stats.push(x));
  for (const x of stats) {
    if (x.type === 'transport' && x.srtpCipher) out.cipher = x.srtpCipher;
    if (x.type === 'remote-outbound-rtp') out.senderReports.push({ kind: x.kind, reportsSent: Number(x.reportsSent ?? 0), packetsSent: Number(x.packetsSent ?? 0) });
    if (x.type !== 'inbound-rtp') continue;
    const mid = x.mid ?? mids.get(x.trackIdentifier);
    const owner = s.tracks.find((t) => t.id === x.trackIdentifier)?.client ?? 'mid:' + mid;
    const e = (out.byClient[owner] ??= { framesDecoded: 0, audioPackets: 0 });
    if (x.kind === 'video') e.framesDecoded += Number(x.framesDecoded ?? 0);
    else e.audioPackets += Number(x.packetsReceived ?? 0);
  }
  const pub = s.call.publishConnection;
  if (pub) {
    const ps = [];
    (await pub.getStats()).forEach((x) => ps.push(x));
    const v = ps.find((x) => x.type === 'outbound-rtp' && x.kind === 'video');
    if (v) out.publish = { pliCount: v.pliCount, firCount: v.firCount, nackCount: v.nackCount, keyFramesEncoded: v.keyFramesEncoded, framesEncoded: v.framesEncoded, codec: ps.find((x) => x.id === v.codecId)?.mimeType };
  }
  return out;
}`;

interface Report {
  id: string;
  byClient: Record<string, { framesDecoded: number; audioPackets: number }>;
  cipher: string;
  removed: number;
  errors: string[];
  tracks: number;
  /** remote-outbound-rtp: what the SFU's sender reports told this page, per received stream. */
  senderReports: { kind: string; reportsSent: number; packetsSent: number }[];
}

const report = (page: Page): Promise<Report> => page.evaluate(`(${REPORT})()`) as Promise<Report>;

async function until(cond: () => Promise<boolean>, ms: number, what: () => Promise<string>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${await what()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('three Chromium pages in one SFU room: every page decodes both others\' video and receives their audio; one leaves, the rest keep going', { skip, timeout: 150_000 }, async () => {
  const { node, sfu } = await startSfuNode();
  cleanup.push(() => node.close());
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());
  const pages: Page[] = [];
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { page, result } = await openWith(browser, node.httpUrl, JOIN, { room: 'sfu:e2e' });
    ids.push(result as string);
    pages.push(page);
  }
  const describe = async (): Promise<string> => JSON.stringify(await Promise.all(pages.map(report))) + ' sfu ' + JSON.stringify(sfu.stats());
  const allFlowing = async (group: Page[], groupIds: string[], minFrames: number): Promise<boolean> => {
    const rs = await Promise.all(group.map(report));
    return rs.every((r) => groupIds.every((id) => id === r.id || ((r.byClient[id]?.framesDecoded ?? 0) >= minFrames && (r.byClient[id]?.audioPackets ?? 0) > 20)));
  };
  await until(() => allFlowing(pages, ids, 30), 60_000, describe);
  const rs = await Promise.all(pages.map(report));
  for (const r of rs) {
    assert.deepEqual(r.errors, []);
    assert.equal(r.byClient[r.id], undefined, 'a page does not receive itself');
    assert.match(r.cipher, /AES/, `SRTP in use (${r.cipher})`);
  }
  console.log(`# SRTP ciphers: ${[...new Set(rs.map((r) => r.cipher))].join(', ')}; sfu ${JSON.stringify(sfu.stats())}`);
  // Sender reports: every page hears one for each of the four streams it receives (lip sync).
  await until(async () => (await Promise.all(pages.map(report))).every((r) => r.senderReports.filter((x) => x.reportsSent > 0 && x.packetsSent > 0).length === 4), 15_000, async () => JSON.stringify((await Promise.all(pages.map(report))).map((r) => r.senderReports)));
  for (const r of await Promise.all(pages.map(report))) assert.deepEqual(r.senderReports.map((x) => x.kind).sort(), ['audio', 'audio', 'video', 'video'], 'a sender report per received stream');
  await screenshot(pages[0]!, 'sfu-call-3');
  const st = sfu.stats();
  assert.deepEqual([st.rooms, st.participants, st.producers, st.consumers], [1, 3, 6, 12]);

  // The third page leaves: the others are told (two tracks: video and audio) and keep decoding.
  await pages[2]!.evaluate(`window.__sfu.call.leave()`);
  const rest = pages.slice(0, 2);
  const restIds = ids.slice(0, 2);
  await until(async () => (await Promise.all(rest.map(report))).every((r) => r.removed === 2), 15_000, describe);
  const before = await Promise.all(rest.map(report));
  await new Promise((r) => setTimeout(r, 2000));
  const afterLeave = await Promise.all(rest.map(report));
  for (const [i, r] of afterLeave.entries()) {
    const other = restIds[1 - i]!;
    assert.ok(r.byClient[other]!.framesDecoded > before[i]!.byClient[other]!.framesDecoded + 10, `page ${i} still decodes after the leave`);
  }
  const st2 = sfu.stats();
  assert.deepEqual([st2.rooms, st2.participants, st2.producers, st2.consumers], [1, 2, 4, 4]);
});
