/**
 * A relay-only SFU call (issue 12 "Tests"): two Chromium pages with `iceTransportPolicy: 'relay'`
 * reach the SFU only through our own TURN server (as `switchboard start` runs it, src/cli/turn.ts),
 * a publisher and a subscriber. Checked: the subscriber decodes the publisher's video; on both
 * pages the selected candidate pair's local candidate is a relay candidate on our relay port range;
 * the TURN server relayed packets.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserUnavailable, launch, MEDIA_ARGS, openWith, startLoopbackTurn, startSfuNode, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

const JOIN = `async ({ room, publish }) => {
  const { Client, SfuCall } = await import(location.origin + '/sdk/switchboard.js');
  const client = new Client(location.origin, { transports: ['websocket'] });
  const localStream = publish ? await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: false }) : undefined;
  const call = new SfuCall(client, room, { localStream, iceTransportPolicy: 'relay', simulcast: false });
  window.__sfu = { call, client };
  await call.join();
}`;

/** In the page: frames decoded (subscriber) and the local candidate of the selected pair of `which` transport. */
const REPORT = `async ({ which }) => {
  const pc = which === 'publish' ? window.__sfu.call.publishConnection : window.__sfu.call.subscribeConnection;
  const out = { framesDecoded: 0, local: null };
  if (!pc) return out;
  const all = [];
  (await pc.getStats()).forEach((x) => all.push(x));
  for (const x of all) if (x.type === 'inbound-rtp' && x.kind === 'video') out.framesDecoded += Number(x.framesDecoded ?? 0);
  const t = all.find((x) => x.type === 'transport' && x.selectedCandidatePairId);
  const pair = all.find((x) => x.id === t?.selectedCandidatePairId);
  const local = pair && all.find((x) => x.id === pair.localCandidateId);
  if (local) out.local = { candidateType: local.candidateType, address: local.address, port: local.port };
  return out;
}`;

interface Report {
  framesDecoded: number;
  local: { candidateType: string; address: string; port: number } | null;
}

const report = (page: Page, which: 'publish' | 'subscribe'): Promise<Report> => page.evaluate(`(${REPORT})(${JSON.stringify({ which })})`) as Promise<Report>;

test('relay-only SFU call through our TURN: the subscriber decodes, both transports run on relay candidates', { skip, timeout: 120_000 }, async () => {
  const { turn, ice, relayMin, relayMax } = await startLoopbackTurn();
  cleanup.push(() => turn.close());
  const { node } = await startSfuNode({ ice });
  cleanup.push(() => node.close());
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());
  const open = async (publish: boolean): Promise<Page> => (await openWith(browser, node.httpUrl, JOIN, { room: 'sfu:relay', publish })).page;
  const pub = await open(true);
  const sub = await open(false);
  const end = Date.now() + 60_000;
  let r = await report(sub, 'subscribe');
  while (r.framesDecoded < 30) {
    if (Date.now() > end) throw new Error(`subscriber decoded ${r.framesDecoded} frames; ${JSON.stringify(r)}; publisher ${JSON.stringify(await report(pub, 'publish'))}; turn ${JSON.stringify(turn.metrics)}`);
    await new Promise((res) => setTimeout(res, 250));
    r = await report(sub, 'subscribe');
  }
  for (const [name, rep] of [['subscriber', r], ['publisher', await report(pub, 'publish')]] as const) {
    assert.equal(rep.local?.candidateType, 'relay', `${name}: ${JSON.stringify(rep.local)}`);
    assert.ok(rep.local!.port >= relayMin && rep.local!.port <= relayMax, `${name}: relay port ${rep.local!.port} in ${relayMin}-${relayMax}`);
  }
  assert.ok(turn.metrics.packetsToPeers > 0 && turn.metrics.packetsFromPeers > 0, 'the TURN server relayed both ways');
  console.log(`# relay-only SFU call: ${r.framesDecoded} frames decoded; turn ${JSON.stringify(turn.metrics)}`);
});
