/**
 * The long-polling delivery state machine: frames queue until a poll takes them as a numbered
 * batch; the batch stays "unacknowledged" until a later poll carries `ack=<its seq>`, and every
 * poll before that gets the very same batch again (same seq, same bytes). Only then is the next
 * batch cut. So a response lost on the way (or overtaken by a concurrent poll) is redelivered,
 * and a client that processes each seq once gets every frame exactly once, in order.
 *
 * Batches are immutable once cut: if a redelivery could grow, a client that got the first copy
 * late would miss what the second added. Pure: no I/O, no timers.
 */
import { batchBody } from './format.ts';

export interface Batch {
  readonly seq: number;
  /** The whole response body, `{"seq":N,"frames":[…]}`. */
  readonly body: Buffer;
}

export class BatchQueue {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private unacked: Batch | null = null;
  /** Seq of the newest batch cut (0 before the first). */
  private seq = 0;

  /** Seq of the newest batch the client acknowledged. */
  get acked(): number {
    return this.unacked ? this.seq - 1 : this.seq;
  }

  /** Bytes held for the client: queued frames plus the unacknowledged batch. */
  get bytes(): number {
    return this.pendingBytes + (this.unacked?.body.length ?? 0);
  }

  /** Whether nothing is queued or waiting for an ack. */
  get empty(): boolean {
    return this.unacked === null && this.pending.length === 0;
  }

  push(frames: readonly Buffer[]): void {
    for (const f of frames) {
      this.pending.push(f);
      this.pendingBytes += f.length;
    }
  }

  /**
   * Applies a poll's `ack` (the seq of the newest batch the client processed). An ack below the
   * unacknowledged batch leaves it for redelivery. Returns false when `ack` is ahead of every
   * batch cut (a client bug, or another session's numbers).
   */
  ack(n: number): boolean {
    if (n > this.seq) return false;
    if (this.unacked && n >= this.unacked.seq) this.unacked = null;
    return true;
  }

  /** The batch to answer a poll with: the unacknowledged one again, else a new one, else null. */
  next(): Batch | null {
    if (this.unacked) return this.unacked;
    if (this.pending.length === 0) return null;
    const b: Batch = { seq: ++this.seq, body: batchBody(this.seq, this.pending) };
    this.pending = [];
    this.pendingBytes = 0;
    this.unacked = b;
    return b;
  }

  clear(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.unacked = null;
  }
}
