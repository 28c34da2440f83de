/**
 * The Switchboard client: one logical session that outlives its transports. It connects, keeps the
 * connection alive (heartbeat watchdog, token refresh), reconnects with full-jitter backoff,
 * resubscribes with recovery, and sends queued publishes after reconnecting.
 *
 * Protocol: docs/protocol.md. Pure pieces live beside it: backoff.ts, token.ts, offline-queue.ts,
 * position.ts; the transport seam in transport.ts.
 */
import { codecs } from '../protocol/codec.ts';
import { DisconnectCode, shouldReconnect } from '../protocol/codes.ts';
import type { ClientInfo, ServerFrame, StreamPosition } from '../protocol/frames.ts';
import type { TimerHandle } from '../util/clock.ts';
import { backoffDelay } from './backoff.ts';
import { TypedEmitter } from './emitter.ts';
import { CommandChannel } from './commands.ts';
import { ClientClosedError, ClientError, ConnectionLostError, ServerError, TimeoutError, UnauthorizedError } from './errors.ts';
import { Watchdog } from './heartbeat.ts';
import { parseServerFrame, replyPosition } from './inbound.ts';
import { Publisher } from './publisher.ts';
import { resolveClientOptions, type ClientOptions } from './options.ts';
import { Subscription, type SubscriptionHost, type SubscriptionOptions } from './subscription.ts';
import { TokenManager } from './token.ts';
import type { ClientTransport } from './transport.ts';

import { LocalDisconnect, type ClientEvents, type ClientState, type Disconnect } from './events.ts';
export { LocalDisconnect } from './events.ts';
export type { ClientState, ClientEvents, StateEvent, ConnectedEvent, DisconnectedEvent, ClientErrorEvent } from './events.ts';

function toError(err: unknown): Error {
  return err instanceof Error ? err : new ClientError(String(err));
}

export class Client extends TypedEmitter<ClientEvents> {
  /** Resolved options (frozen). */
  readonly options: Readonly<ClientOptions>;
  private readonly commands: CommandChannel;
  private readonly watchdog: Watchdog;
  private readonly tokens: TokenManager;
  private readonly publisher: Publisher;
  private readonly subs = new Map<string, Subscription>();

  private _state: ClientState = 'disconnected';
  private _id: string | undefined;
  private _node: string | undefined;
  private _user: string | undefined;

  /** Bumped at every connection attempt and teardown; events of older attempts are ignored. */
  private generation = 0;
  private transport: ClientTransport | undefined;
  private opening: AbortController | undefined;
  /** Reconnect attempt number since the last successful connect (backoff exponent). */
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly subRetryTimers = new Set<TimerHandle>();
  private waiters: Array<{ resolve(): void; reject(err: Error): void }> = [];
  private readonly host: SubscriptionHost;

  /**
   * @param url the node's endpoint, e.g. `ws://localhost:8000/connection/websocket`
   * @param options see {@link ClientOptions}; not mutated
   */
  constructor(
    readonly url: string,
    options: Partial<ClientOptions> = {},
  ) {
    super();
    this.options = Object.freeze(resolveClientOptions(options));
    this.commands = new CommandChannel(codecs[this.options.format], this.options.clock, this.options);
    this.watchdog = new Watchdog(this.options.clock);
    const tokenOpts: ConstructorParameters<typeof TokenManager>[0] = {
      retry: { minDelay: Math.max(this.options.minDelay, 1000), maxDelay: this.options.maxDelay },
      random: this.options.random,
    };
    if (this.options.token !== undefined) tokenOpts.token = this.options.token;
    if (this.options.getToken !== undefined) tokenOpts.getToken = this.options.getToken;
    this.tokens = new TokenManager(tokenOpts);
    this.publisher = new Publisher(
      {
        isConnected: () => this._state === 'connected',
        send: (frame, handlers) => this.commands.send(frame, handlers),
        refreshToken: this.tokens.canRefresh ? () => void this.refreshInPlace() : undefined,
      },
      this.options,
    );
    this.onListenerError = (error, event) => {
      if (event === 'error') console.error('switchboard: an "error" listener threw', error);
      else this.safeEmit('error', { type: 'callback', error: toError(error) });
    };
    this.host = {
      publish: (ch, data, opts) => this.publish(ch, data, opts),
      request: (frame) => this.request(frame),
      removeSubscription: (sub) => this.removeSubscription(sub),
      emitPublication: (pub) => this.safeEmit('publication', pub),
      emitGap: (gap) => this.safeEmit('gap', gap),
      reportCallbackError: (err, channel) => this.safeEmit('error', { type: 'callback', error: toError(err), channel }),
    };
  }

