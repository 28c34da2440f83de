/**
 * One channel's presence for the memory broker: O(1) add, remove and counts (clients and distinct
 * users), and member pages in join order from a cursor in O(log n + page).
 *
 * Join order is kept as two parallel arrays (member, join sequence) with tombstones: a member that
 * leaves leaves a hole, and the arrays are compacted once holes outnumber members, so every
 * operation is amortised O(1) apart from the binary search that finds a cursor. A refresh keeps the
 * member's place; a member that leaves and joins again moves to the end. The Redis broker keeps the
 * same order with a sorted set scored by a join counter, so the cursor means the same thing.
 *
 * Expired members (a node that stopped refreshing) are dropped by `sweep`, which also runs before a
 * count whenever the earliest expiry may have passed: after a sweep the earliest expiry is exact, and
 * live members refresh every third of their TTL, so a full sweep runs at most about once per TTL.
 */
import type { ClientInfo } from '../protocol/frames.ts';
import type { PresencePage } from './broker.ts';

interface Member {
  info: ClientInfo;
  expireAt: number;
  /** Join sequence, also the member's cursor. */
  seq: number;
  /** Index in `order`/`seqs`, valid until the next compaction (which rewrites it). */
  slot: number;
}

export class PresenceSet {
  private readonly members = new Map<string, Member>();
  private readonly users = new Map<string, number>();
  /** Join order; `undefined` marks a member that left. */
  private order: Array<string | undefined> = [];
  /** Join sequence per slot of `order`, strictly increasing. */
  private seqs: number[] = [];
  private holes = 0;
  private nextSeq = 1;
  /** No member expires before this (a lower bound, exact right after a sweep). */
  private earliestExpiry = Infinity;

  get size(): number {
    return this.members.size;
  }

  add(clientId: string, info: ClientInfo, expireAt: number): void {
    const m = this.members.get(clientId);
    if (m) {
      m.expireAt = expireAt;
      if (m.info.user !== info.user) {
        this.dropUser(m.info.user);
        this.addUser(info.user);
      }
      m.info = info;
    } else {
      const seq = this.nextSeq++;
      this.members.set(clientId, { info, expireAt, seq, slot: this.order.length });
      this.order.push(clientId);
      this.seqs.push(seq);
      this.addUser(info.user);
    }
    if (expireAt < this.earliestExpiry) this.earliestExpiry = expireAt;
  }

  remove(clientId: string): boolean {
    const m = this.members.get(clientId);
    if (!m) return false;
    this.members.delete(clientId);
    this.dropUser(m.info.user);
    this.order[m.slot] = undefined;
    if (++this.holes > 32 && this.holes > this.members.size) this.compact();
    return true;
  }

  /** Live clients and distinct users, O(1) unless the earliest expiry has passed. */
  stats(now: number): { clients: number; users: number } {
    if (now >= this.earliestExpiry) this.sweep(now);
    return { clients: this.members.size, users: this.users.size };
  }

  /** Up to `limit` live members whose join sequence is above `after`, in join order. */
  page(now: number, after: number, limit: number): PresencePage {
    const clients: Record<string, ClientInfo> = {};
    let i = this.firstAfter(after);
    let n = 0;
    let last = 0;
    for (; i < this.order.length; i++) {
      const id = this.order[i];
      if (id === undefined) continue;
      const m = this.members.get(id)!;
      if (m.expireAt <= now) continue;
      if (n === limit) return { clients, cursor: String(last) };
      clients[id] = m.info;
      last = m.seq;
      n++;
    }
    return { clients };
  }

  /** Every live member. */
  all(now: number): Record<string, ClientInfo> {
    const out: Record<string, ClientInfo> = {};
    for (const [id, m] of this.members) if (m.expireAt > now) out[id] = m.info;
    return out;
  }

  /** Drops expired members and makes `earliestExpiry` exact. */
  sweep(now: number): void {
    let earliest = Infinity;
    for (const [id, m] of this.members) {
      if (m.expireAt <= now) this.remove(id);
      else if (m.expireAt < earliest) earliest = m.expireAt;
    }
    this.earliestExpiry = earliest;
  }

  private firstAfter(seq: number): number {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid]! <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private compact(): void {
    const order: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < this.order.length; i++) {
      const id = this.order[i];
      if (id === undefined) continue;
      this.members.get(id)!.slot = order.length;
      order.push(id);
      seqs.push(this.seqs[i]!);
    }
    this.order = order;
    this.seqs = seqs;
    this.holes = 0;
  }

  private addUser(user: string): void {
    this.users.set(user, (this.users.get(user) ?? 0) + 1);
  }

  private dropUser(user: string): void {
    const n = (this.users.get(user) ?? 1) - 1;
    if (n <= 0) this.users.delete(user);
    else this.users.set(user, n);
  }
}
