/**
 * Publishing one batch of stream inputs (Redis Streams, JetStream): one channel's inputs one
 * after the other in source order, different channels in parallel, each with its source-derived
 * idempotency key. After a channel's first temporary failure (Switchboard's broker down, 114) the
 * rest of that channel is not tried, so nothing later in a channel is ever stored ahead of an
 * earlier input that has to be retried.
 */
import type { NodeCore } from '../server/core.ts';
import { isPermanent, PoisonError, poisonFromReply } from './input.ts';

/** One input ready to publish; `ref` is the source's handle (entry id, message). */
export interface Prepared<R> {
  readonly ref: R;
  readonly channel: string;
  readonly data: unknown;
  readonly key: string;
}

/** What became of a batch: stored (ack these), refused for good (dead-letter these), not stored (retry these). */
export interface Outcome<R> {
  readonly done: R[];
  readonly dead: { ref: R; err: PoisonError }[];
  readonly retry: R[];
  /** The first temporary failure, if any. */
  readonly failure: Error | null;
}

export async function deliverBatch<R>(node: NodeCore, items: readonly Prepared<R>[]): Promise<Outcome<R>> {
  const out: { done: R[]; dead: { ref: R; err: PoisonError }[]; retry: R[]; failure: Error | null } = { done: [], dead: [], retry: [], failure: null };
  const byChannel = new Map<string, Prepared<R>[]>();
  for (const it of items) {
    const list = byChannel.get(it.channel);
    if (list) list.push(it);
    else byChannel.set(it.channel, [it]);
  }
  await Promise.all(
    [...byChannel.values()].map(async (list) => {
      for (let i = 0; i < list.length; i++) {
        const it = list[i]!;
        // A failure on another channel means the broker is likely down: do not pile on.
        if (out.failure !== null && !node.broker.connected) {
          for (const rest of list.slice(i)) out.retry.push(rest.ref);
          return;
        }
        try {
          await node.publish(it.channel, it.data, { idempotencyKey: it.key });
          out.done.push(it.ref);
        } catch (err) {
          if (isPermanent(err)) {
            out.dead.push({ ref: it.ref, err: poisonFromReply(err) });
            continue;
          }
          out.failure ??= err as Error;
          for (const rest of list.slice(i)) out.retry.push(rest.ref);
          return;
        }
      }
    }),
  );
  return out;
}

/** Background renewal of a lease; `lost` turns true when a renewal fails or finds the lease taken. */
export class LeaseKeeper {
  lost = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly renew: () => Promise<boolean>,
    private readonly everyMs: number,
    private readonly onLost: (why: string) => void,
  ) {}

  start(): void {
    const tick = () => {
      this.renew().then(
        (ok) => {
          if (!ok) this.lose('the lease was taken or expired');
          else if (!this.lost && this.timer) this.timer = setTimeout(tick, this.everyMs).unref();
        },
        (err: unknown) => this.lose(`renewal failed: ${(err as Error).message}`),
      );
    };
    this.timer = setTimeout(tick, this.everyMs).unref();
  }

  private lose(why: string): void {
    if (this.lost) return;
    this.lost = true;
    this.onLost(why);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