  get state(): ClientState {
    return this._state;
  }
  /** The connection id from the connect reply; undefined until connected. */
  get id(): string | undefined {
    return this._id;
  }
  /** The node serving this connection. */
  get node(): string | undefined {
    return this._node;
  }
  /** The user id the server assigned (`""` when anonymous). */
  get user(): string | undefined {
    return this._user;
  }
  /** Publishes waiting for a connection. */
  get offlineQueueSize(): number {
    return this.publisher.queued;
  }

  /**
   * Starts connecting (and reconnecting as needed). Resolves when connected; rejects if the client
   * stops for good first (terminal disconnect code, `disconnect()`, `close()`).
   */
  connect(): Promise<void> {
    if (this._state === 'closed') return Promise.reject(new ClientClosedError('client closed'));
    if (this._state === 'connected') return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    p.catch(() => {}); // a caller that does not await must not cause an unhandled rejection
    if (this._state === 'disconnected') {
      this.attempt = 0;
      this.startAttempt();
    }
    return p;
  }

  /** Closes the connection and stops reconnecting. Subscriptions and queued publishes are kept for a later `connect()`. */
  disconnect(): void {
    if (this._state === 'closed' || this._state === 'disconnected') return;
    this.stop(LocalDisconnect.disconnectCalled);
  }

  /**
   * Disconnects for good: queued publishes reject with ClientClosedError, subscriptions end, no
   * timer is left. Idempotent.
   */
  close(): void {
    if (this._state === 'closed') return;
    this.disconnect();
    this.publisher.close(new ClientClosedError('client closed'));
    for (const sub of [...this.subs.values()]) sub._ended(0, 'client closed');
    this.subs.clear();
    this.tokens.close();
    this.setState('closed');
  }

  /**
   * Subscribes to `channel`. Active once connected; resubscribed (with recovery) after each reconnect.
   * Throws if a subscription to `channel` already exists.
   */
  subscribe(channel: string, options: SubscriptionOptions = {}): Subscription {
    if (this._state === 'closed') throw new ClientClosedError('client closed');
    if (this.subs.has(channel)) throw new ClientError(`already subscribed to "${channel}"`);
    const sub = new Subscription(this.host, channel, options);
    this.subs.set(channel, sub);
    if (this._state === 'connected') this.sendSubscribe(sub);
    return sub;
  }

