/**
 * The contract between the SFU's signaling side (server/sfu-signaling.ts, protocol/sfu.ts, the SDK)
 * and its media plane (router, transports, producers, consumers). Both sides import only this file
 * from each other, so either can change behind it.
 *
 * Model (as LiveKit does it): a participant has up to two WebRTC transports to the SFU, a
 * **publish** transport (the client offers, the SFU answers; carries the client's camera/mic,
 * simulcast by rid) and a **subscribe** transport (the SFU offers, the client answers; carries one
 * consumer per remote track). ICE candidates are gathered completely before an SDP is sent (no
 * trickle), which is enough for host, srflx and relay candidates on a known server.
 *
 * Control messages travel as signal data `{type: 'sfu', ...}` between a room member and the
 * reserved member id `$sfu` of its room, over the existing signaling path. Every request carries an
 * `id` (1–64 characters, unique per connection while pending) and gets exactly one `reply` with the
 * same id: `ok: true` plus the op's result, or `ok: false` plus `error: {code, message}` with a
 * protocol error code (see protocol/errors.ts; 107 bad request, 103 permission denied, 106 limit
 * exceeded, 108 not available: nothing the SFU can forward was offered, or no SFU here). Events
 * from the SFU have no id.
 */

/** The reserved member id a client addresses the SFU with. */
export const SFU_MEMBER = '$sfu';

/** Who is asking: set by the server from the authenticated session, never from the client. */
export interface SfuPeerRef {
  room: string;
  user: string;
  client: string;
  /** Bits per second the participant's video may use (the room's cap); absent: the SFU's own. */
  maxPublishBitrate?: number;
}

/** What a client may ask the SFU (validated by protocol/sfu.ts before the media plane sees it). */
export type SfuRequest =
  /** Enter the room: reply lists the tracks already published. */
  | { id: string; op: 'join' }
  /** Offer of the publish transport (first time or renegotiation); reply carries the answer. */
  | { id: string; op: 'publish'; sdp: string }
  /** Answer to a `subscriber-offer` event. */
  | { id: string; op: 'subscriber-answer'; sdp: string }
  /**
   * Preferences for one consumer (by the track id of the remote producer): the largest spatial /
   * temporal layer wanted (0 = lowest; omitted = best available) and the rendered size in CSS
   * pixels (adaptive stream: 0×0 or `visible: false` lets the SFU pause it).
   */
  | { id: string; op: 'set-layers'; track: string; spatial?: number; temporal?: number; width?: number; height?: number; visible?: boolean }
  /** Stop or restart receiving one remote track. */
  | { id: string; op: 'pause' | 'resume'; track: string }
  /** Leave the room: both transports close. */
  | { id: string; op: 'leave' };

/** One published track as others see it. */
export interface SfuTrackInfo {
  /** Stable id of the producer (also the msid track id in subscriber offers). */
  track: string;
  user: string;
  client: string;
  kind: 'audio' | 'video';
  codec: string;
  /** Simulcast layers by rid, lowest first (empty for a single-layer or audio track). */
  layers: { rid: string; width?: number; height?: number; bitrate?: number }[];
}

/** Results by op. */
export interface SfuReplies {
  join: { tracks: SfuTrackInfo[] };
  publish: { sdp: string };
  'subscriber-answer': Record<string, never>;
  'set-layers': Record<string, never>;
  pause: Record<string, never>;
  resume: Record<string, never>;
  leave: Record<string, never>;
}

/** Events the SFU sends to one participant. */
export type SfuEvent =
  /**
   * A new subscribe-transport offer (tracks added or removed); answer with `subscriber-answer`.
   * `tracks` maps each active m-line's mid to the track id it carries (also its msid track id).
   */
  | { op: 'subscriber-offer'; sdp: string; tracks: Record<string, string> }
  | { op: 'track-added'; track: SfuTrackInfo }
  | { op: 'track-removed'; track: string }
  /** The layer one of your consumers forwards now (after a switch, on a keyframe). */
  | { op: 'layer'; track: string; spatial: number; temporal: number; bitrate: number }
  /**
   * Dynacast, to the publisher: which simulcast layers of its track someone receives. A layer
   * marked inactive is not forwarded to anyone; stop encoding it (RTCRtpSender.setParameters,
   * `encodings[i].active = false`) until it is marked active again. The lowest layer stays active.
   * Also sent when the participant's bitrate cap applies: `maxBitrate` (bps) per layer, to set as
   * `encodings[i].maxBitrate` (0: keep the layer off). A single-layer track has one entry, rid ''.
   */
  | { op: 'publish-layers'; track: string; layers: { rid: string; active: boolean; maxBitrate?: number }[] }
  /**
   * Active speakers of the room, loudest first (at most 8), sent when the list changes: `level`
   * is the speech level from 0 to 1 (linear amplitude); an empty list when nobody speaks.
   */
  | { op: 'speakers'; speakers: { user: string; client: string; level: number }[] }
  /**
   * The SFU closed this participant's transports (`reason`: a transport did not connect, an offer
   * failed): the call is over; join again to continue.
   */
  | { op: 'dropped'; reason: string };

