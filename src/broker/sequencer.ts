/**
 * In-order, gap-checked delivery of a channel's publications to the node (used by the Redis and
 * the NATS broker).
 *
 * Why this exists: Redis pub/sub and core NATS deliver at most once. A message published while a
 * node's subscriber connection is down is simply not delivered, and with NATS two publishers'
 * deliveries may cross on the wire. The broker contract promises the handler publications "in
 * offset order per channel", and the node's sessions never look for holes in live offsets. So
 * every live message passes through here:
 * - the next offset is delivered at once;
 * - an offset already delivered is dropped (a duplicate or a late message after a fill);
 * - a jump past the next offset holds the message and reads the missing ones from history, then
 *   delivers them and the held ones in order;
 * - a gap history no longer covers, or an epoch change found while filling, is a **reset**: the
 *   node's subscribers must resubscribe and learn from recovery whether they lost anything
 *   (`recovered: false` tells the client plainly).
 * After a reconnect the broker calls `resyncAll()`, which reads each channel's history after the
 * last delivered position, so publications lost while disconnected arrive even if no newer
 * publication follows them.
 */
import type { HistoryOptions, HistoryResult, Publication } from './broker.ts';

interface Pending {
  epoch: string;
  pub: Publication;
}

interface ChannelState {
  /** Position of the last delivered publication; epoch null until the first one. */
  epoch: string | null;
  offset: number;
  /** A fill is reading history; live messages wait in `held`. */
  filling: boolean;
  held: Pending[];
}

export interface SequencerOptions {
  /** Reads history (the broker's own `history`). */
  history(channel: string, opts: HistoryOptions): Promise<HistoryResult>;
  /** Delivers one publication in order. */
  deliver(channel: string, pub: Publication, epoch: string): void;
  /** The channel's continuity is broken: subscribers must resubscribe. */
  reset(channel: string): void;
  /** Called when a fill fails (history unreachable); the state is kept and retried on the next message or resync. */
  onError?(channel: string, err: unknown): void;
  /** Publications read per history page while filling. @default 1000 */
  pageSize?: number;
  /** Most live messages held per channel during a fill before they are dropped (history has them). @default 10000 */
  maxHeld?: number;
}

export class Sequencer {
  private readonly channels = new Map<string, ChannelState>();
  private readonly pageSize: number;
  private readonly maxHeld: number;

  constructor(private readonly o: SequencerOptions) {
    this.pageSize = o.pageSize ?? 1000;
    this.maxHeld = o.maxHeld ?? 10_000;
  }

  /** Starts tracking a channel (node subscribed). */
  track(channel: string): void {
    if (!this.channels.has(channel)) this.channels.set(channel, { epoch: null, offset: 0, filling: false, held: [] });
  }

  /** Sets the position delivery continues from, unless a message already did. */
  seed(channel: string, epoch: string, offset: number): void {
    const st = this.channels.get(channel);
    if (st && st.epoch === null && !st.filling) {
      st.epoch = epoch;
      st.offset = offset;
    }
  }

  untrack(channel: string): void {
    this.channels.delete(channel);
  }

  has(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** Tracked channels. */
  list(): string[] {
    return [...this.channels.keys()];
  }

  /** A live message from the wire. */
  receive(channel: string, epoch: string, pub: Publication): void {
    const st = this.channels.get(channel);
    if (!st) return;
    if (st.filling) {
      if (st.held.length < this.maxHeld) st.held.push({ epoch, pub });
      return;
    }
    if (st.epoch === null || epoch !== st.epoch) {
      // First message, or the stream was reset under us: the session compares epochs itself
      // and sends `unsub` with resubscribe when it differs from what it subscribed at.
      st.epoch = epoch;
      st.offset = pub.offset;
      this.o.deliver(channel, pub, epoch);
      return;
    }
    if (pub.offset <= st.offset) return;
    if (pub.offset === st.offset + 1) {
      st.offset = pub.offset;
      this.o.deliver(channel, pub, epoch);
      return;
    }
    st.held.push({ epoch, pub });
    void this.fill(channel, st);
  }

  /** Reads what was missed on every tracked channel (after a reconnect). */
  resyncAll(): void {
    for (const [channel, st] of this.channels) if (!st.filling && st.epoch !== null) void this.fill(channel, st);
  }

  private async fill(channel: string, st: ChannelState): Promise<void> {
    st.filling = true;
    try {
      for (let rounds = 0; rounds < 1_000_000; rounds++) {
        if (this.channels.get(channel) !== st) return;
        const epoch = st.epoch!;
        const startOffset = st.offset;
        const page = await this.o.history(channel, { since: { epoch, offset: st.offset }, limit: this.pageSize });
        if (this.channels.get(channel) !== st) return;
        const pubs = page.publications;
        if (page.position.epoch !== epoch) {
          this.resetTo(channel, st, page.position.epoch, page.position.offset);
        } else if (pubs.length > 0 && pubs[0]!.offset !== st.offset + 1) {
          // History was trimmed past what we delivered: the hole cannot be filled.
          this.resetTo(channel, st, epoch, pubs[0]!.offset - 1);
        } else if (pubs.length === 0 && page.position.offset > st.offset) {
          this.resetTo(channel, st, epoch, page.position.offset);
        }
        for (const p of pubs) {
          if (p.offset !== st.offset + 1) continue;
          st.offset = p.offset;
          this.o.deliver(channel, p, st.epoch!);
        }
        // Release held messages that now follow; stop if a hole remains that a further page may fill.
        st.held.sort((a, b) => a.pub.offset - b.pub.offset);
        while (st.held.length > 0) {
          const h = st.held[0]!;
          if (h.epoch !== st.epoch) {
            // Only a newer epoch than the one history showed can appear here; let receive() handle it.
            st.held.shift();
            if (h.epoch !== epoch) {
              st.epoch = h.epoch;
              st.offset = h.pub.offset;
              this.o.deliver(channel, h.pub, h.epoch);
            }
            continue;
          }
          if (h.pub.offset <= st.offset) {
            st.held.shift();
            continue;
          }
          if (h.pub.offset !== st.offset + 1) break;
          st.held.shift();
          st.offset = h.pub.offset;
          this.o.deliver(channel, h.pub, h.epoch);
        }
        if (pubs.length === 0 && st.offset === startOffset && st.epoch === epoch) {
          // Nothing to read, yet something held past a hole: it cannot be in history (a
          // message from the future does not exist), so it is stale. Never spin on it.
          st.held = [];
          break;
        }
        const more = pubs.length === this.pageSize || st.held.length > 0;
        if (!more) break;
      }
    } catch (err) {
      this.o.onError?.(channel, err);
    } finally {
      st.filling = false;
    }
  }

  private resetTo(channel: string, st: ChannelState, epoch: string, offset: number): void {
    st.epoch = epoch;
    st.offset = offset;
    st.held = st.held.filter((h) => h.epoch === epoch && h.pub.offset > offset);
    this.o.reset(channel);
  }
}
