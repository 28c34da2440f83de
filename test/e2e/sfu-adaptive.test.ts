/**
 * Downlink adaptation and loss recovery through the SFU with Chromium (issue 12 "Tests"):
 * a publisher sends three simulcast layers and Opus; subscriber A reaches the SFU only through our
 * TURN server, with a userspace shaper (test/helpers/udp-shaper.ts) between its page and the TURN
 * server, so only A's leg can be capped or made lossy; subscriber B is on host candidates.
 *
 * 1. Both get the top layer (the SFU's bandwidth estimate of each leg, from Chromium's transport-cc
 *    feedback, pays for it).
 * 2. A's downlink is capped at 400 kbit/s: within 5 s A is on a lower layer; B keeps 1280.
 * 3. The cap is lifted: within 15 s A is back on 1280 (padding probes find the capacity).
 * 4. 5 % random loss on A's downlink for 10 s: Chromium NACKs, the SFU retransmits from its
 *    history, frames keep being decoded and audio keeps arriving.
 *
 * A second test puts the shaper on the publisher's leg instead: 5 % loss between the publisher
 * and the SFU is NACKed upstream, Chromium retransmits, and the subscriber keeps decoding.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { UdpShaper } from '../helpers/udp-shaper.ts';
import { browserUnavailable, launch, MEDIA_ARGS, openWith, screenshot, startLoopbackTurn, startSfuNode, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

/**
 * In the page: joins; the publisher sends 1280×720 video and audio; `shaperPort` makes a
 * relay-only subscriber whose TURN server is reached through the shaper.
 */
const JOIN = `async ({ room, publish, shaperPort }) => {
  const { Client, SfuCall } = await import(location.origin + '/sdk/switchboard.js');
  const client = new Client(location.origin, { transports: ['websocket'] });
  const localStream = publish ? await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 15 }, audio: true }) : undefined;
  const opts = { localStream };
  if (shaperPort) {
    await client.connect();
    const servers = [];
    for (const s of client.iceServers) {
      const urls = [].concat(s.urls).filter((u) => u.startsWith('turn:') && u.includes('transport=udp')).map((u) => u.replace(/:\\d+\\?/, ':' + shaperPort + '?'));
      if (urls.length) servers.push({ ...s, urls });
    }
    opts.iceServers = servers;
    opts.iceTransportPolicy = 'relay';
  }
  const call = new SfuCall(client, room, opts);
  const state = { call, client, layers: [], errors: [] };
  window.__sfu = state;
  call.on('layer', (ev) => state.layers.push(ev.spatial));
  call.on('error', ({ error }) => state.errors.push(String(error)));
  await call.join();
  return client.id;
}`;

/** In the page: received video and audio counters. */
const STATS = `async () => {
  const s = window.__sfu;
  const pc = s.call.subscribeConnection;
  const out = { frameWidth: 0, framesDecoded: 0, freezeCount: 0, nackCount: 0, packetsLost: 0, rtxReceived: 0, rtxSsrc: 0, audioPackets: 0, errors: s.errors, layers: s.layers.slice(), local: '' };
  if (!pc) return out;
  const all = [];
  (await pc.getStats()).forEach((x) => all.push(x));
  for (const x of all) {
    if (x.type === 'inbound-rtp' && x.kind === 'video') {
      out.frameWidth = Number(x.frameWidth ?? 0);
      out.framesDecoded = Number(x.framesDecoded ?? 0);
      out.freezeCount = Number(x.freezeCount ?? 0);
      out.nackCount = Number(x.nackCount ?? 0);
      out.packetsLost = Number(x.packetsLost ?? 0);
      out.rtxReceived = Number(x.retransmittedPacketsReceived ?? 0);
      out.rtxSsrc = Number(x.rtxSsrc ?? 0);
    }
    if (x.type === 'inbound-rtp' && x.kind === 'audio') out.audioPackets = Number(x.packetsReceived ?? 0);
  }
  const t = all.find((x) => x.type === 'transport' && x.selectedCandidatePairId);
  const pair = all.find((x) => x.id === t?.selectedCandidatePairId);
  const local = pair && all.find((x) => x.id === pair.localCandidateId);
  if (local) out.local = local.candidateType;
  return out;
}`;

interface Stats {
  frameWidth: number;
  framesDecoded: number;
  freezeCount: number;
  nackCount: number;
  packetsLost: number;
  /** Retransmissions Chromium received on the RTX stream (inbound-rtp retransmittedPacketsReceived). */
  rtxReceived: number;
  rtxSsrc: number;
  audioPackets: number;
  errors: string[];
  layers: number[];
  local: string;
}

const stats = (page: Page): Promise<Stats> => page.evaluate(`(${STATS})()`) as Promise<Stats>;