  /** The subscription to `channel`, if any. */
  getSubscription(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  /**
   * Publishes to `channel` (no subscription needed). While not connected the publish is queued
   * (bounded: `maxOfflineQueue`; overflow rejects with OfflineQueueFullError) and sent in order
   * after reconnecting. Resolves with the publication's position once the server stored it.
   * @param opts.key idempotency key; by default one is generated (`idempotencyKeys`)
   */
  publish(channel: string, data: unknown, opts: { key?: string } = {}): Promise<StreamPosition> {
    if (this._state === 'closed') return Promise.reject(new ClientClosedError('client closed'));
    return this.publisher.publish(channel, data, opts.key);
  }

  /** Presence of a channel (no subscription needed). */
  presence(channel: string): Promise<Record<string, ClientInfo>> {
    return new Subscription(this.host, channel).presence();
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  private setState(state: ClientState): void {
    const previous = this._state;
    if (previous === state) return;
    this._state = state;
    this.safeEmit('state', { state, previous });
  }

  private startAttempt(): void {
    this.options.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const gen = ++this.generation;
    this.setState('connecting');
    void this.runAttempt(gen);
  }

  private async runAttempt(gen: number): Promise<void> {
    let stage: 'token' | 'transport' | 'connect' = 'token';
    try {
      const token = await this.tokens.current();
      if (gen !== this.generation) return;
      stage = 'transport';
      const transport = await this.openTransport(gen);
      if (gen !== this.generation) {
        transport.close(1000, 'superseded');
        return;
      }
      this.transport = transport;
      this.commands.attach(transport);
      stage = 'connect';
      const frame: Record<string, unknown> = { t: 'connect', name: this.options.name };
      if (token !== undefined) frame.token = token;
      if (this.options.version) frame.version = this.options.version;
      const reply = await this.request(frame);
      if (gen !== this.generation) return;
      this.onConnected(gen, reply, transport.name);
    } catch (err) {
      if (gen !== this.generation) return;
      this.onAttemptFailed(gen, toError(err), stage);
    }
  }

  /** Tries each transport factory in order; each gets `timeout` ms to open. */
  private async openTransport(gen: number): Promise<ClientTransport> {
    const errors: Error[] = [];
    for (const factory of this.options.transports) {
      const abort = new AbortController();
      this.opening = abort;
      const timer = this.options.clock.setTimeout(() => abort.abort(), this.options.timeout);
      try {
        const ctx: Parameters<typeof factory.create>[0] = { url: this.url, codec: codecs[this.options.format], signal: abort.signal };
        if (this.options.websocket) ctx.websocket = this.options.websocket;
        return await factory.create(ctx, {
          message: (data) => this.onMessage(gen, data),
          close: (ev) => this.handleDisconnect(gen, { code: ev.code, reason: ev.reason || 'transport closed', reconnect: shouldReconnect(ev.code) }),
        });
      } catch (err) {
        errors.push(toError(err));
        if (gen !== this.generation) break;
      } finally {
        this.options.clock.clearTimeout(timer);
        if (this.opening === abort) this.opening = undefined;
      }
    }
    throw new ClientError(`no transport could connect to ${this.url}: ${errors.map((e) => e.message).join('; ')}`, { cause: errors[0] });
  }

  private onAttemptFailed(gen: number, err: Error, stage: 'token' | 'transport' | 'connect'): void {
    if (err instanceof UnauthorizedError) {
      this.safeEmit('error', { type: 'token', error: err });
      this.handleDisconnect(gen, { ...LocalDisconnect.unauthorized, reason: err.message });
      return;
    }
    if (err instanceof ServerError) {
      if (err.code === 109 && this.tokens.canRefresh) {
        this.tokens.invalidate(); // the next attempt fetches a fresh token first
        this.handleDisconnect(gen, { ...LocalDisconnect.connectFailed, reason: 'token expired' });
        return;
      }
      if (!err.temporary) {
        this.safeEmit('error', { type: 'connect', error: err });
        const d = err.code === 101 || err.code === 109 ? LocalDisconnect.unauthorized : LocalDisconnect.connectFailed;
        this.handleDisconnect(gen, { code: d.code, reason: err.message, reconnect: false });
        return;
      }
    }
    this.safeEmit('error', { type: stage === 'token' ? 'token' : 'connect', error: err });
    const base = stage === 'transport' ? LocalDisconnect.transportFailed : LocalDisconnect.connectFailed;
    this.handleDisconnect(gen, { ...base, reason: err.message });
  }

  private onConnected(gen: number, reply: Record<string, unknown>, transportName: string): void {
    if (typeof reply.client !== 'string') {
      this.protocolFailure(gen, new ClientError('connect reply has no "client" id'));
      return;
    }
    this._id = reply.client;
    this._node = typeof reply.node === 'string' ? reply.node : '';
    this._user = typeof reply.user === 'string' ? reply.user : '';
    this.attempt = 0;
    const ping = typeof reply.ping === 'number' ? reply.ping : 0;
    const pong = typeof reply.pong === 'number' ? reply.pong : 0;
    this.watchdog.start(ping > 0 ? (ping + pong) * 1000 : 0, () => this.handleDisconnect(gen, { ...LocalDisconnect.noPing }));
    this.scheduleRefresh(typeof reply.ttl === 'number' ? reply.ttl : undefined);
    this._state = 'connected'; // set first so the sends below go out; events after them
    // Resubscribe first, then flush publishes queued while offline, in the order they were made:
    // all of it reaches the socket before anything the app does in its `connected` listener.
    for (const sub of this.subs.values()) this.sendSubscribe(sub);
    this.publisher.flush();
    this._state = 'connecting';
    this.setState('connected');
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
    this.safeEmit('connected', { client: reply.client, node: this._node, transport: transportName });
  }

  /** Ends the current connection (or attempt) and stops: no reconnect. */
  private stop(d: Disconnect): void {
    this.options.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.teardown(d);
    this.generation++;
    this.setState('disconnected');
    this.rejectWaiters(new ClientError(`disconnected: ${d.reason} (${d.code})`));
    this.safeEmit('disconnected', { code: d.code, reason: d.reason, reconnect: false });
  }

  /** The connection of attempt `gen` ended (or the attempt failed); reconnect or stop per `d`. */
  private handleDisconnect(gen: number, d: Disconnect): void {
    if (gen !== this.generation || this._state === 'closed' || this._state === 'disconnected') return;
    if (d.code === DisconnectCode.expired.code) this.tokens.invalidate();
    if (!d.reconnect) {
      this.stop(d);
      return;
    }
    this.teardown(d);
    this.generation++;
    this.setState('connecting');
    const delay = backoffDelay(this.attempt++, this.options, this.options.random, d.delay ?? 0);
    this.reconnectTimer = this.options.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.startAttempt();
    }, delay);
    this.safeEmit('disconnected', { code: d.code, reason: d.reason, reconnect: true });
  }

