/**
 * One channel subscription: its state, its position (exactly-once delivery via
 * {@link StreamTracker}), and the app's callbacks. The Client owns the connection and calls the
 * `_on…` methods; the app sees `publish`, `presence`, `history`, `unsubscribe` and `position`.
 */
import type { ClientInfo, PubPush, StreamPosition, SubscribeCommand } from '../protocol/frames.ts';
import { safeCall } from './emitter.ts';
import { replyPosition, replyPubs } from './inbound.ts';
import { StreamTracker, type Gap } from './position.ts';
import type { SignalEvent } from './signal.ts';

export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed';

/** A publication delivered to the app. */
export interface Publication {
  channel: string;
  data: unknown;
  epoch: string;
  offset: number;
  /** Who published it, when a client did. */
  info?: ClientInfo;
}

/** Publications the app did not receive. Every gap is reported; nothing is skipped silently. */
export interface GapEvent extends Gap {
  channel: string;
  /** Always false: these publications were not delivered (fetch them with `history` if needed). */
  recovered: false;
}

export interface SubscribedEvent {
  channel: string;
  /** The stream top when the subscription (re)started. */
  epoch: string;
  offset: number;
  /** Whether the namespace keeps history that can be recovered from. */
  recoverable: boolean;
  /** Whether this (re)subscribe asked the server to recover from a position (`recover` and a known position, or `since`). */
  wasRecovering: boolean;
  /**
   * Present when `wasRecovering`: whether every missed publication follows. The replayed
   * publications are delivered right after this event, in offset order, then live ones; when
   * false, the `onGap` for the lost range follows instead.
   */
  recovered?: boolean;
  /** True after the first subscribe (a reconnect or a server `unsub` with `resubscribe`). */
  resubscribed: boolean;
}

export interface UnsubscribedEvent {
  channel: string;
  /** The server's code, or 0 when the app called `unsubscribe()` / `close()`. */
  code: number;
  reason: string;
}

export interface SubscriptionOptions {
  /** Each publication, exactly once and in offset order. */
  onPublication?: (pub: Publication) => void;
  /** A client joined the channel (namespaces with join/leave on). */
  onJoin?: (info: ClientInfo) => void;
  /** A client left the channel. */
  onLeave?: (info: ClientInfo) => void;
  /** Publications were missed: recovery failed, a `gap` push, an offset jump, or an epoch change. */
  onGap?: (gap: GapEvent) => void;
  /**
   * The subscription became active (also after each resubscribe). Fires before anything the
   * (re)subscribe brings: replayed publications (`recovered: true`) or the `onGap` of what was lost
   * follow it, so an app may reset its view here without wiping the replay.
   */
  onSubscribed?: (ev: SubscribedEvent) => void;
  /** The subscription ended for good (app, server, or client close). */
  onUnsubscribed?: (ev: UnsubscribedEvent) => void;
  /** The subscription failed (permanent server error) or a callback threw. */
  onError?: (err: Error) => void;
  /** A WebRTC signal from another member (signaling namespaces only; see `client.signal`). */
  onSignal?: (ev: SignalEvent) => void;
  /** Resubscribe from the last position so missed publications are replayed. @default true */
  recover?: boolean;
  /** Start from this position (e.g. one saved by the app), recovering what came after it. @default undefined */
  since?: StreamPosition;
}

/** One page of a channel's members (Subscription.presencePage). */
export interface PresencePage {
  clients: Record<string, ClientInfo>;
  /** Pass back for the next page; absent on the last page. */
  cursor?: string;
}

export interface HistoryOptions {
  /** Most publications returned (server default 100, cap 1000; 0 returns only the position). */
  limit?: number;
  /** Only publications after this position. */
  since?: StreamPosition;
  /** Newest first. @default false */
  reverse?: boolean;
}

export interface HistoryResult {
  epoch: string;
  offset: number;
  publications: Publication[];
}

