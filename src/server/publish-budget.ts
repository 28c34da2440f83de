/**
 * Per-connection budget for the broker state a client's publishes leave behind (issue 11 C3).
 *
 * A publish with an idempotency key stores the key beside the channel for `idempotencyTtl`, and
 * the first publish to a channel creates its stream (epoch, top offset), kept for hours. Both are
 * keyed by names the client chooses, so without a bound one connection could fill the broker at
 * its command rate. Within any `idempotencyTtl` window a connection may use at most
 * `maxIdempotencyKeys` keys and publish to at most `maxPublishChannels` distinct channels; past
 * either, the publish is refused with 106 (limit exceeded) before anything reaches the broker.
 *
 * The budget lives beside the session (a WeakMap keyed by it) so the session needs no field for
 * it, and costs 8 bytes per outstanding key plus one map entry per recently published channel.
 */
import { ReplyError } from '../protocol/errors.ts';
import type { Session } from './session.ts';

/** Sliding-window counters of one connection. */
export class PublishBudget {
  /** Expiry times of the keys used, oldest first (times only: the broker holds the keys). */
  private keyExpiries: number[] = [];
  private keyHead = 0;
  /** Channel → when it leaves the window, in order of last publish (re-inserted on each one). */
  private readonly channels = new Map<string, number>();

  constructor(
    private readonly maxKeys: number,
    private readonly maxChannels: number,
    private readonly windowMs: number,
  ) {}

  /** Keys counted now. */
  get keys(): number {
    return this.keyExpiries.length - this.keyHead;
  }

  /** Channels counted now. */
  get channelCount(): number {
    return this.channels.size;
  }

  /**
   * Charges one publish to `channel` (with `key`, if given) at time `now`, or returns the
   * ReplyError 106 that refuses it (then nothing is charged).
   */
  charge(channel: string, key: string | undefined, now: number): ReplyError | null {
    this.expire(now);
    const newChannel = !this.channels.has(channel);
    if (newChannel && this.channels.size >= this.maxChannels) {
      return new ReplyError('limitExceeded', `at most ${this.maxChannels} distinct channels published per ${this.windowMs / 1000} s per connection`);
    }
    if (key !== undefined && this.keys >= this.maxKeys) {
      return new ReplyError('limitExceeded', `at most ${this.maxKeys} idempotency keys per ${this.windowMs / 1000} s per connection`);
    }
    const until = now + this.windowMs;
    if (!newChannel) this.channels.delete(channel);
    this.channels.set(channel, until);
    if (key !== undefined) this.keyExpiries.push(until);
    return null;
  }

  private expire(now: number): void {
    const e = this.keyExpiries;
    while (this.keyHead < e.length && e[this.keyHead]! <= now) this.keyHead++;
    if (this.keyHead > 64 && this.keyHead * 2 > e.length) {
      this.keyExpiries = e.slice(this.keyHead);
      this.keyHead = 0;
    }
    for (const [ch, until] of this.channels) {
      if (until > now) break;
      this.channels.delete(ch);
    }
  }
}

const budgets = new WeakMap<Session, PublishBudget>();

/** The session's budget, created on first use. */
export function publishBudget(s: Session): PublishBudget {
  let b = budgets.get(s);
  if (!b) {
    const o = s.ctx.options;
    b = new PublishBudget(o.maxIdempotencyKeys, o.maxPublishChannels, o.idempotencyTtl * 1000);
    budgets.set(s, b);
  }
  return b;
}

/** Charges a client publish to its connection's budget; throws ReplyError 106 past it. */
export function chargePublish(s: Session, channel: string, key: string | undefined): void {
  const refused = publishBudget(s).charge(channel, key, s.ctx.clock.now());
  if (refused) throw refused;
}