  /** Drops everything tied to the current connection. Publishes in flight go back to the queue. */
  private teardown(d: Disconnect): void {
    const clock = this.options.clock;
    this.opening?.abort();
    this.opening = undefined;
    const t = this.transport;
    this.transport = undefined;
    // Close codes a client may send: 1000 or 3000–4999.
    t?.close(d.code >= 3000 && d.code < 5000 ? d.code : 1000, d.reason.slice(0, 100));
    this.watchdog.stop();
    clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    for (const timer of this.subRetryTimers) clock.clearTimeout(timer);
    this.subRetryTimers.clear();
    this.commands.detach();
    for (const sub of this.subs.values()) sub._onConnectionLost();
    this._id = undefined;
  }

  private rejectWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  private protocolFailure(gen: number, err: Error): void {
    this.safeEmit('error', { type: 'protocol', error: err });
    this.handleDisconnect(gen, { ...LocalDisconnect.badProtocol, reason: err.message.slice(0, 100) });
  }

  // ---- heartbeat and token refresh ------------------------------------------------------------

  private scheduleRefresh(ttlSeconds: number | undefined): void {
    const clock = this.options.clock;
    clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (ttlSeconds === undefined || !this.tokens.canRefresh) return;
    const ttl = ttlSeconds * 1000;
    const before = Math.min(this.options.refreshBefore, ttl / 2);
    this.refreshTimer = clock.setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refreshInPlace();
    }, Math.max(0, ttl - before));
  }

  /** Gets a new token (single flight) and sends `refresh` on the live connection. */
  private refreshInPlace(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const gen = this.generation;
    try {
      const token = await this.tokens.refresh();
      if (gen !== this.generation || this._state !== 'connected') return; // the next connect uses it
      const reply = await this.request({ t: 'refresh', token });
      if (gen !== this.generation) return;
      this.scheduleRefresh(typeof reply.ttl === 'number' ? reply.ttl : undefined);
    } catch (e) {
      const err = toError(e);
      if (this._state === 'closed' || err instanceof ClientClosedError || err instanceof ConnectionLostError) return;
      if (err instanceof UnauthorizedError) {
        this.safeEmit('error', { type: 'token', error: err });
        this.handleDisconnect(gen, { ...LocalDisconnect.unauthorized, reason: err.message });
        return;
      }
      this.safeEmit('error', { type: 'refresh', error: err });
      if (err instanceof ServerError && err.code === 109) this.tokens.invalidate();
      if (gen !== this.generation || this._state !== 'connected') return;
      // Retry until the token runs out; then the server disconnects with 3003 and the reconnect fetches one.
      this.refreshTimer = this.options.clock.setTimeout(() => {
        this.refreshTimer = undefined;
        void this.refreshInPlace();
      }, this.tokens.retryDelay());
    }
  }

  // ---- commands -------------------------------------------------------------------------------

  private request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.commands.request(frame);
  }

  // ---- subscriptions --------------------------------------------------------------------------

  private sendSubscribe(sub: Subscription): void {
    const gen = this.generation;
    const frame = sub._subscribeFrame();
    const askedRecovery = frame.recover !== undefined;
    const current = (): boolean => gen === this.generation && this.subs.get(sub.channel) === sub;
    this.commands.send(frame as unknown as Record<string, unknown>, {
      ok: (reply) => {
        if (!current()) return;
        try {
          sub._onSubscribeReply(reply, askedRecovery);
        } catch (err) {
          this.protocolFailure(gen, toError(err));
        }
      },
      err: (err) => {
        if (current()) this.onSubscribeError(gen, sub, err);
      },
      lost: () => {}, // resubscribed on the next connection
    });
  }

  private onSubscribeError(gen: number, sub: Subscription, err: Error): void {
    if (err instanceof TimeoutError) {
      this.handleDisconnect(gen, { ...LocalDisconnect.subscribeTimeout });
      return;
    }
    const tokenExpired = err instanceof ServerError && err.code === 109 && this.tokens.canRefresh;
    if (err instanceof ServerError && (err.temporary || tokenExpired)) {
      if (tokenExpired) void this.refreshInPlace();
      const timer = this.options.clock.setTimeout(() => {
        this.subRetryTimers.delete(timer);
        if (gen === this.generation && this.subs.get(sub.channel) === sub) this.sendSubscribe(sub);
      }, backoffDelay(sub._attempts++, this.options, this.options.random, 100));
      this.subRetryTimers.add(timer);
      return;
    }
    this.subs.delete(sub.channel);
    this.safeEmit('error', { type: 'subscribe', error: err, channel: sub.channel });
    sub._fail(err);
  }

  private removeSubscription(sub: Subscription): void {
    if (this.subs.get(sub.channel) !== sub) return;
    this.subs.delete(sub.channel);
    if (this._state === 'connected') this.commands.send({ t: 'unsub', ch: sub.channel }, { ok: () => {}, err: () => {}, lost: () => {} });
  }

  // ---- inbound --------------------------------------------------------------------------------

  private onMessage(gen: number, data: string | Uint8Array): void {
    if (gen !== this.generation) return;
    this.watchdog.touch();
    let frames: unknown[];
    try {
      frames = codecs[this.options.format].decode(data);
    } catch (err) {
      this.protocolFailure(gen, toError(err));
      return;
    }
    for (const raw of frames) {
      if (gen !== this.generation) return; // a frame before this one ended the connection
      let frame: ServerFrame | null;
      try {
        frame = parseServerFrame(raw);
      } catch (err) {
        this.protocolFailure(gen, toError(err));
        return;
      }
      if (frame) this.onFrame(gen, frame);
    }
  }

  private onFrame(gen: number, f: ServerFrame): void {
    switch (f.t) {
      case 'ok':
      case 'err':
        this.commands.onReply(f);
        return;
      case 'pub':
        this.subs.get(f.ch)?._onPub(f);
        return;
      case 'join':
        this.subs.get(f.ch)?._onJoin(f.info);
        return;
      case 'leave':
        this.subs.get(f.ch)?._onLeave(f.info);
        return;
      case 'gap':
        this.subs.get(f.ch)?._onGapPush(f.e, f.from, f.to);
        return;
      case 'unsub': {
        const sub = this.subs.get(f.ch);
        if (!sub) return;
        if (f.resubscribe) {
          sub._onConnectionLost();
          if (this._state === 'connected') this.sendSubscribe(sub);
        } else {
          this.subs.delete(f.ch);
          sub._ended(f.code, f.reason);
        }
        return;
      }
      case 'ping':
        this.commands.sendNoReply({ t: 'pong' });
        return;
      case 'disconnect': {
        const d: Disconnect = { code: f.code, reason: f.reason, reconnect: f.reconnect ?? shouldReconnect(f.code) };
        if (f.delay !== undefined) d.delay = f.delay;
        this.handleDisconnect(gen, d);
        return;
      }
    }
  }
}
