/**
 * The SFU end to end in Node: a real server with an `sfu: true` namespace and the SfuRouterService,
 * SDK clients over WebSocket using SfuCall, and werift peer connections as the participants'
 * WebRTC stacks (ICE, DTLS-SRTP on loopback). Each participant publishes a synthetic VP8 stream;
 * every participant receives every other one through the SFU, with the SFU's SSRCs, and a
 * participant that leaves disappears from the others (track-removed) while the rest keep flowing.
 * Chromium runs the same room in test/e2e/sfu-call.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/app/index.ts';
import { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { createSfu, sfuMediaPath, type SfuNode } from '../../src/webrtc/sfu/index.ts';
import { Member, until } from './sfu-member.ts';

for (const [mode, make, threads] of [
  ['on the main thread', () => new SfuRouterService(), 1],
  ['in 2 worker threads', () => createSfu({ workers: 2 }), 2],
] as const) {
test(`three participants in one SFU room (${mode}): each receives the other two through the SFU; one leaves, the others keep flowing`, { timeout: 90_000 }, async () => {
  const sfu: SfuNode = make();
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    allowAnonymous: true,
    namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous' } },
    sfu,
  });
  const members = ['alic', 'bobb', 'caro'].map((n) => new Member(node.wsUrl, n, 'sfu:standup'));
  try {
    for (const m of members) {
      m.start();
      await m.call.join();
    }
    const ids = members.map((m) => m.client.id!);
    await until(
      () => members.every((m, i) => ids.every((id, j) => i === j || (m.got.get(id)?.packets ?? 0) > 20)),
      45_000,
      () => members.map((m) => `${m.name}: ${[...m.got].map(([k, v]) => `${k}=${v.packets}`).join(' ')}`).join('; '),
    );
    for (const [i, m] of members.entries()) {
      assert.equal(m.got.has(ids[i]!), false, `${m.name} does not receive itself`);
      for (const [j, other] of members.entries()) {
        if (i === j) continue;
        const g = m.got.get(ids[j]!)!;
        assert.deepEqual([...g.marks], [other.name], `${m.name} receives ${other.name}'s payload, nobody else's`);
        assert.equal(g.ssrcs.size, 1, 'one SSRC per consumer');
      }
    }
    // A worker pool's counts arrive every 500 ms.
    await until(() => sfu.stats().consumers === 6 && sfu.stats().packetsForwarded >= 6 * 20, 5000, () => JSON.stringify(sfu.stats()));
    const st = sfu.stats();
    // Every SFU thread loads the native helper itself when it is built (SWITCHBOARD_SFU_NATIVE=0: none does).
    const native = sfuMediaPath().path === 'native';
    assert.deepEqual(
      { ...st, packetsForwarded: 0, packetsRetransmitted: 0, keyframeRequests: 0, nacksSent: 0, packetsRecovered: 0, packetsSentNative: 0 },
      { rooms: 1, participants: 3, producers: 3, consumers: 6, packetsForwarded: 0, packetsRetransmitted: 0, keyframeRequests: 0, nacksSent: 0, packetsRecovered: 0, layersCapped: 0, nativeThreads: native ? threads : 0, packetsSentNative: 0 },
    );
    assert.ok(st.packetsForwarded >= 6 * 20, `forwarded ${st.packetsForwarded}`);
    if (native) assert.ok(st.packetsSentNative >= 6 * 20, `sent ${st.packetsSentNative} through the native batch`);
    else assert.equal(st.packetsSentNative, 0);
    // The same counts in /metrics.
    const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    assert.equal(value('switchboard_sfu_rooms'), 1);
    assert.equal(value('switchboard_sfu_participants'), 3);
    assert.equal(value('switchboard_sfu_tracks'), 3);
    assert.equal(value('switchboard_sfu_consumers'), 6);
    assert.ok(value('switchboard_sfu_packets_forwarded_total') >= st.packetsForwarded, metrics.split('\n').filter((l) => l.includes('sfu')).join('\n'));
    assert.equal(value('switchboard_sfu_native_threads'), native ? threads : 0);
    assert.ok(value('switchboard_sfu_packets_sent_native_total') >= st.packetsSentNative);

    // Carol leaves: the others are told, and keep receiving each other.
    const carol = members.pop()!;
    carol.stop();
    await until(() => members.every((m) => m.removed.length === 1), 10_000, () => 'track-removed at alice and bob');
    const received = (): number[] => members.map((m) => m.got.get(ids[members.length - 1 - members.indexOf(m)]!)!.packets);
    const before = received();
    // Within a few seconds (a loaded machine delays the renegotiation after the leave).
    await until(() => received().every((n, k) => n > before[k]! + 10), 10_000, () => `still flowing after a leave (${before.join(', ')} → ${received().join(', ')})`);
    await until(() => sfu.stats().participants === 2, 5000, () => JSON.stringify(sfu.stats()));
    const after2 = sfu.stats();
    assert.deepEqual([after2.rooms, after2.participants, after2.producers, after2.consumers], [1, 2, 2, 2]);
    assert.ok(after2.packetsForwarded >= st.packetsForwarded, 'totals do not go down when consumers close');
  } finally {
    for (const m of members) m.stop();
    await node.close();
  }
  const end = sfu.stats();
  assert.deepEqual([end.rooms, end.participants, end.producers, end.consumers], [0, 0, 0, 0]);
});
}
