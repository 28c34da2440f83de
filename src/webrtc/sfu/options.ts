/**
 * The SFU's options and its public face as a node sees it, kept free of werift's types so that
 * the package's declarations do not pull werift's into a consumer's type check.
 */
import type { SfuService } from './contract.ts';

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
  workers: 0,
};

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
}

/** The node's SFU: the SfuService contract plus its counts. */
export interface SfuNode extends SfuService {
  stats(): SfuStats;
}
