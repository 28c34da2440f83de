/**
 * The client's subscriptions, one per channel: (re)subscribing on each connection with recovery
 * positions, retrying a subscribe the server refused for a while (temporary error, expired token)
 * with backoff, unsubscribing, and routing the channel pushes (`pub`, `join`, `leave`, `gap`,
 * `unsub`) to their Subscription. The Subscription (subscription.ts) keeps a channel's own state.
 */
import type { ServerFrame } from '../protocol/frames.ts';
import type { TimerHandle } from '../util/clock.ts';
import { backoffDelay } from './backoff.ts';
import type { CommandChannel } from './commands.ts';
import { ServerError, TimeoutError, toError } from './errors.ts';
import type { ClientErrorEvent } from './events.ts';
import type { ClientOptions } from './options.ts';
import type { Subscription } from './subscription.ts';

/** What the registry needs from its Client. */
export interface RegistryHost {
  /** The connection generation: replies to a subscribe sent on an older connection are ignored. */
  generation(): number;
  connected(): boolean;
  /** The commands of the current connection. */
  commands(): CommandChannel;
  /** A reply that breaks the protocol: end connection `gen`. */
  protocolFailure(gen: number, err: Error): void;
  /** A subscribe got no reply within `timeout`: connection `gen` is taken as lost (LocalDisconnect.subscribeTimeout). */
  subscribeTimedOut(gen: number): void;
  /** Whether a fresh token can be had (getToken), and getting one (single flight, sent as `refresh`). */
  canRefreshToken(): boolean;
  refreshToken(): void;
  emitError(event: ClientErrorEvent): void;
}

const IGNORE = { ok: () => {}, err: () => {}, lost: () => {} };

export class SubscriptionRegistry {
  private readonly subs = new Map<string, Subscription>();
  private readonly retryTimers = new Set<TimerHandle>();

  constructor(
    private readonly host: RegistryHost,
    private readonly options: Readonly<ClientOptions>,
  ) {}

  get(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  has(channel: string): boolean {
    return this.subs.has(channel);
  }

  values(): IterableIterator<Subscription> {
    return this.subs.values();
  }

  channels(): IterableIterator<string> {
    return this.subs.keys();
  }

  /** Adds `sub` (the caller checked the channel is free) and subscribes at once when connected. */
  add(sub: Subscription): void {
    this.subs.set(sub.channel, sub);
    if (this.host.connected()) this.send(sub);
  }

  /** Whether every subscription is subscribed on the current connection (none is (re)subscribing). */
  allSubscribed(): boolean {
    for (const s of this.subs.values()) if (s.state !== 'subscribed') return false;
    return true;
  }

  /** Sends `sub`'s subscribe (with its recovery position) on the current connection. */
  send(sub: Subscription): void {
    const host = this.host;
    const gen = host.generation();
    const frame = sub._subscribeFrame();
    const askedRecovery = frame.recover !== undefined;
    const current = (): boolean => gen === host.generation() && this.subs.get(sub.channel) === sub;
    host.commands().send(frame as unknown as Record<string, unknown>, {
      ok: (reply) => {
        if (!current()) return;
        try {
          sub._onSubscribeReply(reply, askedRecovery);
        } catch (err) {
          host.protocolFailure(gen, toError(err));
        }
      },
      err: (err) => {
        if (current()) this.onError(gen, sub, err);
      },
      lost: () => {}, // resubscribed on the next connection
    });
  }

  private onError(gen: number, sub: Subscription, err: Error): void {
    const host = this.host;
    if (err instanceof TimeoutError) {
      host.subscribeTimedOut(gen);
      return;
    }
    const tokenExpired = err instanceof ServerError && err.code === 109 && host.canRefreshToken();
    if (err instanceof ServerError && (err.temporary || tokenExpired)) {
      if (tokenExpired) host.refreshToken();
      const timer = this.options.clock.setTimeout(() => {
        this.retryTimers.delete(timer);
        if (gen === host.generation() && this.subs.get(sub.channel) === sub) this.send(sub);
      }, backoffDelay(sub._attempts++, this.options, this.options.random, 100));
      this.retryTimers.add(timer);
      return;
    }
    this.subs.delete(sub.channel);
    host.emitError({ type: 'subscribe', error: err, channel: sub.channel });
    sub._fail(err);
  }

  /** `sub.unsubscribe()`: forgets it and, when connected, unsubscribes on the server. */
  remove(sub: Subscription): void {
    if (this.subs.get(sub.channel) !== sub) return;
    this.subs.delete(sub.channel);
    if (this.host.connected()) this.host.commands().send({ t: 'unsub', ch: sub.channel }, IGNORE);
  }

  /** Stops the pending subscribe retries (their connection is gone or replaced). */
  cancelRetries(): void {
    for (const timer of this.retryTimers) this.options.clock.clearTimeout(timer);
    this.retryTimers.clear();
  }

  /** The connection ended: every subscription waits to be resubscribed. */
  connectionLost(): void {
    for (const sub of this.subs.values()) sub._onConnectionLost();
  }

  /** The client closed: every subscription ends. */
  endAll(reason: string): void {
    for (const sub of [...this.subs.values()]) sub._ended(0, reason);
    this.subs.clear();
  }

  /** Routes a channel push to its subscription; false for frames that are not channel pushes. */
  onPush(f: ServerFrame): boolean {
    switch (f.t) {
      case 'pub':
        this.subs.get(f.ch)?._onPub(f);
        return true;
      case 'join':
        this.subs.get(f.ch)?._onJoin(f.info);
        return true;
      case 'leave':
        this.subs.get(f.ch)?._onLeave(f.info);
        return true;
      case 'gap':
        this.subs.get(f.ch)?._onGapPush(f.e, f.from, f.to);
        return true;
      case 'unsub': {
        const sub = this.subs.get(f.ch);
        if (!sub) return true;
        if (f.resubscribe) {
          sub._onConnectionLost();
          if (this.host.connected()) this.send(sub);
        } else {
          this.subs.delete(f.ch);
          sub._ended(f.code, f.reason);
        }
        return true;
      }
      default:
        return false;
    }
  }
}
