/**
 * The admin API's SFU view (`GET /admin/api/sfu`) against a real SFU room: a real node with an
 * `sfu: true` namespace, SDK clients over WebSocket using SfuCall, and werift peer connections
 * as the participants' WebRTC stacks (as in test/webrtc/sfu-room.test.ts). Each participant
 * publishes a synthetic VP8 stream whose keyframes carry a real VP8 frame header (so the SFU learns
 * the frame size). Checked, on the main thread and with the rooms in one worker thread: the
 * endpoint needs the admin secret; every participant is listed with its producer (kind, size,
 * non-zero bitrate and packets) and one consumer per other participant naming that participant's
 * producer, forwarding at a non-zero bitrate; the limits bound the answer and say so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/app/index.ts';
import { createSfu } from '../../src/webrtc/sfu/index.ts';
import { SyntheticMember as Member } from '../helpers/sfu-member.ts';
import type { SfuConsumerSnapshot, SfuProducerSnapshot, SfuRoomSnapshot } from '../../src/protocol/sfu-contract.ts';

const ADMIN = 'admin-sfu-secret';

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface SfuAnswer {
  node: string;
  enabled: boolean;
  rooms: SfuRoomSnapshot[];
  totalRooms: number;
  truncated: boolean;
  stats?: { consumers: number };
}

for (const [mode, workers] of [
  ['on the main thread', 0],
  ['in 1 worker thread', 1],
] as const) {
  test(`GET /admin/api/sfu lists rooms, participants, producers and consumers with bitrates (${mode})`, { timeout: 120_000 }, async () => {
    const sfu = createSfu({ workers });
    const node = await startNode({
      port: 0,
      host: '127.0.0.1',
      name: 'sfu-admin-node',
      allowAnonymous: true,
      adminSecret: ADMIN,
      namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous' } },
      sfu,
    });
    const sizes = [
      [320, 180],
      [640, 360],
      [160, 90],
    ] as const;
    const members = sizes.map(([w, h]) => new Member(node.wsUrl, 'sfu:standup', w, h));
    const alone = new Member(node.wsUrl, 'sfu:solo', 480, 270);
    const get = async (query = '', secret = ADMIN) => {
      const res = await fetch(`${node.httpUrl}/admin/api/sfu${query}`, { headers: { 'x-admin-secret': secret } });
      return { status: res.status, body: (await res.json()) as SfuAnswer };
    };
    try {
      for (const m of [...members, alone]) {
        m.start();
        await m.call.join();
      }
      assert.equal((await get('', 'wrong')).status, 401, 'the admin secret is required');
      const ids = members.map((m) => m.client.id!);
      await until(() => members.every((m) => m.received > 40), 60_000, () => `received ${members.map((m) => m.received).join(', ')}`);

      // Rates are measured every 500 ms, and a worker answers from its own thread: poll until
      // every consumer of the room forwards at a measured rate.
      let room: SfuRoomSnapshot | undefined;
      let answer: SfuAnswer | undefined;
      await until(
        async () => {
          const r = await get();
          if (r.status !== 200) return false;
          answer = r.body;
          room = answer.rooms.find((x) => x.room === 'sfu:standup');
          return !!room && room.participants.length === 3 && room.participants.every((p) => p.consumers.length === 2 && p.consumers.every((c) => c.bitrate > 10_000) && p.producers.every((x) => x.bitrate > 10_000 && x.width !== undefined));
        },
        30_000,
        () => JSON.stringify(answer),
      );
      assert.equal(answer!.enabled, true);
      assert.equal(answer!.node, 'sfu-admin-node');
      assert.equal(answer!.totalRooms, 2);
      assert.equal(answer!.truncated, false);
      assert.deepEqual(
        answer!.rooms.map((r) => [r.room, r.participantCount]),
        [
          ['sfu:standup', 3],
          ['sfu:solo', 1],
        ],
        'largest room first',
      );
      assert.deepEqual(room!.participants.map((p) => p.client).sort(), [...ids].sort());
      const producers = new Map<string, SfuProducerSnapshot>();
      for (const p of room!.participants) {
        assert.equal(p.producers.length, 1, `${p.client} publishes one stream`);
        const x = p.producers[0]!;
        const i = ids.indexOf(p.client);
        assert.equal(x.kind, 'video');
        assert.equal(x.track.startsWith(`${p.client}:`), true, 'track ids are <client>:<mid>');
        assert.equal(x.rid, undefined, 'a single-layer track has no rid');
        assert.deepEqual([x.width, x.height], [sizes[i]![0], sizes[i]![1]], 'the size of its keyframes');
        assert.ok(x.packets > 10, `packets ${x.packets}`);
        // 400-byte payloads at 50 packets/s: 160 kbit/s nominal; a loaded machine sends in bursts (one 500 ms period may see far less).
        assert.ok(x.bitrate > 10_000 && x.bitrate < 400_000, `producer bitrate ${x.bitrate}`);
        assert.ok(x.keyframes > 0);
        assert.equal(x.dynacastPaused, false);
        assert.equal(x.consumers, 2, 'both others receive it');
        producers.set(x.track, x);
      }
      for (const p of room!.participants) {
        const from = p.consumers.map((c: SfuConsumerSnapshot) => c.publisher).sort();
        assert.deepEqual(from, ids.filter((id) => id !== p.client).sort(), `${p.client} receives the two others`);
        for (const c of p.consumers) {
          const source = producers.get(c.track);
          assert.ok(source, `consumer of ${c.track} names a producer of the room`);
          assert.equal(c.track.startsWith(`${c.publisher}:`), true);
          assert.equal(c.kind, 'video');
          assert.equal(c.active, true);
          assert.equal(c.paused, false);
          assert.equal(c.spatial, 0, 'forwarding the only layer');
          assert.equal(c.maxSpatial, 0);
          assert.deepEqual([c.width, c.height], [source.width, source.height]);
          assert.ok(c.packets > 5, `consumer packets ${c.packets}`);
          assert.ok(c.bitrate > 10_000 && c.bitrate < 400_000, `consumer bitrate ${c.bitrate}`);
          assert.equal(typeof c.nacks, 'number');
          assert.equal(typeof c.plis, 'number');
        }
      }
      const solo = answer!.rooms.find((x) => x.room === 'sfu:solo')!;
      assert.equal(solo.participants[0]!.client, alone.client.id);
      assert.deepEqual(solo.participants[0]!.consumers, [], 'alone: receives nothing');
      assert.ok((answer!.stats?.consumers ?? 0) >= 6, 'the SFU counters come along');

      // Bounded: one room, two participants of it; the answer says it left some out.
      const small = (await get('?rooms=1&participants=2')).body;
      assert.deepEqual(
        small.rooms.map((r) => [r.room, r.participantCount, r.participants.length]),
        [['sfu:standup', 3, 2]],
      );
      assert.equal(small.totalRooms, 2);
      assert.equal(small.truncated, true);
      // Out-of-range and junk limits are clamped, not trusted.
      const junk = await get('?rooms=1e9&participants=-5');
      assert.equal(junk.status, 200);
      assert.equal(junk.body.rooms.length, 2);
      assert.equal(junk.body.rooms[0]!.participants.length, 1, 'participants=-5 is clamped to 1');
      assert.equal((await get('?rooms=abc')).body.rooms.length, 2);
    } finally {
      for (const m of [...members, alone]) m.stop();
      await node.close();
    }
  });
}

test('GET /admin/api/sfu on a node without an SFU: enabled false', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, adminSecret: ADMIN });
  try {
    const res = await fetch(`${node.httpUrl}/admin/api/sfu`, { headers: { 'x-admin-secret': ADMIN } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as SfuAnswer;
    assert.deepEqual([body.enabled, body.rooms, body.totalRooms], [false, [], 0]);
    assert.equal((await fetch(`${node.httpUrl}/admin/api/sfu`)).status, 401);
  } finally {
    await node.close();
  }
});
