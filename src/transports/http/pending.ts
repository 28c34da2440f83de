/**
 * Pending HTTP sessions: created by a session-creating `GET` (SSE or long polling) but not yet
 * past `connect`. Creating one costs the client a single cheap request and costs the node a
 * Session, so they are bounded apart from `maxConnections` (docs/protocol.md "HTTP transports"):
 * - at most `maxPendingSessions` per node (SSE and polling together; past it 503);
 * - each lives `pendingTimeout` seconds unless its `connect` succeeds (then closed `3502 stale`);
 * - per remote address, creation is a token bucket of `sessionRate` per second, `sessionBurst`
 *   deep (past it 429); `sessionRate: 0` turns it off (behind a load balancer every client has
 *   the balancer's address).
 * The node does not count pending sessions against `maxConnections` (node.addSession's `pending`).
 */
import { disconnect } from '../../protocol/codes.ts';
import { SessionState, type Session } from '../../server/session.ts';
import type { Clock } from '../../util/clock.ts';
import type { HttpTransportOptions } from './options.ts';

/** Addresses tracked before full buckets are forgotten (bounds the map under address churn). */
const MAX_TRACKED = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

export interface Refusal {
  status: number;
  message: string;
  retryAfter: string;
}

export class PendingSessions {
  private readonly live = new Set<Session>();
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock) {}

  /** Pending sessions now. */
  get size(): number {
    this.prune();
    return this.live.size;
  }

  /** Null when `ip` may create a session now (and takes its token), else the refusal. */
  admit(ip: string, o: HttpTransportOptions): Refusal | null {
    if (this.live.size >= o.maxPendingSessions) this.prune();
    if (this.live.size >= o.maxPendingSessions) {
      return { status: 503, message: `too many sessions waiting for connect (limit ${o.maxPendingSessions})`, retryAfter: '1' };
    }
    if (o.sessionRate <= 0) return null;
    const now = this.clock.now();
    const burst = Math.max(1, o.sessionBurst);
    let b = this.buckets.get(ip);
    if (!b) {
      // Bounded under address churn: past MAX_TRACKED every address starts again with a full bucket.
      if (this.buckets.size >= MAX_TRACKED) this.buckets.clear();
      this.buckets.set(ip, (b = { tokens: burst, at: now }));
    }
    else if (now > b.at) {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) * o.sessionRate) / 1000);
      b.at = now;
    }
    if (b.tokens < 1) return { status: 429, message: `too many new sessions from this address (${o.sessionRate}/s)`, retryAfter: String(Math.max(1, Math.ceil(1 / o.sessionRate))) };
    b.tokens -= 1;
    return null;
  }

  /** Tracks a new session until it connects or closes; closes it if not connected in `pendingTimeout`. */
  add(s: Session, o: HttpTransportOptions): void {
    this.live.add(s);
    this.clock.setTimeout(() => {
      this.live.delete(s);
      if (s.state === SessionState.Connected || s.state === SessionState.Closed) return;
      s.close(disconnect('stale', { reason: `stale: no connect within ${o.pendingTimeout} s of creating the session` }));
    }, o.pendingTimeout * 1000);
  }

  /** Forgets sessions that connected or closed before their deadline. */
  private prune(): void {
    for (const s of this.live) if (s.state === SessionState.Connected || s.state === SessionState.Closed) this.live.delete(s);
  }
}