/** Everything a reply or an event can be, as it goes on the wire inside `{type: 'sfu', ...}`. */
export type SfuServerMessage =
  | { op: 'reply'; id: string; ok: true; result: SfuReplies[keyof SfuReplies] }
  | { op: 'reply'; id: string; ok: false; error: { code: number; message: string } }
  | SfuEvent;

/**
 * What the SFU holds right now, for the admin page (`SfuService.snapshot`): rooms → participants
 * → what each publishes (producers, one per simulcast layer) and receives (consumers). Bitrates
 * are of RTP payload over the SFU's last 500 ms rate period (bits per second). Bounded: at most
 * `maxRooms` rooms (largest first), `maxParticipants` per room; the totals say how many there were.
 */
export interface SfuSnapshot {
  /** Rooms listed, most participants first (then by name). */
  rooms: SfuRoomSnapshot[];
  /** Rooms on this node (listed or not). */
  totalRooms: number;
}

export interface SfuRoomSnapshot {
  room: string;
  /** Listed participants (at most the request's `maxParticipants`), in join order. */
  participants: SfuParticipantSnapshot[];
  /** Participants in the room (listed or not). */
  participantCount: number;
}

export interface SfuParticipantSnapshot {
  client: string;
  user: string;
  /** One entry per published stream: a single-layer track has one, a simulcast track one per rid. */
  producers: SfuProducerSnapshot[];
  /** One per remote track this participant receives. */
  consumers: SfuConsumerSnapshot[];
  /** The subscribe transport's bandwidth estimate (bps) and what its consumers would want; absent without transport-cc. */
  downlink?: { estimateBps: number; desiredBps: number };
}

export interface SfuProducerSnapshot {
  /** The track id (`<client>:<mid>`). */
  track: string;
  kind: 'audio' | 'video';
  /** The simulcast rid (absent for a single-layer track). */
  rid?: string;
  /** Spatial index among the track's layers, lowest resolution first (0 for a single layer). */
  spatial: number;
  /** Frame size from the last VP8 keyframe (absent until one arrived, and for audio). */
  width?: number;
  height?: number;
  /** Payload bits per second. */
  bitrate: number;
  packets: number;
  keyframes: number;
  /** Keyframe requests (PLI) the SFU sent the publisher for this stream. */
  plis: number;
  /** Lost packets the SFU asked the publisher for again (NACK entries), and those that came. */
  nacks: number;
  recovered: number;
  /** Paused at the publisher by dynacast (nobody receives this layer). */
  dynacastPaused: boolean;
  /** Consumers attached (for a simulcast track: of the whole track). */
  consumers: number;
}

export interface SfuConsumerSnapshot {
  /** The remote track (`<publisher client>:<mid>`). */
  track: string;
  /** The publisher's client and user id. */
  publisher: string;
  publisherUser: string;
  kind: 'audio' | 'video';
  /** Spatial index forwarded now (-1: none yet, or paused), its rid and frame size when known. */
  spatial: number;
  rid?: string;
  width?: number;
  height?: number;
  /** The layer it is heading for: the lower of the subscriber's request and what its bandwidth pays for. */
  targetSpatial: number;
  /** Highest layer the track has (layers − 1). */
  maxSpatial: number;
  /** Payload bits per second sent to the subscriber. */
  bitrate: number;
  packets: number;
  retransmitted: number;
  /** NACK packets and keyframe requests (PLI/FIR) the subscriber sent for this stream. */
  nacks: number;
  plis: number;
  /** Layer switches done. */
  switches: number;
  /** The subscriber paused it (`pause`, or adaptive stream: not visible). */
  paused: boolean;
  /** Forwarding (the subscriber's answer applied and its transport up). */
  active: boolean;
}

/** The media plane as the signaling side uses it. One instance per node. */
export interface SfuService {
  /**
   * Handles one validated request from `peer`. Resolves with the op's result, or rejects with a
   * ReplyError (protocol/errors.ts) whose code and message become the error reply.
   */
  handle(peer: SfuPeerRef, req: SfuRequest, send: (ev: SfuEvent) => void): Promise<SfuReplies[keyof SfuReplies]>;
  /** The peer's session ended or it left the room's channel: close its transports. Idempotent. */
  leave(peer: SfuPeerRef): void;
  /** Closes every router. */
  close(): Promise<void>;
  /**
   * What the SFU holds now (the admin page), bounded by `limits`. Optional: a media plane without
   * it shows no SFU section. With worker threads, each worker answers for its rooms and the
   * answers are merged.
   */
  snapshot?(limits: { maxRooms: number; maxParticipants: number }): Promise<SfuSnapshot>;
}