/** What a Subscription needs from its Client. Internal. */
export interface SubscriptionHost {
  publish(channel: string, data: unknown, opts?: { key?: string }): Promise<StreamPosition>;
  request(frame: Record<string, unknown>): Promise<Record<string, unknown>>;
  removeSubscription(sub: Subscription): void;
  emitPublication(pub: Publication): void;
  emitGap(gap: GapEvent): void;
  reportCallbackError(err: unknown, channel: string): void;
}

export class Subscription {
  private _state: SubscriptionState = 'subscribing';
  private readonly tracker: StreamTracker;
  /** Publications that arrived while the (re)subscribe was in flight; applied after the reply. */
  private held: PubPush[] = [];
  private everSubscribed = false;
  /** Consecutive temporary subscribe failures (backoff). Internal. */
  _attempts = 0;
  /** Pending retry timer. Internal. */
  _retryTimer: unknown;

  /** @internal Use `client.subscribe()`. */
  constructor(
    private readonly host: SubscriptionHost,
    readonly channel: string,
    private readonly options: SubscriptionOptions = {},
  ) {
    this.tracker = new StreamTracker(options.since);
  }

  get state(): SubscriptionState {
    return this._state;
  }

  /** The last processed position, or undefined before the first subscribe reply. */
  get position(): StreamPosition | undefined {
    return this.tracker.position;
  }

  /**
   * Publishes to this channel (also while offline: queued, see `maxOfflineQueue`). Resolves with
   * the publication's position once the server has stored it.
   */
  publish(data: unknown, opts: { key?: string } = {}): Promise<StreamPosition> {
    return this.host.publish(this.channel, data, opts);
  }

