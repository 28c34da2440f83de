/**
 * The Switchboard client: one logical session that outlives its transports. It negotiates a
 * transport (WebSocket → SSE → long polling, the one that worked remembered per node), keeps the
 * connection alive (heartbeat watchdog, token refresh), reconnects with full-jitter backoff,
 * resubscribes with recovery, sends queued publishes after reconnecting, and while on a fallback
 * probes the preferred transport in the background and upgrades to it without losing or
 * duplicating a publication.
 *
 * This file is the connection state machine (attempts, connect, disconnect and reconnect, the
 * switch to an upgraded transport) and the public API. The other concerns live beside it, by
 * concern: subscriptions.ts (the subscriptions of the session and their pushes), publisher.ts
 * (publishes and the offline queue), commands.ts (requests and replies of one connection),
 * refresh.ts (token refresh on a live connection), upgrader.ts (transport memory, upgrade probes,
 * the retiring connection), heartbeat.ts (the ping watchdog), inbound.ts (frame validation).
 * Pure pieces: backoff.ts, token.ts, offline-queue.ts, position.ts, transports.ts (negotiation
 * order); the transport seam in transport.ts; the upgrade probe in upgrade.ts.
 *
 * Protocol: docs/protocol.md.
 */
import { codecs, type Codec } from '../protocol/codec.ts';
import { DisconnectCode, shouldReconnect } from '../protocol/codes.ts';
import { MAX_IDEMPOTENCY_KEY_BYTES, validIdempotencyKey, type ClientInfo, type ServerFrame, type StreamPosition } from '../protocol/frames.ts';
import type { TimerHandle } from '../util/clock.ts';
import { backoffDelay } from './backoff.ts';
import { TypedEmitter } from './emitter.ts';
import { CommandChannel } from './commands.ts';
import { ClientClosedError, ClientError, ServerError, toError, UnauthorizedError } from './errors.ts';
import { Watchdog } from './heartbeat.ts';
import { parseServerFrame } from './inbound.ts';
import { Publisher } from './publisher.ts';
import { resolveClientOptions, type ClientOptions } from './options.ts';
import { TokenRefresh } from './refresh.ts';
import { Subscription, type PresencePage, type SubscriptionHost, type SubscriptionOptions } from './subscription.ts';
import { SubscriptionRegistry } from './subscriptions.ts';
import { TokenManager } from './token.ts';
import type { ClientTransport, TransportContext, TransportFactory } from './transport.ts';
import { defaultTransportMemory } from './transport-memory.ts';
import { attemptOrder, isTransportSpec, toFactories, TransportError, upgradeCandidates, type TransportFailure, type TransportSpec } from './transports.ts';
import { codecFor, type ProbeItem, type UpgradeProbe } from './upgrade.ts';
import { TransportUpgrader } from './upgrader.ts';
import { originKey } from './endpoint.ts';
import { parseIceServers, type IceServer, type SignalData, type SignalEvent } from './signal.ts';

import { LocalDisconnect, type ClientEvents, type ClientState, type Disconnect } from './events.ts';
export { LocalDisconnect } from './events.ts';
export type { ClientState, ClientEvents, StateEvent, ConnectedEvent, DisconnectedEvent, ClientErrorEvent, TransportEvent } from './events.ts';

export class Client extends TypedEmitter<ClientEvents> {
  /** Resolved options (frozen). */
  readonly options: Readonly<ClientOptions>;
  /** Commands of the current connection (one CommandChannel per connection: ids and codec are per connection). */
  private commands: CommandChannel;
  private readonly watchdog: Watchdog;
  private readonly tokens: TokenManager;
  private readonly publisher: Publisher;
  private readonly subs: SubscriptionRegistry;
  private readonly refresh: TokenRefresh;
  private readonly upgrader: TransportUpgrader;

  private _state: ClientState = 'disconnected';
  private _id: string | undefined;
  private _node: string | undefined;
  private _user: string | undefined;
  private _iceServers: readonly IceServer[] = Object.freeze([]);

