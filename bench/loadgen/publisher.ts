/**
 * The single publisher: one raw WebSocket connection that either floods (as fast as the server
 * acknowledges, with a window of unacknowledged publishes so the server can batch) or publishes at
 * a fixed rate. Every payload carries its send time.
 */
import type { RawWebSocket } from './connection.ts';
import { openClient, type ClientTarget } from './client.ts';
import type { Dialect } from './dialect.ts';
import { textFrame } from './frame.ts';
import { makePayload, nowMicros } from './payload.ts';

/** How long to wait for outstanding acks after the last publish. */
const ACK_DRAIN_US = 10_000_000;

export interface FloodOptions {
  /** Stop publishing after this many milliseconds. */
  durationMs: number;
  /** Unacknowledged publishes allowed in flight. @default 256 */
  window?: number;
  /**
   * Flow control on delivery, not just on acks: the publisher stays at most this far ahead of
   * what every subscriber has received, in time: about as many publishes as the system delivered
   * in the last `aheadMs` (at least `minAhead`). Without it a server that acks before delivering
   * (socket.io, the ws baseline) would queue an unbounded backlog, and a fixed bound in messages
   * would be seconds of backlog for a slow system but too little to keep a fast one busy.
   * @default 250
   */
  aheadMs?: number;
  /** @default 32 */
  minAhead?: number;
  /** Publishes delivered to each subscriber so far (fed by the workers' progress reports). */
  deliveredPerSubscriber: () => number;
}

export interface PublishStats {
  published: number;
  acked: number;
  startUs: number;
  endUs: number;
  problems: string[];
}

export class Publisher {
  private nextId = 1;
  private acked = 0;
  private published = 0;
  private problems: string[] = [];
  private onAck: (() => void) | null = null;

  private constructor(
    private readonly dialect: Dialect,
    private ws: RawWebSocket | null,
  ) {}

  static async open(dialect: Dialect, target: ClientTarget): Promise<Publisher> {
    const p = new Publisher(dialect, null);
    p.ws = await openClient(dialect, 'publisher', target, {
      acked: (n) => {
        p.acked += n;
        p.onAck?.();
      },
      problem: (m) => {
        if (p.problems.length < 5) p.problems.push(m);
      },
      lost: (reason) => {
        if (p.problems.length < 5) p.problems.push(`publisher lost: ${reason}`);
        p.onAck?.();
      },
    });
    return p;
  }

  private frame(): Buffer {
    this.published++;
    return textFrame(this.dialect.publish(this.nextId++, makePayload(nowMicros())));
  }

  private reset(): void {
    this.acked = 0;
    this.published = 0;
    this.problems = [];
  }

  /** Publishes as fast as acks and delivery allow for `durationMs`; resolves when all are acked. */
  flood(o: FloodOptions): Promise<PublishStats> {
    this.reset();
    const window = o.window ?? 256;
    const aheadUs = (o.aheadMs ?? 250) * 1000;
    const minAhead = o.minAhead ?? 32;
    const startUs = nowMicros();
    // (time, delivered per subscriber) samples covering the last aheadMs.
    const history: Array<[number, number]> = [];
    const deadline = startUs + o.durationMs * 1000;
    return new Promise((resolve) => {
      let stopped = false;
      let endUs = 0;
      let scheduled = false;
      const finish = (): void => {
        const drained = this.acked >= this.published || !this.ws?.isOpen;
        if (!drained && nowMicros() - endUs < ACK_DRAIN_US) return;
        if (!drained) this.problems.push(`${this.published - this.acked} publishes never acknowledged`);
        clearInterval(poll);
        this.onAck = null;
        resolve({ published: this.published, acked: this.acked, startUs, endUs, problems: this.problems });
      };
      const pump = (): void => {
        if (stopped) return finish();
        const now = nowMicros();
        if (now >= deadline || !this.ws?.isOpen) {
          stopped = true;
          endUs = now;
          return finish();
        }
        const frames: Buffer[] = [];
        const delivered = o.deliveredPerSubscriber();
        history.push([now, delivered]);
        while (history.length > 1 && history[0]![0] < now - aheadUs) history.shift();
        const recent = delivered - history[0]![1];
        const maxAhead = Math.max(minAhead, recent);
        let budget = Math.min(window - (this.published - this.acked), maxAhead - (this.published - delivered));
        while (budget-- > 0) frames.push(this.frame());
        if (frames.length > 0) this.ws.sendFrames(frames);
      };
      // Acks arrive one by one from a read: publish once per batch of acks, not once per ack.
      this.onAck = () => {
        if (scheduled) return;
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          pump();
        });
      };
      // Progress from the workers arrives asynchronously: re-check the delivery budget regularly.
      const poll = setInterval(pump, 2);
      pump();
    });
  }

  /** Publishes `ratePerSec` messages a second for `durationMs`, on schedule (catching up if late). */
  paced(ratePerSec: number, durationMs: number): Promise<PublishStats> {
    this.reset();
    const startUs = nowMicros();
    const total = Math.max(1, Math.round((ratePerSec * durationMs) / 1000));
    const intervalUs = 1e6 / ratePerSec;
    return new Promise((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor((nowMicros() - startUs) / intervalUs) + 1);
        const frames: Buffer[] = [];
        while (this.published < due) frames.push(this.frame());
        if (frames.length > 0) this.ws?.sendFrames(frames);
        if (this.published >= total || !this.ws?.isOpen) {
          const endUs = nowMicros();
          const wait = (): void => {
            const drained = this.acked >= this.published || !this.ws?.isOpen;
            if (drained || nowMicros() - endUs > ACK_DRAIN_US) {
              if (!drained) this.problems.push(`${this.published - this.acked} publishes never acknowledged`);
              resolve({ published: this.published, acked: this.acked, startUs, endUs, problems: this.problems });
            } else setTimeout(wait, 5);
          };
          return wait();
        }
        const nextUs = startUs + this.published * intervalUs;
        setTimeout(tick, Math.max(0, (nextUs - nowMicros()) / 1000));
      };
      tick();
    });
  }

  close(): void {
    this.ws?.close();
  }
}
