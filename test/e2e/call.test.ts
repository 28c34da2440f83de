/**
 * A video call in the demo between two headless Chromium pages (fake camera and microphone),
 * against a real node with our STUN/TURN server running in-process the way `switchboard start`
 * runs it (src/cli/turn.ts: planTurn → startTurn → iceFor), with "Relay only" on
 * (`iceTransportPolicy: 'relay'`): every media packet must go through our TURN server.
 *
 * Checked from each page's `getStats()`: video frames decoded, and a selected candidate pair
 * (`succeeded`, nominated) whose local and remote candidates are `relay` candidates on our relay
 * address and port range; the two pages' relay ports cross-match. Checked on the server: TURN
 * allocations and relayed packets. Then a third page joins (a mesh: everyone connected to both
 * others, all relayed), and one hangs up: the other two see it go and stay connected.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserUnavailable, joinDemo, launch, MEDIA_ARGS, screenshot, startDemoNode, startLoopbackTurn, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  // Bounded: on an overloaded machine a browser close can take minutes; the run must not hang.
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

/** `p`, or a failure naming `what` after `ms` (a page.evaluate has no timeout of its own). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** What a page reports about one of its peer connections. */
interface PeerReport {
  name: string;
  connectionState: string;
  framesDecoded: number;
  pair: { state: string; nominated: boolean; bytesSent: number; bytesReceived: number } | null;
  local: { candidateType: string; address: string; port: number; protocol: string; relayProtocol?: string; url?: string } | null;
  remote: { candidateType: string; address: string; port: number } | null;
  /** State of the transport's selected pair. */
  selected: string;
  /** Ports of every remote candidate. */
  remotePorts: number[];
  /** For failure messages: signaling/ICE states and what the negotiator did. */
  debug: string;
}

/** Reads every peer's stats in the page (the demo exposes its Call as `__demo.ui.call`). */
function reports(page: Page): Promise<PeerReport[]> {
  return page.evaluate(async () => {
    type Stat = Record<string, unknown> & { type: string; id: string };
    type Peer = { id: string; pc: RTCPeerConnection; connectionState: string; polite: boolean; negotiation: { stats: object } };
    const demo = (window as unknown as { __demo: { ui: { names: Map<string, string>; call: { peers: Map<string, Peer> } | null } } }).__demo;
    const out: PeerReport[] = [];
    for (const peer of demo.ui.call?.peers.values() ?? []) {
      const pc = peer.pc;
      const debug = `${pc.signalingState}/${pc.iceGatheringState}/${pc.iceConnectionState} polite=${peer.polite} ${JSON.stringify(peer.negotiation.stats)}`;
      const r: PeerReport = { name: demo.ui.names.get(peer.id) ?? peer.id, connectionState: peer.connectionState, framesDecoded: 0, pair: null, local: null, remote: null, selected: 'none', remotePorts: [], debug };
      out.push(r);
      const all: Stat[] = [];
      (await peer.pc.getStats()).forEach((s: Stat) => all.push(s));
      for (const s of all) if (s.type === 'inbound-rtp' && s.kind === 'video') r.framesDecoded += Number(s.framesDecoded ?? 0);
      r.remotePorts = all.filter((s) => s.type === 'remote-candidate').map((s) => Number(s.port));
      // The selected pair (the transport's selectedCandidatePairId) when it is succeeded, else
      // another nominated succeeded one: on a loaded machine Chromium sometimes shows the
      // selected pair as in-progress for a while (consent checks answered late) while media flows.
      const transport = all.find((s) => s.type === 'transport' && typeof s.selectedCandidatePairId === 'string');
      const selected = all.find((s) => s.type === 'candidate-pair' && s.id === transport?.selectedCandidatePairId);
      r.selected = selected ? String(selected.state) : 'none';
      const carrying = all
        .filter((s) => s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated === true)
        .sort((x, y) => Number(y.bytesReceived ?? 0) - Number(x.bytesReceived ?? 0));
      const pair = selected?.state === 'succeeded' ? selected : carrying[0];
      if (!pair) continue;
      r.pair = { state: String(pair.state), nominated: pair.nominated === true, bytesSent: Number(pair.bytesSent ?? 0), bytesReceived: Number(pair.bytesReceived ?? 0) };
      const local = all.find((s) => s.id === pair.localCandidateId);
      const remote = all.find((s) => s.id === pair.remoteCandidateId);
      if (local) {
        r.local = { candidateType: String(local.candidateType), address: String(local.address ?? local.ip), port: Number(local.port), protocol: String(local.protocol) };
        if (typeof local.relayProtocol === 'string') r.local.relayProtocol = local.relayProtocol;
        if (typeof local.url === 'string') r.local.url = local.url;
      }
      if (remote) r.remote = { candidateType: String(remote.candidateType), address: String(remote.address ?? remote.ip), port: Number(remote.port) };
    }
    return out;
  });
}