async function until(page: Page, ok: (s: Stats) => boolean, ms: number, what: string, extra: () => string = () => ''): Promise<{ s: Stats; ms: number }> {
  const start = Date.now();
  let s = await stats(page);
  while (!ok(s)) {
    if (Date.now() - start > ms) throw new Error(`${what}: not after ${ms} ms (${JSON.stringify(s)}) ${extra()}`);
    await new Promise((r) => setTimeout(r, 250));
    s = await stats(page);
  }
  return { s, ms: Date.now() - start };
}

test('SFU downlink: a capped leg steps down within 5 s and back up within 15 s, others keep the top layer; 5 % loss is repaired by NACK', { skip, timeout: 240_000 }, async () => {
  const { turn, ice, turnPort } = await startLoopbackTurn();
  cleanup.push(() => turn.close());
  const shaper = await UdpShaper.start({ address: '127.0.0.1', port: turnPort });
  cleanup.push(() => shaper.close());
  const { node, sfu: sfuNode } = await startSfuNode({ ice });
  const sfu = sfuNode as SfuRouterService;
  cleanup.push(() => node.close());
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());
  const room = 'sfu:adaptive';
  const open = async (args: { publish: boolean; shaperPort?: number }): Promise<{ page: Page; id: string }> => {
    const { page, result } = await openWith(browser, node.httpUrl, JOIN, { room, ...args });
    return { page, id: result as string };
  };
  await open({ publish: true });
  const a = await open({ publish: false, shaperPort: shaper.port });
  const b = await open({ publish: false });
  const downlink = (id: string): string => {
    const p = [...sfu.routers.values()][0]?.participants.get(id);
    const d = p?.downlink?.stats();
    const layers = [...(p?.received.values() ?? [])].map((r) => `${r.consumer.producer.kind} bwe=${r.consumer.bweSpatial} cur=${r.consumer.current ? r.consumer.layers.indexOf(r.consumer.current) : -1} ${r.consumer.layers.map((l) => Math.round(l.bitrateSmoothed / 1000)).join('/')}k`);
    const sub = (p as unknown as { sub?: { badRtcp: number } } | undefined)?.sub;
    return `badRtcp ${sub?.badRtcp}/${p?.downlink?.badRtcp} downlink ${JSON.stringify(d)} ${layers.join(', ')}; shaper ${JSON.stringify(shaper.stats)}`;
  };

  // 1. The top layer on both legs.
  await until(a.page, (s) => s.frameWidth === 1280, 60_000, 'A on the top layer', () => downlink(a.id));
  await until(b.page, (s) => s.frameWidth === 1280, 30_000, 'B on the top layer', () => downlink(b.id));
  const startA = await stats(a.page);
  assert.equal(startA.local, 'relay', 'A runs on a relay candidate (through the shaper)');
  assert.ok(shaper.stats.down > 100, 'A\'s media passes the shaper');
  assert.ok((sfu.routers.values().next().value?.participants.get(a.id)?.downlink?.feedbacks ?? 0) > 0, `the SFU gets transport-cc feedback from A: ${downlink(a.id)} / B: ${downlink(b.id)}`);

  // 2. Cap A's leg.
  shaper.rateBps = 400_000;
  const down = await until(a.page, (s) => s.frameWidth > 0 && s.frameWidth < 1280, 5_000, 'A below the top layer within 5 s of the cap', () => downlink(a.id));
  console.log(`# capped at 400 kbit/s: A on ${down.s.frameWidth} wide after ${down.ms} ms; ${downlink(a.id)}`);
  await new Promise((r) => setTimeout(r, 3000));
  const capped = await stats(a.page);
  assert.ok(capped.frameWidth < 1280, `A stays below the top layer while capped (${capped.frameWidth})`);
  assert.ok(capped.framesDecoded > down.s.framesDecoded, 'A keeps decoding while capped');
  const bCapped = await stats(b.page);
  assert.equal(bCapped.frameWidth, 1280, 'B keeps the top layer');

  // 3. Lift the cap.
  shaper.rateBps = Infinity;
  const up = await until(a.page, (s) => s.frameWidth === 1280, 15_000, 'A back on the top layer within 15 s of the lift', () => downlink(a.id));
  console.log(`# cap lifted: A on 1280 after ${up.ms} ms; freezeCount ${startA.freezeCount} → ${up.s.freezeCount}; ${downlink(a.id)}`);
  assert.ok(up.s.freezeCount - startA.freezeCount <= 6, `few freezes across the cap (${startA.freezeCount} → ${up.s.freezeCount})`);

  // 4. 5 % loss on A's leg.
  const service = (): { retransmitted: number; rtxSent: number } => {
    let rtxSent = 0;
    for (const r of sfu.routers.values()) for (const p of r.participants.values()) for (const { consumer } of p.received.values()) rtxSent += consumer.rtxSent;
    return { retransmitted: sfu.stats().packetsRetransmitted, rtxSent };
  };
  const before = { ...(await stats(a.page)), ...service() };
  shaper.loss = 0.05;
  await new Promise((r) => setTimeout(r, 10_000));
  const lossy = { ...(await stats(a.page)), ...service() };
  shaper.loss = 0;
  console.log(`# 5 % loss for 10 s: nack ${before.nackCount} → ${lossy.nackCount}, retransmitted ${before.retransmitted} → ${lossy.retransmitted} (RTX sent ${before.rtxSent} → ${lossy.rtxSent}, Chromium got ${before.rtxReceived} → ${lossy.rtxReceived} on RTX SSRC ${lossy.rtxSsrc}), frames ${before.framesDecoded} → ${lossy.framesDecoded}, audio packets ${before.audioPackets} → ${lossy.audioPackets}, lost ${lossy.packetsLost}; shaper ${JSON.stringify(shaper.stats)}`);
  assert.ok(lossy.nackCount > before.nackCount, 'Chromium sent NACKs');
  assert.ok(lossy.retransmitted > before.retransmitted, 'the SFU retransmitted');
  assert.ok(lossy.rtxSent > before.rtxSent, 'on the RTX stream (the answer took RTX)');
  assert.ok(lossy.rtxReceived > before.rtxReceived, 'and Chromium counted them as RTX retransmissions');
  assert.ok(lossy.framesDecoded > before.framesDecoded + 50, 'frames kept being decoded under loss');
  assert.ok(lossy.audioPackets > before.audioPackets + 300, 'audio kept arriving under loss');
  const after5 = await until(a.page, (s) => s.framesDecoded > lossy.framesDecoded + 10, 10_000, 'decoding after the loss');
  assert.deepEqual(after5.s.errors, []);
  await screenshot(a.page, 'sfu-adaptive');
});