  /** Bumped at every connection attempt and teardown; events of older attempts are ignored. */
  private generation = 0;
  private conn: ClientTransport | undefined;
  private opening: AbortController | undefined;
  /** Transports in preference order (options.transports, or setTransports()). */
  private factories: TransportFactory[];
  /** Reconnect attempt number since the last successful connect (backoff exponent). */
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
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
    this.factories = toFactories(this.options.transports);
    this.watchdog = new Watchdog(this.options.clock);
    const tokenOpts: ConstructorParameters<typeof TokenManager>[0] = {
      retry: { minDelay: Math.max(this.options.minDelay, 1000), maxDelay: this.options.maxDelay },
      random: this.options.random,
    };
    if (this.options.token !== undefined) tokenOpts.token = this.options.token;
    if (this.options.getToken !== undefined) tokenOpts.getToken = this.options.getToken;
    this.tokens = new TokenManager(tokenOpts);
    // The parts below see the client through these hosts (functions: they read the current state).
    this.refresh = new TokenRefresh(
      {
        generation: () => this.generation,
        state: () => this._state,
        request: (frame) => this.request(frame),
        emitError: (ev) => this.safeEmit('error', ev),
        unauthorized: (gen, err) => {
          this.safeEmit('error', { type: 'token', error: err });
          this.handleDisconnect(gen, { ...LocalDisconnect.unauthorized, reason: err.message });
        },
      },
      this.tokens,
      this.options,
    );
    this.subs = new SubscriptionRegistry(
      {
        generation: () => this.generation,
        connected: () => this._state === 'connected',
        commands: () => this.commands,
        protocolFailure: (gen, err) => this.protocolFailure(gen, err),
        subscribeTimedOut: (gen) => this.handleDisconnect(gen, { ...LocalDisconnect.subscribeTimeout }),
        canRefreshToken: () => this.tokens.canRefresh,
        refreshToken: () => void this.refresh.now(),
        emitError: (ev) => this.safeEmit('error', ev),
      },
      this.options,
    );
    this.upgrader = new TransportUpgrader(
      {
        generation: () => this.generation,
        connected: () => this._state === 'connected',
        transportName: () => this.conn?.name,
        factories: () => this.factories,
        subscriptions: this.subs,
        currentToken: () => this.tokens.current(),
        transportContext: (codec, signal) => this.transportContext(codec, signal),
        connectFrame: (token) => this.connectFrame(token),
        switchTo: (probe) => this.switchTo(probe),
        reconnectNow: (reason) => this.reconnectNow(reason),
        retired: () => {
          if (this._state === 'connected') this.publisher.flush();
        },
      },
      this.options,
      this.options.transportMemory ?? defaultTransportMemory(this.options.clock),
      originKey(url),
    );
    this.publisher = new Publisher(
      {
        // While a replaced connection still has publishes in flight, new ones wait (and go out
        // when it is closed), so a publish on the new connection cannot overtake an older one.
        isConnected: () => this._state === 'connected' && !this.upgrader.isRetiring,
        send: (frame, handlers) => this.commands.send(frame, handlers),
        refreshToken: this.tokens.canRefresh ? () => void this.refresh.now() : undefined,
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
      removeSubscription: (sub) => this.subs.remove(sub),
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
  /**
   * ICE servers from the last connect reply (`iceServers`: the node's STUN and TURN servers, TURN
   * with time-limited credentials), ready for `new RTCPeerConnection({ iceServers })`. `[]` until
   * connected, or when the node hands out none. Kept across disconnects (credentials last hours).
   */
  get iceServers(): readonly IceServer[] {
    return this._iceServers;
  }
  /** Name of the transport in use (`'websocket'`, `'sse'`, `'poll'`), undefined while not connected. */
  get transport(): string | undefined {
    return this._state === 'connected' ? this.conn?.name : undefined;
  }

  /**
   * Changes the transports (names or factories, in preference order) — e.g. `['sse']` forces SSE,
   * `['websocket', 'sse', 'poll']` is automatic again. While connected on a transport the new list
   * prefers something else to, the client moves to the preferred one at once, the same way an
   * upgrade does (no publication lost or duplicated); if none of those works it reconnects with
   * the new list. Otherwise the list applies from the next connection attempt.
   */
  setTransports(transports: readonly TransportSpec[]): void {
    if (!Array.isArray(transports) || transports.length === 0 || !transports.every(isTransportSpec)) {
      throw new ClientError('setTransports() needs a non-empty array of transport names or factories');
    }
    this.factories = toFactories(transports);
    this.upgrader.reset();
    const current = this.conn?.name;
    if (this._state !== 'connected' || current === undefined) return;
    const inList = this.factories.some((f) => f.name === current);
    const candidates = inList ? upgradeCandidates(this.factories, current) : this.factories;
    if (candidates.length > 0) void this.upgrader.run(candidates, !inList);
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
    this.subs.endAll('client closed');
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
    this.subs.add(sub);
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
   * @param opts.key idempotency key, 1 to 128 UTF-8 bytes (a longer one is rejected here: the server
   *   would end the connection); by default one is generated (`idempotencyKeys`)
   */
  publish(channel: string, data: unknown, opts: { key?: string } = {}): Promise<StreamPosition> {
    if (this._state === 'closed') return Promise.reject(new ClientClosedError('client closed'));
    if (opts.key !== undefined && !validIdempotencyKey(opts.key)) return Promise.reject(new ClientError(`idempotency key must be 1 to ${MAX_IDEMPOTENCY_KEY_BYTES} bytes (UTF-8)`));
    return this.publisher.publish(channel, data, opts.key);
  }

  /**
   * Sends a WebRTC signal to client `to`, another member of `room` (a channel of a signaling
   * namespace this client is subscribed to). Resolves when the server accepted it for relay; that
   * is not delivery: a signal to a client that is no longer a member is dropped. Not queued while
   * offline: rejects with NotConnectedError; ServerError 103 (not a member), 107 (bad payload),
   * 108 (not a signaling namespace).
   */
  async signal(room: string, to: string, data: SignalData): Promise<void> {
    if (this._state === 'closed') throw new ClientClosedError('client closed');
    await this.request({ t: 'signal', ch: room, to, data });
  }

  /** Every client present in a channel (no subscription needed); pages through long lists. */
  presence(channel: string): Promise<Record<string, ClientInfo>> {
    return new Subscription(this.host, channel).presence();
  }

  /** One page of a channel's members in join order (Subscription.presencePage). */
  presencePage(channel: string, opts: { cursor?: string; limit?: number } = {}): Promise<PresencePage> {
    return new Subscription(this.host, channel).presencePage(opts);
  }

  /** Number of clients and distinct users present in a channel. */
  presenceStats(channel: string): Promise<{ clients: number; users: number }> {
    return new Subscription(this.host, channel).presenceStats();
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
    let token: string | undefined;
    try {
      token = await this.tokens.current();
    } catch (err) {
      if (gen === this.generation) this.onAttemptFailed(gen, toError(err), 'token');
      return;
    }
    if (gen !== this.generation) return;
    const failures: TransportFailure[] = [];
    for (const factory of attemptOrder(this.factories, this.upgrader.remembered())) {
      let reply: Record<string, unknown>;
      try {
        reply = await this.openAndConnect(gen, factory, token);
      } catch (err) {
        if (gen !== this.generation) return;
        const e = toError(err);
        // The server answered: the transport works, the connect itself failed.
        if (e instanceof ServerError || e instanceof UnauthorizedError) return this.onAttemptFailed(gen, e, 'connect');
        failures.push({ transport: factory.name, error: e });
        continue;
      }
      if (gen !== this.generation) return;
      this.onConnected(gen, reply, factory.name);
      return;
    }
    this.upgrader.forget();
    this.onAttemptFailed(gen, new TransportError(this.url, failures), 'transport');
  }

  /** The context a factory gets. */
  private transportContext(codec: Codec, signal: AbortSignal): TransportContext {
    const ctx: TransportContext = { url: this.url, codec, signal, maxMessageBytes: this.options.maxMessageBytes };
    if (this.options.websocket) ctx.websocket = this.options.websocket;
    if (this.options.fetch) ctx.fetch = this.options.fetch;
    if (this.options.eventSource !== undefined) ctx.eventSource = this.options.eventSource;
    return ctx;
  }

  private connectFrame(token: string | undefined): Record<string, unknown> {
    const frame: Record<string, unknown> = { t: 'connect', name: this.options.name };
    if (token !== undefined) frame.token = token;
    if (this.options.version) frame.version = this.options.version;
    return frame;
  }

  /**
   * Opens one transport (within `openTimeout`) and sends `connect` on it (reply within `timeout`).
   * A transport that does not open, closes, or never answers is a transport failure: the caller
   * tries the next one. This is what catches a WebSocket upgrade that a proxy swallows (no open)
   * and one that opens but passes nothing (no connect reply).
   */
  private async openAndConnect(gen: number, factory: TransportFactory, token: string | undefined): Promise<Record<string, unknown>> {
    const clock = this.options.clock;
    const abort = new AbortController();
    this.opening = abort;
    const codec = codecFor(factory, codecs[this.options.format], codecs.json);
    const commands = new CommandChannel(codec, clock, this.options);
    let live = false;
    const timer = clock.setTimeout(() => abort.abort(), this.options.openTimeout);
    let transport: ClientTransport;
    try {
      transport = await factory.create(this.transportContext(codec, abort.signal), {
        message: (data) => this.onMessage(gen, data),
        close: (ev) => {
          if (live) this.handleDisconnect(gen, { code: ev.code, reason: ev.reason || 'transport closed', reconnect: shouldReconnect(ev.code) });
          else commands.detach(); // closed before the connect reply: that request fails, next transport
        },
      });
    } catch (err) {
      if (abort.signal.aborted && gen === this.generation) throw new ClientError(`no open within ${this.options.openTimeout} ms`, { cause: err });
      throw err;
    } finally {
      clock.clearTimeout(timer);
      if (this.opening === abort) this.opening = undefined;
    }
    if (gen !== this.generation) {
      transport.close(1000, 'superseded');
      throw new ClientError('superseded');
    }
    this.conn = transport;
    this.commands = commands;
    commands.attach(transport);
    try {
      const reply = await commands.request(this.connectFrame(token));
      live = true;
      return reply;
    } catch (err) {
      if (this.conn === transport) this.conn = undefined;
      commands.detach();
      transport.close(1000, 'connect failed');
      const e = toError(err);
      if (e instanceof ServerError) throw e;
      throw new ClientError(`connect: ${e.message}`, { cause: e });
    }
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
    this.safeEmit('error', { type: stage, error: err });
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
    this._iceServers = Object.freeze(parseIceServers(reply));
    this.attempt = 0;
    this.keepAlive(gen, reply);
    this._state = 'connected'; // set first so the sends below go out; events after them
    // Resubscribe first, then flush publishes queued while offline, in the order they were made:
    // all of it reaches the socket before anything the app does in its `connected` listener.
    for (const sub of this.subs.values()) this.subs.send(sub);
    this.publisher.flush();
    this._state = 'connecting';
    this.setState('connected');
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
    this.safeEmit('connected', { client: reply.client, node: this._node, transport: transportName });
    this.safeEmit('transport', { transport: transportName, previous: undefined, upgrade: false });
    this.upgrader.chosen(transportName);
  }

  /** Starts the ping watchdog and plans the token refresh for connection `gen` from its connect reply. */
  private keepAlive(gen: number, reply: Record<string, unknown>): void {
    const ping = typeof reply.ping === 'number' ? reply.ping : 0;
    const pong = typeof reply.pong === 'number' ? reply.pong : 0;
    this.watchdog.start(ping > 0 ? (ping + pong) * 1000 : 0, () => this.handleDisconnect(gen, { ...LocalDisconnect.noPing }));
    this.refresh.schedule(typeof reply.ttl === 'number' ? reply.ttl : undefined);
  }

  // ---- upgrade: the switch to a probed transport ----------------------------------------------

  /** Ends the current connection and reconnects at once (recovery makes it lossless). */
  private reconnectNow(reason: string): void {
    this.attempt = 0;
    this.handleDisconnect(this.generation, { code: 3000, reason, reconnect: true, delay: 0 });
    this.options.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.startAttempt();
  }

  /** Makes the probe's connection the current one (see upgrade.ts for why this is exactly once). */
  private switchTo(probe: UpgradeProbe): void {
    const reply = probe.reply!;
    const transport = probe.transport!;
    const oldGen = this.generation;
    const gen = ++this.generation;
    const previous = this.conn;
    const previousCommands = this.commands;
    this.conn = transport;
    this.commands = probe.commands;
    const items = probe.adopt({
      message: (data) => this.onMessage(gen, data),
      close: (ev) => this.handleDisconnect(gen, { code: ev.code, reason: ev.reason || 'transport closed', reconnect: shouldReconnect(ev.code) }),
    });
    this.subs.cancelRetries();
    if (typeof reply.client === 'string') this._id = reply.client;
    if (typeof reply.node === 'string') this._node = reply.node;
    if (typeof reply.user === 'string') this._user = reply.user;
    this._iceServers = Object.freeze(parseIceServers(reply));
    this.keepAlive(gen, reply);
    if (previous) this.upgrader.retire(oldGen, previous, previousCommands);
    this.applyProbeItems(gen, items);
    if (!this.upgrader.isRetiring) this.publisher.flush();
    this.safeEmit('transport', { transport: transport.name, previous: previous?.name, upgrade: true });
    this.upgrader.chosen(transport.name);
  }

  /** Applies what the probe buffered, then fixes up subscriptions the probe did not cover. */
  private applyProbeItems(gen: number, items: ProbeItem[]): void {
    const probed = new Set<string>();
    for (const item of items) {
      if (gen !== this.generation) return;
      if (item.kind === 'frame') {
        this.onFrame(gen, item.frame);
        continue;
      }
      probed.add(item.channel);
      const sub = this.subs.get(item.channel);
      if (!sub || sub.state !== 'subscribed') continue;
      try {
        sub._onUpgradeReply(item.reply);
      } catch (err) {
        this.protocolFailure(gen, toError(err));
        return;
      }
    }
    const noop = { ok: () => {}, err: () => {}, lost: () => {} };
    // Unsubscribed during the probe: drop it on the new session too.
    for (const ch of probed) if (!this.subs.has(ch)) this.commands.send({ t: 'unsub', ch }, noop);
    // Added during the probe, or (re)subscribing on the old connection: subscribe on the new one.
    for (const sub of this.subs.values()) {
      if (probed.has(sub.channel) && sub.state === 'subscribed') continue;
      if (probed.has(sub.channel)) this.commands.send({ t: 'unsub', ch: sub.channel }, noop);
      this.subs.send(sub);
    }
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
    if (this.upgrader.isRetiringGen(gen)) return this.upgrader.closeRetiring();
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
    this.opening?.abort();
    this.opening = undefined;
    this.upgrader.cancel();
    this.upgrader.closeRetiring();
    const t = this.conn;
    this.conn = undefined;
    // Close codes a client may send: 1000 or 3000–4999.
    t?.close(d.code >= 3000 && d.code < 5000 ? d.code : 1000, d.reason.slice(0, 100));
    this.watchdog.stop();
    this.refresh.cancel();
    this.subs.cancelRetries();
    this.commands.detach();
    this.subs.connectionLost();
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

  // ---- commands -------------------------------------------------------------------------------

  private request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.commands.request(frame);
  }

  // ---- inbound --------------------------------------------------------------------------------

  private onMessage(gen: number, data: string | Uint8Array): void {
    if (gen !== this.generation) {
      if (this.upgrader.isRetiringGen(gen)) this.upgrader.onRetiringMessage(data);
      return;
    }
    this.watchdog.touch();
    let frames: unknown[];
    try {
      frames = this.commands.codec.decode(data);
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
    if (this.subs.onPush(f)) return;
    switch (f.t) {
      case 'ok':
      case 'err':
        this.commands.onReply(f);
        return;
      case 'signal': {
        const ev: SignalEvent = { channel: f.ch, from: f.from, data: f.data };
        this.subs.get(f.ch)?._onSignal(ev);
        this.safeEmit('signal', ev);
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
