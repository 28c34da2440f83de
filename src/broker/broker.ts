/**
 * The Broker carries publications between nodes and keeps what must outlive a node: history with
 * positions, presence, idempotency keys. The memory broker (broker/memory.ts) is the reference
 * implementation; every broker passes the same contract suite (test/broker/contract.ts).
 */
import type { ClientInfo, StreamPosition } from '../protocol/frames.ts';

export interface Publication {
  /** Position in the channel's stream; 1 for the first publication, then +1 with no gaps. */
  offset: number;
  data: unknown;
  /** Publisher, when a client published. */
  info?: ClientInfo;
}

export interface PublishOptions {
  /** Publications kept in the channel's history (0: none kept, but the offset still advances). */
  historySize: number;
  /** Milliseconds a publication stays in history. */
  historyTtlMs: number;
  /** With a key seen on this channel within `idempotencyTtlMs`, nothing is published and the first position is returned. */
  idempotencyKey?: string;
  idempotencyTtlMs?: number;
  info?: ClientInfo;
}

export interface HistoryOptions {
  /** Return publications after this position. If the epoch differs, the list is empty. */
  since?: StreamPosition;
  /** Most publications returned; 0 returns only the position. */
  limit: number;
  /** Newest first (only without `since`). */
  reverse?: boolean;
  /**
   * Create the channel's stream (fix its epoch) when it has none. Subscribers need that: the
   * position they are handed must stay valid for their recovery. A plain read (history, the
   * server API) must not, or any name a client sends would leave state behind for hours
   * (issue 11 C3): without `create`, a channel with no stream answers {@link NO_STREAM} and no
   * publications, and nothing is stored. @default false
   */
  create?: boolean;
}

/**
 * The position of a channel that has no stream (nobody published to it, nobody subscribed, or
 * its position expired): offset 0 in the empty epoch. No real epoch is empty, so recovering from
 * it after the stream was created answers `recovered: false` — never a silent loss.
 */
export const NO_STREAM: Readonly<StreamPosition> = Object.freeze({ offset: 0, epoch: '' });

export interface HistoryResult {
  publications: Publication[];
  /** The stream's top position when read. */
  position: StreamPosition;
}

export interface BrokerHandler {
  /** A publication for a channel this node subscribed to, in offset order per channel. */
  onPublication(channel: string, pub: Publication, epoch: string): void;
  onJoin(channel: string, info: ClientInfo): void;
  onLeave(channel: string, info: ClientInfo): void;
  /**
   * The channel's continuity is broken for this node: its epoch changed while the node was away,
   * or publications were missed that history no longer covers. Every local subscriber must
   * resubscribe and learn from recovery whether anything was lost.
   */
  onStreamReset(channel: string): void;
}

export interface Broker {
  /** Name for logs and metrics (memory, redis, nats). */
  readonly name: string;
  /**
   * Whether the broker can serve calls now: connected, and (for networked brokers) answering. The
   * node's readiness (`/readyz`) and the HTTP API's fail-fast (503, error 114) read it; it is a
   * cheap synchronous read, kept current by the broker itself (events, a periodic probe).
   */
  readonly connected: boolean;
  /** Sets the receiver of this node's subscribed events. Called once before any subscribe. */
  setHandler(handler: BrokerHandler): void;
  /**
   * Appends to history and delivers to every node subscribed to the channel. History append and
   * delivery are atomic per channel: subscribers see publications in offset order, and a history
   * read never shows a publication before its offset was assigned.
   */
  publish(channel: string, data: unknown, opts: PublishOptions): Promise<StreamPosition>;
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  /** Node-level subscription: this node starts receiving the channel's events. Resolves once active. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  history(channel: string, opts: HistoryOptions): Promise<HistoryResult>;
  removeHistory(channel: string): Promise<void>;
  presenceAdd(channel: string, clientId: string, info: ClientInfo, ttlMs: number): Promise<void>;
  presenceRemove(channel: string, clientId: string): Promise<void>;
  /** Every live member. Unbounded: for large channels use presencePage. */
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  /**
   * Up to `limit` live members after `cursor` in join order, and the cursor of the next page
   * (absent on the last page). A member present for the whole walk is returned exactly once; one
   * that leaves and joins again during the walk may show up again at the end. The cursor is opaque
   * and specific to the broker; a malformed one throws {@link BadCursorError}.
   */
  presencePage(channel: string, opts: PresencePageOptions): Promise<PresencePage>;
  /** Live clients and distinct users, without reading the members (O(1) on memory and Redis). */
  presenceStats(channel: string): Promise<{ clients: number; users: number }>;
  close(): Promise<void>;
}

export interface PresencePageOptions {
  /** From a previous page; absent for the first page. */
  cursor?: string;
  /** Members per page, ≥ 1. */
  limit: number;
}

export interface PresencePage {
  clients: Record<string, ClientInfo>;
  /** Pass back as `cursor` for the next page; absent on the last page. */
  cursor?: string;
}

/** A presence cursor the broker did not issue. */
export class BadCursorError extends Error {
  constructor(cursor: string) {
    super(`bad presence cursor ${JSON.stringify(cursor.slice(0, 40))}`);
    this.name = 'BadCursorError';
  }
}

/** Numeric cursors (memory and Redis brokers): a join sequence, or 0 for the start. */
export function parseSeqCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(cursor)) throw new BadCursorError(cursor);
  return Number(cursor);
}

/** A short random id (epochs, client ids): 64 bits, URL-safe. */
export function randomId(bytes = 8): string {
  const a = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(a);
  let s = '';
  for (const b of a) s += b.toString(36).padStart(2, '0');
  return s;
}