/** In the page: what the publisher's video senders report (all simulcast layers summed). */
const PUB_STATS = `async () => {
  const pc = window.__sfu.call.publishConnection;
  const out = { packetsSent: 0, nackCount: 0, retransmitted: 0, rttMeasurements: 0, rtt: 0, remoteLost: 0, local: '' };
  if (!pc) return out;
  const all = [];
  (await pc.getStats()).forEach((x) => all.push(x));
  for (const x of all) {
    if (x.type === 'remote-inbound-rtp' && x.kind === 'video') {
      out.rttMeasurements += Number(x.roundTripTimeMeasurements ?? 0);
      out.rtt = Math.max(out.rtt, Number(x.roundTripTime ?? 0));
      out.remoteLost += Number(x.packetsLost ?? 0);
    }
    if (x.type !== 'outbound-rtp' || x.kind !== 'video') continue;
    out.packetsSent += Number(x.packetsSent ?? 0);
    out.nackCount += Number(x.nackCount ?? 0);
    out.retransmitted += Number(x.retransmittedPacketsSent ?? 0);
  }
  const t = all.find((x) => x.type === 'transport' && x.selectedCandidatePairId);
  const pair = all.find((x) => x.id === t?.selectedCandidatePairId);
  const local = pair && all.find((x) => x.id === pair.localCandidateId);
  if (local) out.local = local.candidateType;
  return out;
}`;

interface PubStats {
  packetsSent: number;
  nackCount: number;
  retransmitted: number;
  /** From the SFU's receiver reports (remote-inbound-rtp). */
  rttMeasurements: number;
  rtt: number;
  remoteLost: number;
  local: string;
}

