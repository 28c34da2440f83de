/**
 * The SFU's options and its public face as a node sees it, kept free of werift's types so that
 * the package's declarations do not pull werift's into a consumer's type check.
 */
import type { SfuService, SfuSnapshot } from './contract.ts';

export interface SfuOptions {
  /** Rooms this node serves at once. @default 256 */
  maxRooms: number;
  /** Participants per room. @default 32 */
  maxParticipants: number;
  /** Streams one participant may publish. @default 4 */
  maxProducers: number;
  /** Remote streams one participant receives (m-lines of its subscribe transport, inactive ones too). @default 64 */
  maxConsumers: number;
  /** How long a transport may take to connect (ICE + DTLS). @default 20000 */
  connectTimeoutMs: number;
  /** How long the SFU waits for a subscriber's answer before offering again. @default 15000 */
  answerTimeoutMs: number;
  /** Extra host addresses werift announces (loopback for tests; the public address behind NAT). @default ['127.0.0.1'] */
  hostAddresses: string[];
  /**
   * Dynacast: simulcast layers nobody receives are paused at the publisher (`publish-layers`
   * event; the SDK turns the encodings off) and resumed as soon as someone needs them. @default true
   */
  dynacast: boolean;
  /**
   * Worker threads the rooms run in (`createSfu` only): 0 runs the SFU on the node's main thread;
   * N ≥ 1 spreads rooms over N `worker_threads` (worker-pool.ts), so media never delays the
   * messaging loop. @default 0
   */
  workers: number;
  /**
   * Bits per second one participant's video may use in all (every track and simulcast layer).
   * Below what the layers typically use (~3.2 Mbit/s for three), the publisher is told a
   * `maxBitrate` per layer (`publish-layers`); the SFU always sends it REMB with the cap; and a
   * publisher over 1.5× the cap (+100 kbit/s) for 2 s has its highest layers held back (not
   * forwarded) until it is under again. 0: no cap. A room's namespace can set its own
   * (`sfuMaxPublishBitrate`). @default 6000000
   */
  maxPublishBitrate: number;
  /** Directory recordings are written to (created on the first start). @default './recordings' */
  recordDir: string;
  /** Recordings running at once on this node. @default 4 */
  maxRecordings: number;
  /** Bytes one recorded file (WebM + raw dump) may reach; then the recording stops. @default 1 GiB */
  maxRecordingBytes: number;
  /** How long one recording may run; then it stops. @default 4 h */
  maxRecordingMs: number;
}

export const SFU_DEFAULTS: SfuOptions = {
  maxRooms: 256,
  maxParticipants: 32,
  maxProducers: 4,
  maxConsumers: 64,
  connectTimeoutMs: 20_000,
  answerTimeoutMs: 15_000,
  hostAddresses: ['127.0.0.1'],
  dynacast: true,
  maxPublishBitrate: 6_000_000,
  workers: 0,
  recordDir: './recordings',
  maxRecordings: 4,
  maxRecordingBytes: 1024 * 1024 * 1024,
  maxRecordingMs: 4 * 3600 * 1000,
};

/** One recorded track. */
export interface RecordingTrackInfo {
  /** The track id (`<client>:<mid>`). */
  track: string;
  /** The producer recorded (`<track>/<rid>` for a simulcast layer). */
  producer: string;
  kind: 'audio' | 'video';
  codec: 'VP8' | 'opus';
  packets: number;
  frames: number;
  /** Frames given up (loss) or refused by the depacketizer. */
  framesDropped: number;
  senderReports: number;
  /** Sender reports that disagreed with the clock mapping by > 30 ms and moved it. */
  clockResyncs: number;
  /** Frames moved forward by 1 ms to keep the track's times strictly increasing. */
  timeFixups: number;
}

/** One output file (one participant's audio + video) of a recording. */
export interface RecordingFileInfo {
  participant: string;
  user: string;
  /** File name of the WebM in the recording directory (`<room>-<participant>-<time>.webm`). */
  file: string;
  /** File name of the raw RTP dump beside it (`.rtpdump`; `remux` turns it into WebM). */
  dump: string;
  /** `waiting` until the first keyframe opens the WebM, `writing`, `done`. */
  state: 'waiting' | 'writing' | 'done';
  bytes: number;
  dumpBytes: number;
  durationMs: number;
  frames: { video: number; audio: number };
  tracks: RecordingTrackInfo[];
}

export interface RecordingInfo {
  id: string;
  room: string;
  /** The participant recorded; absent: the whole room (a file per participant). */
  client?: string;
  state: 'recording' | 'stopped';
  /** Why it stopped: `stopped` (API), `size limit`, `duration limit`, `participant left`, `shutdown`. */
  reason?: string;
  startedAt: string;
  stoppedAt?: string;
  /** The recording directory (absolute). */
  dir: string;
  files: RecordingFileInfo[];
}

/**
 * Start, stop and list recordings (the server API's `sfu_record_*` methods). Asynchronous, as
 * the recording runs where the room runs: on this thread or in an SFU worker thread. A refusal
 * rejects with a ReplyError (107 bad request, 106 limit, 108 room not here / no SFU).
 */
export interface SfuRecordings {
  start(req: { room: string; client?: string; layer?: number }): Promise<RecordingInfo>;
  /** Resolves when the files are complete. */
  stop(id: string): Promise<RecordingInfo>;
  /** Running and recently stopped recordings, newest first. */
  list(): Promise<RecordingInfo[]>;
}

/** Counts of what the SFU holds (admin, metrics, tests). */
export interface SfuStats {
  rooms: number;
  participants: number;
  /** Published tracks (a simulcast track counts once). */
  producers: number;
  consumers: number;
  /** RTP packets sent to subscribers (first transmissions), since start. */
  packetsForwarded: number;
  /** Packets sent again for a subscriber's NACK, since start. */
  packetsRetransmitted: number;
  /** Keyframe requests (PLI) sent to publishers, since start. */
  keyframeRequests: number;
  /** Lost publisher packets asked for again (NACK entries sent to publishers), since start. */
  nacksSent: number;
  /** Publisher packets that arrived after being counted missing (retransmitted or reordered), since start. */
  packetsRecovered: number;
  /** Layers held back now because their publisher exceeds its bitrate cap (publish-cap.ts). */
  layersCapped: number;
  /**
   * SFU threads (this one, or each worker thread) whose send path is the native helper: SRTP in
   * OpenSSL contexts and sendmmsg batches (srtp/native.ts, udp-batch.ts); 0: the JavaScript path
   * (node:crypto + dgram; not built, or SWITCHBOARD_SFU_NATIVE=0).
   */
  nativeThreads: number;
  /** Datagrams sent to subscribers through the native batch, since start (the rest went through dgram). */
  packetsSentNative: number;
}

/** The node's SFU: the SfuService contract plus its counts. */
export interface SfuNode extends SfuService {
  stats(): SfuStats;
  /** Rooms → participants → producers and consumers, bounded (the admin page; snapshot.ts). */
  snapshot(limits?: { maxRooms?: number; maxParticipants?: number }): Promise<SfuSnapshot>;
  /** Recordings (recorder.ts), on the main thread or routed to the room's worker thread. */
  readonly recorder: SfuRecordings;
}