const flowing = (r: PeerReport) => r.connectionState === 'connected' && r.framesDecoded > 0 && r.pair?.state === 'succeeded' && r.pair.bytesReceived > 0 && r.pair.bytesSent > 0;

/** Polls until the page has `n` peers, all with video flowing (or fails with the last reports). */
async function waitForPeers(page: Page, n: number, timeout = 30_000): Promise<PeerReport[]> {
  const deadline = Date.now() + timeout;
  let last = await within(reports(page), timeout, 'getStats');
  while (!(last.length === n && last.every(flowing))) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${n} peers with video; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
    last = await within(reports(page), timeout, 'getStats');
  }
  return last;
}

test('demo calls in Chromium, relay only through our TURN server: two pages, then a mesh of three, then a hang-up', { skip, timeout: 120_000 }, async () => {
  // TURN as `switchboard start` runs it (browser.ts startLoopbackTurn).
  const { turn, ice, turnPort, relayMin, relayMax, relayAddress } = await startLoopbackTurn();
  cleanup.push(() => turn.close());
  assert.equal(relayAddress, '127.0.0.1');

  const node = await startDemoNode({ ice });
  cleanup.push(() => node.close());
  const browser: Browser = await launch(MEDIA_ARGS);
  cleanup.push(() => browser.close());
  const { page: ana } = await browser.page();
  const { page: bo } = await browser.page();
  for (const p of [ana, bo]) p.on('console', (m) => m.type() === 'warning' && console.log(`[page] ${m.text()}`));

  await joinDemo(ana, node.httpUrl, 'Ana', 'studio');
  await joinDemo(bo, node.httpUrl, 'Bo', 'studio');
  // The connect reply handed out our STUN and TURN servers with time-limited credentials.
  const servers = await ana.evaluate(() => (window as unknown as { __demo: { client: { iceServers: unknown } } }).__demo.client.iceServers);
  assert.deepEqual(servers, [
    { urls: [`stun:127.0.0.1:${turnPort}`] },
    { urls: [`turn:127.0.0.1:${turnPort}?transport=udp`, `turn:127.0.0.1:${turnPort}?transport=tcp`], username: (servers as Array<{ username?: string }>)[1]?.username, credential: (servers as Array<{ credential?: string }>)[1]?.credential },
  ]);
  assert.match(String((servers as Array<{ username?: string }>)[1]?.username), /^\d+:anon-/);

  for (const p of [ana, bo]) {
    await p.check('#relay-only', { force: true });
    await p.click('#call-start');
  }

  for (const page of [ana, bo]) await waitForPeers(page, 1);
  // Let a few more frames through, then read again for the record (polling again: while a
  // consent check is in flight, Chromium shows the selected pair as in-progress).
  await new Promise((r) => setTimeout(r, 1000));
  const got: Record<string, PeerReport> = {};
  for (const [name, page] of [
    ['Ana', ana],
    ['Bo', bo],
  ] as const) {
    const [r] = await waitForPeers(page, 1);
    assert.ok(r);
    got[name] = r;
    console.log(`[${name}] ${JSON.stringify(r)}`);
    assertRelayed(name, r);
  }
  // Each side's relay is among the other side's remote candidates (trickled through signaling).
  assert.ok(got.Bo!.remotePorts.includes(got.Ana!.local!.port), JSON.stringify(got.Bo!.remotePorts));
  assert.ok(got.Ana!.remotePorts.includes(got.Bo!.local!.port), JSON.stringify(got.Ana!.remotePorts));

  function assertRelayed(name: string, r: PeerReport): void {
    assert.ok(r.framesDecoded > 0, `${name}: video frames decoded`);
    assert.equal(r.pair?.state, 'succeeded');
    assert.equal(r.pair?.nominated, true);
    assert.ok(r.pair!.bytesReceived > 0 && r.pair!.bytesSent > 0);
    // Both ends of the selected pair are relay candidates on our TURN server's relay.
    for (const c of [r.local, r.remote]) {
      assert.equal(c?.candidateType, 'relay', `${name}: ${JSON.stringify(c)}`);
      assert.equal(c?.address, relayAddress);
      assert.ok(c!.port >= relayMin && c!.port <= relayMax, `${name}: relay port ${c!.port} in ${relayMin}-${relayMax}`);
    }
    if (r.local?.url !== undefined) assert.match(r.local.url, new RegExp(`^turn:127\\.0\\.0\\.1:${turnPort}\\b`));
  }

  // The server relayed it: at least one allocation per page, packets both ways.
  const m = turn.metrics;
  console.log(`[turn] ${JSON.stringify(m)}`);
  assert.ok(m.allocationsTotal >= 2, `allocations: ${m.allocationsTotal}`);
  assert.ok(m.allocationsActive >= 2);
  assert.ok(m.packetsToPeers > 100 && m.packetsFromPeers > 100, `packets relayed: ${m.packetsToPeers} / ${m.packetsFromPeers}`);
  assert.equal(m.authFailures, 0);

  // Tiles: each page shows itself and the other, connected via the relay.
  for (const [page, other] of [
    [ana, 'Bo'],
    [bo, 'Ana'],
  ] as const) {
    await page.waitForFunction((n) => [...document.querySelectorAll('.tile .name')].some((e) => e.textContent === n), other, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector('.tile:not(.local) .chip')?.textContent === 'via TURN relay', undefined, { timeout: 10_000 });
  }
  await screenshot(ana, 'call-ana');
  await screenshot(bo, 'call-bo');

  // A third person joins: a mesh of three, everyone connected to both others through the relay.
  const { page: cy } = await browser.page();
  await joinDemo(cy, node.httpUrl, 'Cy', 'studio');
  await cy.check('#relay-only', { force: true });
  await cy.click('#call-start');
  for (const [name, page] of [
    ['Ana', ana],
    ['Bo', bo],
    ['Cy', cy],
  ] as const) {
    const rs = await waitForPeers(page, 2);
    console.log(`[${name}] ${rs.map((r) => `${r.name}: ${r.framesDecoded} frames, ${r.local?.candidateType}/${r.remote?.candidateType}`).join('; ')}`);
    for (const r of rs) assertRelayed(`${name}→${r.name}`, r);
    await page.waitForFunction(() => document.querySelectorAll('.tile:not(.local)[data-state="connected"]').length === 2, undefined, { timeout: 10_000 });
  }
  await screenshot(cy, 'call-three-cy');

  // Bo hangs up: a bye, and the others' tiles for Bo go; Ana and Cy stay connected.
  await bo.click('#hangup');
  for (const page of [ana, cy]) {
    await page.waitForFunction(() => document.querySelectorAll('.tile').length === 2, undefined, { timeout: 10_000 });
    const rs = await reports(page);
    assert.equal(rs.length, 1);
    assert.equal(rs[0]!.connectionState, 'connected');
  }
  assert.equal(await bo.isHidden('#call'), true);
  assert.equal(await bo.isVisible('#call-start'), true);
  console.log(`[turn] after: ${JSON.stringify(turn.metrics)}`);
});