  /**
   * Every client present in the channel, keyed by client id (reads page after page; for channels
   * with many members prefer {@link presencePage} or {@link presenceStats}).
   */
  async presence(): Promise<Record<string, ClientInfo>> {
    const all: Record<string, ClientInfo> = {};
    let cursor: string | undefined;
    do {
      const page: PresencePage = await this.presencePage(cursor === undefined ? {} : { cursor });
      Object.assign(all, page.clients);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return all;
  }

  /**
   * One page of members in join order: up to `limit` (the server caps it at 1,000) after `cursor`.
   * `cursor` in the result is absent on the last page. A member present for the whole walk is
   * listed exactly once.
   */
  async presencePage(opts: { cursor?: string; limit?: number } = {}): Promise<PresencePage> {
    const frame: Record<string, unknown> = { t: 'presence', ch: this.channel };
    if (opts.limit !== undefined) frame.limit = opts.limit;
    if (opts.cursor !== undefined) frame.cursor = opts.cursor;
    const reply = await this.host.request(frame);
    const p = reply.presence;
    const clients = typeof p === 'object' && p !== null ? (p as Record<string, ClientInfo>) : {};
    return typeof reply.cursor === 'string' ? { clients, cursor: reply.cursor } : { clients };
  }

  /** Number of clients and of distinct users present (cheap at any size). */
  async presenceStats(): Promise<{ clients: number; users: number }> {
    const reply = await this.host.request({ t: 'presence_stats', ch: this.channel });
    return { clients: Number(reply.clients ?? 0), users: Number(reply.users ?? 0) };
  }

  /**
   * Reads the channel's history (docs/protocol.md "history"). Rejects with a ServerError 106 when
   * one page would be larger than the connection's outbound budget (docs/protocol.md "Outbound
   * budget"): ask for a smaller `limit` and page on with `since` = the last publication's position.
   */
  async history(opts: HistoryOptions = {}): Promise<HistoryResult> {
    const frame: Record<string, unknown> = { t: 'history', ch: this.channel };
    if (opts.limit !== undefined) frame.limit = opts.limit;
    if (opts.since !== undefined) frame.since = { epoch: opts.since.epoch, offset: opts.since.offset };
    if (opts.reverse !== undefined) frame.reverse = opts.reverse;
    const reply = await this.host.request(frame);
    const pos = replyPosition(reply, 'history');
    const publications = replyPubs(reply).map((p) => this.toPublication(pos.epoch, p));
    return { epoch: pos.epoch, offset: pos.offset, publications };
  }

  /** Ends the subscription. Idempotent. */
  unsubscribe(): void {
    if (this._state === 'unsubscribed') return;
    this.host.removeSubscription(this);
    this._ended(0, 'unsubscribe called');
  }

  // ---- called by the Client ------------------------------------------------------------------

  /** The `sub` command to send now (with `recover` when there is a position to recover from). */
  _subscribeFrame(): Omit<SubscribeCommand, 'id'> {
    this._state = 'subscribing';
    this.held = [];
    const frame: Omit<SubscribeCommand, 'id'> = { t: 'sub', ch: this.channel };
    const pos = this.tracker.position;
    if (pos && this.options.recover !== false) frame.recover = pos;
    return frame;
  }

  /**
   * The `sub` command for an upgrade probe (a second connection opened beside the current one):
   * recovers from the current position, and leaves this subscription's state alone, because the
   * current connection keeps delivering until the switch.
   */
  _probeFrame(): Omit<SubscribeCommand, 'id'> {
    const frame: Omit<SubscribeCommand, 'id'> = { t: 'sub', ch: this.channel };
    const pos = this.tracker.position;
    if (pos) frame.recover = pos;
    return frame;
  }

  /**
   * The probe's subscribe reply, applied at the switch, after everything the old connection
   * delivered. Recovered publications go through the offset check, so the overlap with what the
   * old connection already delivered is dropped: exactly once. Without recovery (a namespace
   * without history), only a real hole between the old connection's last offset and the new
   * stream's start is reported. Throws ProtocolError on a malformed reply.
   */
  _onUpgradeReply(reply: Record<string, unknown>): void {
    const top = replyPosition(reply, 'sub');
    const ev: SubscribedEvent = { channel: this.channel, epoch: top.epoch, offset: top.offset, recoverable: reply.recoverable === true, resubscribed: true, wasRecovering: reply.recovered !== undefined };
    if (reply.recovered !== undefined) ev.recovered = reply.recovered === true;
    // As on a resubscribe: the event first, then the publications (or the gap) it introduces.
    this._state = 'subscribed';
    safeCall(this.options.onSubscribed, ev, (e) => this.callbackError(e));
    if (this._state !== 'subscribed') return; // the callback unsubscribed
    if (reply.recovered === true) {
      for (const p of replyPubs(reply)) this.deliver(top.epoch, p);
    } else {
      const pos = this.tracker.position;
      const covered = pos !== undefined && pos.epoch === top.epoch && pos.offset >= top.offset;
      if (!covered) {
        const gap = this.tracker.lost(top);
        if (gap) this.reportGap(gap);
      }
    }
  }

  /** The subscribe reply. Throws ProtocolError on a malformed reply. */
  _onSubscribeReply(reply: Record<string, unknown>, askedRecovery: boolean): void {
    const top = replyPosition(reply, 'sub');
    const pubs = replyPubs(reply);
    const resubscribed = this.everSubscribed;
    this._state = 'subscribed';
    this._attempts = 0;
    this.everSubscribed = true;
    const ev: SubscribedEvent = { channel: this.channel, epoch: top.epoch, offset: top.offset, recoverable: reply.recoverable === true, resubscribed, wasRecovering: askedRecovery };
    if (askedRecovery) ev.recovered = reply.recovered === true;
    else if (!resubscribed) this.tracker.reset(top);
    // The order an app sees (docs/client.md "Event order on recovery"): `subscribed` first, then
    // the replayed publications in offset order (or the gap of what was lost), then the live ones
    // that arrived while the subscribe was in flight. So an app that resets its view in
    // onSubscribed keeps the replay. `position` inside the callback is still the pre-replay one.
    safeCall(this.options.onSubscribed, ev, (e) => this.callbackError(e));
    // The callback may have unsubscribed, or closed the connection: then nothing more is delivered
    // here (a later resubscribe recovers from the unchanged position).
    if (this._state !== 'subscribed') return;
    if (askedRecovery) {
      if (ev.recovered) {
        for (const p of pubs) this.deliver(top.epoch, p);
      } else {
        const gap = this.tracker.lost(top);
        if (gap) this.reportGap(gap);
      }
    } else if (resubscribed) {
      // Recovery is off for this subscription: what was published meanwhile is lost. Say so.
      const gap = this.tracker.lost(top);
      if (gap && gap.from !== undefined) this.reportGap(gap);
    }
    const held = this.held;
    this.held = [];
    for (const p of held) {
      if (this._state !== 'subscribed') return;
      this.deliver(p.e, p);
    }
  }

  _onPub(frame: PubPush): void {
    if (this._state === 'subscribing') this.held.push(frame);
    else if (this._state === 'subscribed') this.deliver(frame.e, frame);
  }

  _onGapPush(epoch: string, from: number, to: number): void {
    if (this._state === 'unsubscribed') return;
    const gap = this.tracker.skipRange(epoch, from, to);
    if (gap) this.reportGap(gap);
  }

  _onJoin(info: ClientInfo): void {
    if (this._state === 'subscribed') safeCall(this.options.onJoin, info, (e) => this.callbackError(e));
  }

  _onLeave(info: ClientInfo): void {
    if (this._state === 'subscribed') safeCall(this.options.onLeave, info, (e) => this.callbackError(e));
  }

  /** A signal for this room. The server relays only to members, so no state check beyond "not ended". */
  _onSignal(ev: SignalEvent): void {
    if (this._state !== 'unsubscribed') safeCall(this.options.onSignal, ev, (e) => this.callbackError(e));
  }

  /** The connection dropped: the subscription waits for the next connection (and recovery). */
  _onConnectionLost(): void {
    if (this._state === 'unsubscribed') return;
    this._state = 'subscribing';
    this.held = [];
  }

  /** The server refused the subscription for good. */
  _fail(err: Error): void {
    safeCall(this.options.onError, err, (e) => this.callbackError(e));
    this._ended(0, err.message);
  }

  /** The subscription is over (app, server `unsub` without resubscribe, or client close). */
  _ended(code: number, reason: string): void {
    if (this._state === 'unsubscribed') return;
    this._state = 'unsubscribed';
    this.held = [];
    safeCall(this.options.onUnsubscribed, { channel: this.channel, code, reason }, (e) => this.callbackError(e));
  }

  private deliver(epoch: string, p: { data: unknown; o: number; info?: unknown; u?: unknown }): void {
    const verdict = this.tracker.accept(epoch, p.o);
    if (!verdict.deliver) return;
    if (verdict.gap) {
      // A hole before an unreliable (datagram) publication is datagrams lost on the way: the same
      // `gap` a server skip gives, and, like it, nothing recovery re-fetches (the position is past it).
      if (p.u === true && verdict.gap.reason === 'jump') verdict.gap.reason = 'gap';
      this.reportGap(verdict.gap);
    }
    const pub = this.toPublication(epoch, p);
    safeCall(this.options.onPublication, pub, (e) => this.callbackError(e));
    this.host.emitPublication(pub);
  }

  private reportGap(gap: Gap): void {
    const ev: GapEvent = { channel: this.channel, recovered: false, ...gap };
    safeCall(this.options.onGap, ev, (e) => this.callbackError(e));
    this.host.emitGap(ev);
  }

  private toPublication(epoch: string, p: { data: unknown; o: number; info?: unknown }): Publication {
    const pub: Publication = { channel: this.channel, data: p.data, epoch, offset: p.o };
    if (p.info !== undefined && p.info !== null) pub.info = p.info as ClientInfo;
    return pub;
  }

  private callbackError(err: unknown): void {
    this.host.reportCallbackError(err, this.channel);
  }
}