test('SFU upstream: 5 % loss between the publisher and the SFU is NACKed to the publisher, its retransmissions reach the subscriber in place, and the subscriber keeps decoding', { skip, timeout: 180_000 }, async () => {
  const { turn, ice, turnPort } = await startLoopbackTurn();
  cleanup.push(() => turn.close());
  const shaper = await UdpShaper.start({ address: '127.0.0.1', port: turnPort });
  cleanup.push(() => shaper.close());
  const { node, sfu: sfuNode } = await startSfuNode({ ice });
  const sfu = sfuNode as SfuRouterService;
  cleanup.push(() => node.close());
  const browser: Browser = await launch([...MEDIA_ARGS, ...(process.env.SB_CHROME_LOG ? ['--enable-logging=stderr', '--v=0', `--vmodule=${process.env.SB_CHROME_LOG}`] : [])]);
  cleanup.push(() => browser.close());
  const room = 'sfu:upstream';
  const pub = await openWith(browser, node.httpUrl, JOIN, { room, publish: true, shaperPort: shaper.port });
  const sub = await openWith(browser, node.httpUrl, JOIN, { room, publish: false });
  const pubStats = (): Promise<PubStats> => pub.page.evaluate(`(${PUB_STATS})()`) as Promise<PubStats>;
  const producers = (): string =>
    [...(sfu.routers.values().next().value?.participants.get(pub.result as string)?.published.values() ?? [])]
      .flatMap((e) => e.layers)
      .map((l) => `${l.id}: recv ${l.received} nack ${l.nack?.nacksSent ?? '-'} recovered ${l.nack?.recovered ?? '-'} given up ${l.nack?.givenUp ?? '-'}`)
      .join('; ');

  await until(sub.page, (s) => s.frameWidth === 1280 && s.framesDecoded > 30, 60_000, 'the subscriber decodes the top layer', producers);
  assert.equal((await pubStats()).local, 'relay', 'the publisher runs on a relay candidate (through the shaper)');
  const before = { sub: await stats(sub.page), pub: await pubStats(), sfu: sfu.stats(), lostUp: shaper.stats.lostUp };
  assert.equal(before.sfu.nacksSent, 0, `no NACKs to the publisher on a lossless leg (${producers()})`);
  assert.equal(before.pub.nackCount, 0, 'nor any other NACK (werift\'s receivers are detached)');
  assert.ok(before.pub.rttMeasurements > 0, `Chromium measures its RTT from the SFU's receiver reports (${JSON.stringify(before.pub)})`);

  shaper.lossUp = 0.05;
  await new Promise((r) => setTimeout(r, 10_000));
  shaper.lossUp = 0;
  // Repairs still on the way come in within a round trip or two.
  await new Promise((r) => setTimeout(r, 500));
  const lossy = { sub: await stats(sub.page), pub: await pubStats(), sfu: sfu.stats(), lostUp: shaper.stats.lostUp };
  const dropped = lossy.lostUp - before.lostUp;
  const nacks = lossy.sfu.nacksSent - before.sfu.nacksSent;
  const recovered = lossy.sfu.packetsRecovered - before.sfu.packetsRecovered;
  const frames = lossy.sub.framesDecoded - before.sub.framesDecoded;
  console.log(
    `# 5 % uplink loss for 10 s: shaper dropped ${dropped} of the publisher's packets (video and audio); SFU NACKed ${nacks}, recovered ${recovered}; publisher: nackCount ${before.pub.nackCount} → ${lossy.pub.nackCount}, retransmitted ${before.pub.retransmitted} → ${lossy.pub.retransmitted}; ` +
      `RTT from our RRs ${lossy.pub.rtt} s (${lossy.pub.rttMeasurements} measurements), remote packetsLost ${lossy.pub.remoteLost}; subscriber: frames +${frames}, freezes ${before.sub.freezeCount} → ${lossy.sub.freezeCount}, packetsLost ${before.sub.packetsLost} → ${lossy.sub.packetsLost}, its own NACKs ${before.sub.nackCount} → ${lossy.sub.nackCount}; ${producers()}`,
  );
  assert.ok(dropped > 50, `the shaper dropped packets (${dropped})`);
  assert.ok(nacks > 0 && lossy.pub.nackCount > before.pub.nackCount, 'the SFU NACKed the publisher, and Chromium counted the NACKs');
  assert.ok(lossy.pub.retransmitted > before.pub.retransmitted, 'Chromium retransmitted');
  // The dropped packets are video, audio and RTCP; audio is not retransmitted.
  const givenUp = [...(sfu.routers.values().next().value?.participants.get(pub.result as string)?.published.values() ?? [])].flatMap((e) => e.layers).reduce((n, l) => n + (l.nack?.givenUp ?? 0), 0);
  assert.ok(recovered > 0, `the SFU got retransmissions (${recovered})`);
  assert.ok(givenUp <= Math.max(3, 0.1 * dropped), `hardly a packet given up (${givenUp} of ${dropped} dropped)`);
  assert.ok(frames > 10 * 10, `the subscriber kept decoding (${frames} frames in 10 s at 15 fps)`);
  assert.ok(lossy.sub.freezeCount - before.sub.freezeCount <= 3, `few freezes (${before.sub.freezeCount} → ${lossy.sub.freezeCount})`);
  // What the subscriber still misses is far below what the leg lost.
  assert.ok(lossy.sub.packetsLost - before.sub.packetsLost <= Math.max(3, 0.1 * dropped), `the subscriber lost ${lossy.sub.packetsLost - before.sub.packetsLost} packets, the publisher's leg ${dropped}`);
  assert.ok(lossy.pub.remoteLost >= 0 && lossy.pub.rttMeasurements > before.pub.rttMeasurements, `receiver reports kept coming (${JSON.stringify(lossy.pub)})`);
});
