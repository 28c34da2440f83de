/**
 * Exactly-once, in-order delivery per channel: the client's half of docs/protocol.md "Positions".
 * Pure: feed it positions, it says deliver or drop and reports every range the app did not get.
 *
 * Rules (the protocol guarantees offsets 1, 2, 3, … per epoch with no holes):
 * - a `pub` whose offset is ≤ the last processed one is a duplicate (recovery overlap): drop it;
 * - offset = last + 1: deliver;
 * - offset > last + 1 without a `gap` push before it: deliver, and report the hole (`jump`);
 * - another epoch: the stream was reset (history lost); deliver, report `epoch-changed`;
 * - a `gap` push `from..to`: report the part not yet processed and move past it, so the next
 *   `pub` (to + 1) is not reported a second time as a jump.
 */
import type { StreamPosition } from '../protocol/frames.ts';

/** Why publications were missed. */
export type GapReason =
  /** The server could not recover from our position (`recovered: false` or no recovery asked). */
  | 'not-recovered'
  /**
   * A `gap` push: the server skipped these (lossy namespace under backpressure); fetch them from
   * history. Also a hole before a datagram publication (`u: true`): datagrams lost on the way.
   */
  | 'gap'
  /** Offsets jumped by more than one without a gap push. */
  | 'jump'
  /** The stream's epoch changed: its history was lost. */
  | 'epoch-changed';

/** A range the app did not receive. `from`/`to` are inclusive and absent when unknown. */
export interface Gap {
  reason: GapReason;
  epoch: string;
  from?: number;
  to?: number;
}

export type Verdict = { deliver: false } | { deliver: true; gap?: Gap };

export class StreamTracker {
  private pos: StreamPosition | undefined;

  constructor(position?: StreamPosition) {
    if (position) this.pos = { ...position };
  }

  /** The last processed position, if any. */
  get position(): StreamPosition | undefined {
    return this.pos ? { ...this.pos } : undefined;
  }

  /** Sets the position (subscribe reply without recovery: the stream top). */
  reset(position: StreamPosition): void {
    this.pos = { ...position };
  }

  /** Classifies a publication `(epoch, offset)` and, when delivered, advances to it. */
  accept(epoch: string, offset: number): Verdict {
    const pos = this.pos;
    if (!pos) {
      this.pos = { epoch, offset };
      return { deliver: true };
    }
    if (epoch !== pos.epoch) {
      this.pos = { epoch, offset };
      const gap: Gap = { reason: 'epoch-changed', epoch };
      if (offset > 1) {
        gap.from = 1;
        gap.to = offset - 1;
      }
      return { deliver: true, gap };
    }
    if (offset <= pos.offset) return { deliver: false };
    const last = pos.offset;
    pos.offset = offset;
    if (offset > last + 1) return { deliver: true, gap: { reason: 'jump', epoch, from: last + 1, to: offset - 1 } };
    return { deliver: true };
  }

  /**
   * A server `gap` push. Returns the part of `from..to` not already processed (or reported), or
   * undefined when nothing is new; advances past `to`.
   */
  skipRange(epoch: string, from: number, to: number): Gap | undefined {
    const pos = this.pos;
    if (!pos || pos.epoch !== epoch) {
      this.pos = { epoch, offset: to };
      return { reason: 'gap', epoch, from, to };
    }
    const start = Math.max(from, pos.offset + 1);
    if (start > to) return undefined;
    pos.offset = to;
    return { reason: 'gap', epoch, from: start, to };
  }

  /**
   * A resubscribe that did not recover (`recovered: false`, or recovery off) landed on `top`.
   * Returns what was lost: the range when the epoch is the same; after an epoch change, the new
   * epoch's offsets 1…top (the old epoch's tail is unknown).
   */
  lost(top: StreamPosition): Gap | undefined {
    const pos = this.pos;
    this.pos = { ...top };
    if (!pos || pos.epoch !== top.epoch) {
      // The old stream is gone (its tail cannot be named); of the new one, everything up to the
      // top was missed.
      const gap: Gap = { reason: 'not-recovered', epoch: top.epoch };
      if (pos && top.offset >= 1) {
        gap.from = 1;
        gap.to = top.offset;
      }
      return gap;
    }
    if (top.offset <= pos.offset) return { reason: 'not-recovered', epoch: top.epoch };
    return { reason: 'not-recovered', epoch: top.epoch, from: pos.offset + 1, to: top.offset };
  }
}
