/**
 * The SFU's rooms as the admin page shows them (`SfuService.snapshot`, protocol/sfu-contract.ts):
 * a plain-data copy of routers → participants → producers (per simulcast layer) and consumers,
 * built on demand from the live objects and bounded, so it can cross a worker thread's message
 * port and be merged with other workers' answers (`mergeSnapshots`).
 */
import type { SfuConsumerSnapshot, SfuParticipantSnapshot, SfuProducerSnapshot, SfuRoomSnapshot, SfuSnapshot } from './contract.ts';
import type { Participant, Router } from './router.ts';

/** Largest limits a request may ask for (whatever it says). */
export const SNAPSHOT_MAX_ROOMS = 200;
export const SNAPSHOT_MAX_PARTICIPANTS = 200;
/**
 * Producers + consumers in one snapshot, all rooms together (≈ 300 bytes of JSON each, so an
 * answer stays under ~1.5 MB): participants past it are left out (their room's
 * `participantCount` still counts them).
 */
export const SNAPSHOT_MAX_ENTRIES = 5000;

export interface SnapshotLimits {
  maxRooms: number;
  maxParticipants: number;
}

function clamp(n: unknown, max: number): number {
  return typeof n === 'number' && Number.isFinite(n) ? Math.max(1, Math.min(max, Math.floor(n))) : max;
}

/** The limits made safe: integers from 1 to the caps (a missing or bad value means the cap). */
export function boundLimits(limits: Partial<SnapshotLimits> | undefined): SnapshotLimits {
  return { maxRooms: clamp(limits?.maxRooms, SNAPSHOT_MAX_ROOMS), maxParticipants: clamp(limits?.maxParticipants, SNAPSHOT_MAX_PARTICIPANTS) };
}

/** Rooms with the most participants first, then by name: the order of every snapshot. */
function byLoad(a: { room: string; participantCount: number }, b: { room: string; participantCount: number }): number {
  return b.participantCount - a.participantCount || (a.room < b.room ? -1 : a.room > b.room ? 1 : 0);
}

function participant(p: Participant): SfuParticipantSnapshot {
  const producers: SfuProducerSnapshot[] = [];
  for (const entry of p.published.values()) {
    const simulcast = entry.layers.length > 1;
    const consumers = entry.layers[0]?.consumerCount ?? 0;
    entry.layers.forEach((l, spatial) => {
      producers.push({
        track: entry.info.track,
        kind: l.kind,
        ...(simulcast ? { rid: l.id.slice(l.id.lastIndexOf('/') + 1) } : {}),
        spatial,
        ...(l.width > 0 ? { width: l.width, height: l.height } : {}),
        bitrate: l.bitrate,
        packets: l.received,
        keyframes: l.keyframes,
        plis: l.plis,
        nacks: l.nack?.nacksSent ?? 0,
        recovered: l.nack?.recovered ?? 0,
        dynacastPaused: l.dynacastPaused,
        consumers,
      });
    });
  }
  const consumers: SfuConsumerSnapshot[] = [];
  for (const [track, r] of p.received) {
    const c = r.consumer;
    const ls = c.layers;
    const cur = c.current && !c.paused ? ls.indexOf(c.current) : -1;
    const layer = cur >= 0 ? ls[cur] : undefined;
    const max = ls.length - 1;
    consumers.push({
      track,
      publisher: r.entry.info.client,
      publisherUser: r.entry.info.user,
      kind: c.producer.kind,
      spatial: cur,
      ...(layer && ls.length > 1 ? { rid: layer.id.slice(layer.id.lastIndexOf('/') + 1) } : {}),
      ...(layer && layer.width > 0 ? { width: layer.width, height: layer.height } : {}),
      targetSpatial: Math.max(0, Math.min(c.targetSpatial, c.bweSpatial, max)),
      maxSpatial: max,
      bitrate: c.bitrate,
      packets: c.forwarded,
      retransmitted: c.retransmitted,
      nacks: c.nacksReceived,
      plis: c.keyframeRequests,
      switches: c.switches,
      paused: c.paused,
      active: c.active,
    });
  }
  const d = p.downlink;
  return { client: p.ref.client, user: p.ref.user, producers, consumers, ...(d ? { downlink: { estimateBps: Math.round(d.estimateBps), desiredBps: Math.round(d.desiredBps) } } : {}) };
}

/** A snapshot of `routers`: the largest `maxRooms` rooms, the first `maxParticipants` participants of each. */
export function snapshotRouters(routers: Iterable<Router>, limits?: Partial<SnapshotLimits>): SfuSnapshot {
  const { maxRooms, maxParticipants } = boundLimits(limits);
  const all = [...routers].filter((r) => !r.closed);
  const chosen = all
    .map((r) => ({ r, room: r.id, participantCount: r.participants.size }))
    .sort(byLoad)
    .slice(0, maxRooms);
  let entries = 0;
  const rooms: SfuRoomSnapshot[] = chosen.map(({ r, room, participantCount }) => {
    const participants: SfuParticipantSnapshot[] = [];
    for (const p of r.participants.values()) {
      if (participants.length >= maxParticipants) break;
      if (p.closed) continue;
      const n = p.published.size * 3 + p.received.size;
      if (entries + n > SNAPSHOT_MAX_ENTRIES) break;
      const x = participant(p);
      entries += x.producers.length + x.consumers.length;
      participants.push(x);
    }
    return { room, participants, participantCount };
  });
  return { rooms, totalRooms: all.length };
}

/** Merges the answers of several workers (each for its own rooms) into one bounded snapshot. */
export function mergeSnapshots(parts: readonly SfuSnapshot[], limits?: Partial<SnapshotLimits>): SfuSnapshot {
  const { maxRooms } = boundLimits(limits);
  const rooms = parts.flatMap((s) => s.rooms).sort(byLoad).slice(0, maxRooms);
  // The entry budget again, over all workers' rooms together.
  let entries = 0;
  for (const room of rooms) {
    let keep = 0;
    for (const p of room.participants) {
      const n = p.producers.length + p.consumers.length;
      if (entries + n > SNAPSHOT_MAX_ENTRIES) break;
      entries += n;
      keep++;
    }
    room.participants.length = keep;
  }
  return { rooms, totalRooms: parts.reduce((n, s) => n + s.totalRooms, 0) };
}
