/**
 * Merging the SFU workers' admin snapshots (snapshot.ts, pure): rooms of all workers ordered by
 * participants then name, at most `maxRooms`, the limits clamped, and the producer + consumer
 * budget applied over all rooms together.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundLimits, mergeSnapshots, SNAPSHOT_MAX_ENTRIES, SNAPSHOT_MAX_PARTICIPANTS, SNAPSHOT_MAX_ROOMS } from '../../../src/webrtc/sfu/snapshot.ts';
import type { SfuParticipantSnapshot, SfuRoomSnapshot, SfuSnapshot } from '../../../src/protocol/sfu-contract.ts';

const participant = (client: string, consumers = 0): SfuParticipantSnapshot => ({
  client,
  user: '',
  producers: [],
  consumers: Array.from({ length: consumers }, (_, i) => ({ track: `t${i}`, publisher: 'p', publisherUser: '', kind: 'video', spatial: 0, targetSpatial: 0, maxSpatial: 0, bitrate: 1, packets: 1, retransmitted: 0, nacks: 0, plis: 0, switches: 0, paused: false, active: true })),
});
const room = (name: string, n: number, consumers = 0): SfuRoomSnapshot => ({ room: name, participantCount: n, participants: Array.from({ length: n }, (_, i) => participant(`${name}-${i}`, consumers)) });

test('rooms of every worker merge largest first, then by name, at most maxRooms', () => {
  const w1: SfuSnapshot = { rooms: [room('b', 2), room('z', 1)], totalRooms: 2 };
  const w2: SfuSnapshot = { rooms: [room('a', 2), room('c', 5)], totalRooms: 7 };
  const m = mergeSnapshots([w1, w2], { maxRooms: 3, maxParticipants: 10 });
  assert.deepEqual(m.rooms.map((r) => r.room), ['c', 'a', 'b']);
  assert.equal(m.totalRooms, 9, 'totals of every worker, listed or not');
  assert.deepEqual(mergeSnapshots([], {}), { rooms: [], totalRooms: 0 });
});

test('the producer + consumer budget holds over all workers together', () => {
  const per = 60;
  const big = (name: string) => room(name, Math.ceil(SNAPSHOT_MAX_ENTRIES / per), per);
  const m = mergeSnapshots([{ rooms: [big('x')], totalRooms: 1 }, { rooms: [big('y')], totalRooms: 1 }]);
  const entries = m.rooms.reduce((n, r) => n + r.participants.reduce((k, p) => k + p.producers.length + p.consumers.length, 0), 0);
  assert.ok(entries <= SNAPSHOT_MAX_ENTRIES, `${entries} entries`);
  assert.ok(entries > SNAPSHOT_MAX_ENTRIES - per, 'filled up to the budget');
  assert.ok(m.rooms.some((r) => r.participants.length < r.participantCount), 'a room shows fewer than it has');
});

test('limits are clamped to integers in range; junk means the cap', () => {
  assert.deepEqual(boundLimits({ maxRooms: 0, maxParticipants: 2.7 }), { maxRooms: 1, maxParticipants: 2 });
  assert.deepEqual(boundLimits({ maxRooms: 1e9, maxParticipants: -1 }), { maxRooms: SNAPSHOT_MAX_ROOMS, maxParticipants: 1 });
  assert.deepEqual(boundLimits({ maxRooms: NaN, maxParticipants: '5' as unknown as number }), { maxRooms: SNAPSHOT_MAX_ROOMS, maxParticipants: SNAPSHOT_MAX_PARTICIPANTS });
  assert.deepEqual(boundLimits(undefined), { maxRooms: SNAPSHOT_MAX_ROOMS, maxParticipants: SNAPSHOT_MAX_PARTICIPANTS });
});
