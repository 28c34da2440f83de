/**
 * The protocol state of one client: identity, subscriptions with positions, outbound queue,
 * heartbeat and rate-limit state. It knows nothing of the transport's kind: it receives whole
 * messages and writes formatted Buffers.
 *
 * Outbound path: everything goes through `enqueue()`, and the node flushes each dirty session once
 * per event-loop turn, so a burst of publications costs one write syscall per socket, not one per
 * publication. Per-connection state is kept small on purpose (idle connections dominate memory):
 * maps and arrays are created on first use.
 */
import { randomId } from '../broker/broker.ts';
import { disconnect, type Disconnect } from '../protocol/codes.ts';
import { ProtocolError, ReplyError } from '../protocol/errors.ts';
import { validateCommand, type ClientInfo, type Command, type ServerFrame } from '../protocol/frames.ts';
import { runCommand } from './commands.ts';
import type { SessionContext } from './context.ts';
import type { Envelope, HubSubscriber } from './hub.ts';
import type { NamespaceOptions } from './options.ts';
import type { Transport, TransportHandler, UnreliableSender } from './transport.ts';

export enum SessionState {
  New = 0,
  Connecting = 1,
  Connected = 2,
  Closed = 3,
}

/** A subscription's server-side state. */
export interface SubState {
  ns: NamespaceOptions;
  epoch: string;
  /** Offset of the last publication sent (or skipped as "before the subscription"). */
  lastOffset: number;
  /** While subscribing: live events held until the reply (and recovery) are sent; null once live. */
  held: Envelope[] | null;
  /** The held list passed its bound and was dropped; recovery re-reads history instead. */
  heldOverflow: boolean;
}

/** An unsent publication on a lossy channel, replaceable by a newer one while the socket is congested. */
interface LossySlot {
  ch: string;
  epoch: string;
  offset: number;
  buf: Buffer;
  /** First offset replaced (conflated) in this slot, 0 when none. */
  gapFrom: number;
}

/** Held live publications per subscription during recovery before falling back to re-reading history. */
const MAX_HELD = 10_000;

export class Session implements TransportHandler, HubSubscriber {
  readonly id = randomId();
  user = '';
  /** Token `info` claim. */
  connInfo: unknown = undefined;
  state = SessionState.New;
  /** Token expiry in ms, 0 = none. */
  expiresAt = 0;
  readonly startedAt: number;
  subs: Map<string, SubState> | null = null;
  clientName = '';

  // heartbeat (driven by the node's ticker)
  nextPingAt = 0;
  pongDeadline = 0;
  nextPresenceAt = 0;

  // inbound
  private tokens: number;
  private refillAt: number;
  private refused = 0;
  private inflight = 0;
  private paused = false;
  /** Completion of the latest barrier command (see dispatch()). */
  private gate: Promise<void> | null = null;
  /** Non-barrier commands in flight since the latest barrier. */
  private active: Promise<void>[] | null = null;

  // outbound
  private pending: Array<Buffer | LossySlot> = [];
  private pendingBytes = 0;
  private scheduled = false;
  private lossySlots: Map<string, LossySlot> | null = null;
  private closeAfterFlush: Disconnect | null = null;
  /** Tail of the reply lane: large replies are produced one at a time (server/reply-budget.ts). */
  replyLane: Promise<void> | null = null;

  constructor(
    readonly ctx: SessionContext,
    readonly transport: Transport,
  ) {
    this.startedAt = ctx.clock.now();
    this.tokens = ctx.options.rateBurst;
    this.refillAt = this.startedAt;
    ctx.stats.connectionsTotal++;
  }

  get info(): ClientInfo {
    const i: ClientInfo = { user: this.user, client: this.id };
    if (this.connInfo !== undefined) i.info = this.connInfo;
    return i;
  }

  get subscriptionCount(): number {
    return this.subs?.size ?? 0;
  }

  get queuedBytes(): number {
    return this.pendingBytes + this.transport.bufferedBytes;
  }

  // ---- inbound ---------------------------------------------------------------------------------

  onMessage(data: Buffer): void {
    if (this.state === SessionState.Closed) return;
    const stats = this.ctx.stats;
    stats.messagesIn++;
    stats.bytesIn += data.length;
    stats.inbound(this.transport.kind, data.length);
    let frames: unknown[];
    try {
      frames = this.transport.format.codec.decode(data);
    } catch (err) {
      return this.protocolError(err);
    }
    for (const raw of frames) {
      let cmd: Command;
      try {
        cmd = validateCommand(raw);
      } catch (err) {
        return this.protocolError(err);
      }
      stats.received(cmd.t);
      this.accept(cmd);
      if ((this.state as SessionState) === SessionState.Closed) return;
    }
  }

  private protocolError(err: unknown): void {
    if (err instanceof ProtocolError) this.close(disconnect(err.disconnect, { reason: `${disconnect(err.disconnect).reason}: ${err.message}`.slice(0, 120) }));
    else this.close(disconnect('serverError'));
  }

  private accept(cmd: Command): void {
    if (cmd.t === 'pong') {
      this.pongDeadline = 0;
      return;
    }
    if (this.state === SessionState.New) {
      if (cmd.t !== 'connect') return this.close(disconnect('badRequest', { reason: 'bad request: first frame must be connect' }));
      this.state = SessionState.Connecting;
    } else if (cmd.t === 'connect') {
      this.replyError(cmd.id, new ReplyError('alreadyConnected'));
      return;
    }
    if (!this.takeToken()) {
      this.ctx.stats.count(this.ctx.stats.errors, 111);
      if (++this.refused > this.ctx.options.rateBurst * 10) {
        return this.close(disconnect('tooManyRequests', { delay: 1000 + Math.floor(Math.random() * 4000) }));
      }
      this.replyError(cmd.id, new ReplyError('tooManyRequests'));
      return;
    }
    this.begin();
    this.dispatch(cmd);
  }

  /**
   * Ordering: connect, sub, unsub and refresh change what later commands mean, so they are
   * barriers — they start after every earlier command finished, and later commands start after
   * them ("sub then pub" delivers the publication to the new subscription). Everything else
   * (pub, history, presence) runs concurrently, so a pipelining publisher is not serialised on
   * broker round trips.
   */
  private dispatch(cmd: Exclude<Command, { t: 'pong' }>): void {
    const barrier = cmd.t === 'connect' || cmd.t === 'sub' || cmd.t === 'unsub' || cmd.t === 'refresh';
    if (barrier) {
      const prior: Promise<unknown>[] = this.active ?? [];
      if (this.gate) prior.push(this.gate);
      this.active = null;
      const done = (prior.length > 0 ? Promise.allSettled(prior).then(() => this.run(cmd)) : this.run(cmd)).then(noop, noop);
      this.gate = done;
      // Never rejects: run() answers every failure itself, and `done` swallows the rest.
      void done.then(() => {
        if (this.gate === done) this.gate = null;
      });
      return;
    }
    const p = (this.gate ? this.gate.then(() => this.run(cmd)) : this.run(cmd)).then(noop, noop);
    const active = (this.active ??= []);
    active.push(p);
    void p.then(() => {
      const i = this.active?.indexOf(p) ?? -1;
      if (i !== -1) void this.active!.splice(i, 1);
    });
  }

  private begin(): void {
    if (++this.inflight >= this.ctx.options.maxInflight && !this.paused) {
      this.paused = true;
      this.transport.pause();
    }
  }

  private end(): void {
    this.inflight--;
    if (this.paused && this.inflight <= this.ctx.options.maxInflight >> 1) {
      this.paused = false;
      this.transport.resume();
    }
  }

  private async run(cmd: Exclude<Command, { t: 'pong' }>): Promise<void> {
    if (this.state === SessionState.Closed) return this.end();
    this.ctx.stats.count(this.ctx.stats.commands, cmd.t);
    try {
      await runCommand(this, cmd);
    } catch (err) {
      if ((this.state as SessionState) === SessionState.Closed) return;
      if (err instanceof ReplyError) this.replyError(cmd.id, err);
      else {
        this.replyError(cmd.id, new ReplyError('internal', undefined, { cause: err }));
        // Unexpected errors are bugs or broker failures: log once, keep serving.
        console.error(`switchboard: command ${cmd.t} failed for client ${this.id}:`, err);
      }
    } finally {
      this.end();
    }
  }

  /** Token bucket: `rateLimit` per second, `rateBurst` deep. */
  private takeToken(): boolean {
    const { rateLimit, rateBurst } = this.ctx.options;
    const now = this.ctx.clock.now();
    if (now > this.refillAt) {
      this.tokens = Math.min(rateBurst, this.tokens + ((now - this.refillAt) * rateLimit) / 1000);
      this.refillAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    this.refused = 0;
    return true;
  }

  // ---- outbound --------------------------------------------------------------------------------

  send(frame: ServerFrame): void {
    this.enqueue(this.ctx.stats.sent(frame.t, this.transport.format.encode(frame)));
  }

  reply(id: number, fields: Record<string, unknown> = {}): void {
    this.send({ t: 'ok', id, ...fields });
  }

  replyError(id: number, err: ReplyError): void {
    this.ctx.stats.count(this.ctx.stats.errors, err.code);
    this.send({ t: 'err', id, code: err.code, message: err.message, temporary: err.temporary });
  }

  /** Queues formatted bytes; they are written at the end of this event-loop turn. */
  enqueue(buf: Buffer): void {
    if (this.state === SessionState.Closed) return;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      this.ctx.scheduleFlush(this);
    }
  }

  /** Writes everything pending in one transport write. Called by the node once per turn. */
  flush(): void {
    this.scheduled = false;
    if (this.state === SessionState.Closed || this.pending.length === 0) return;
    if (this.closeAfterFlush === null) {
      if (this.pendingBytes + this.transport.bufferedBytes > this.ctx.options.maxQueueBytes) {
        this.ctx.stats.slowDisconnects++;
        this.pending = [];
        this.pendingBytes = 0;
        this.lossySlots = null;
        return this.close(disconnect('slow'));
      }
      // While congested, hold lossy publications so newer ones can replace them.
      if (this.lossySlots !== null && this.lossySlots.size > 0 && this.congested()) return;
    }
    const out: Buffer[] = [];
    for (const item of this.pending) {
      if (Buffer.isBuffer(item)) out.push(item);
      else {
        if (item.gapFrom > 0) {
          out.push(this.ctx.stats.sent('gap', this.transport.format.encode({ t: 'gap', ch: item.ch, e: item.epoch, from: item.gapFrom, to: item.offset - 1 })));
        }
        out.push(item.buf);
      }
    }
    const n = out.length;
    this.ctx.stats.framesOut += n;
    this.ctx.stats.writes++;
    this.ctx.stats.bytesOut += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.lossySlots = null;
    this.transport.write(out);
    if (this.closeAfterFlush) this.finishClose(this.closeAfterFlush);
  }

  private congested(): boolean {
    return this.transport.bufferedBytes > this.ctx.options.maxQueueBytes >> 3;
  }

  onTransportError(d: Disconnect): void {
    this.close(d);
  }

  onDrain(): void {
    if (this.pending.length > 0) this.schedule();
  }

  // ---- hub delivery ----------------------------------------------------------------------------

  deliverPub(env: Envelope): void {
    const sub = this.subs?.get(env.channel);
    if (!sub) return;
    if (sub.held !== null) {
      if (sub.heldOverflow) return;
      if (sub.held.length >= MAX_HELD) {
        sub.held = [];
        sub.heldOverflow = true;
        return;
      }
      sub.held.push(env);
      return;
    }
    this.sendPub(sub, env);
  }

  /**
   * The stream lost continuity (history lost, or a broker could not deliver everything): the
   * client must resubscribe from its position and learn from recovery whether anything was lost.
   */
  resetStream(channel: string): void {
    if (!this.subs?.has(channel)) return;
    this.unsubscribeLocal(channel);
    this.send({ t: 'unsub', ch: channel, code: 3009, reason: 'insufficient state', resubscribe: true });
  }

  /** Sends a live publication to a subscription that is past its subscribe/recovery phase. */
  sendPub(sub: SubState, env: Envelope): void {
    if (env.epoch !== sub.epoch) {
      // Never deliver across an epoch change silently.
      this.resetStream(env.channel);
      return;
    }
    if (env.offset <= sub.lastOffset) return;
    sub.lastOffset = env.offset;
    const u = sub.ns.datagrams ? this.transport.unreliable : null;
    if (u) return this.sendUnreliable(u, env);
    const buf = this.ctx.stats.sent('pub', env.bytes(this.transport.format));
    if (sub.ns.lossy && (this.lossySlots !== null || this.congested())) {
      this.conflate(env, buf);
      return;
    }
    this.enqueue(buf);
  }

  /**
   * A publication of a `datagrams` namespace: one datagram, no queueing behind the stream. A frame
   * too big for a datagram goes on the stream (same marked bytes, so a hole before it is still a
   * gap); a full datagram queue drops it (the client sees the hole).
   */
  private sendUnreliable(u: UnreliableSender, env: Envelope): void {
    const stats = this.ctx.stats;
    const buf = stats.sent('pub', env.bytes(u.format));
    const r = buf.length <= u.maxBytes ? u.send(buf) : 'too-big';
    if (r === 'sent') stats.datagramsSent++;
    else if (r === 'dropped') stats.datagramsDropped++;
    else this.enqueue(buf);
  }

  private conflate(env: Envelope, buf: Buffer): void {
    this.lossySlots ??= new Map();
    const slot = this.lossySlots.get(env.channel);
    if (slot) {
      if (slot.gapFrom === 0) slot.gapFrom = slot.offset;
      this.pendingBytes += buf.length - slot.buf.length;
      slot.buf = buf;
      slot.offset = env.offset;
      this.ctx.stats.conflated++;
      return;
    }
    const s: LossySlot = { ch: env.channel, epoch: env.epoch, offset: env.offset, buf, gapFrom: 0 };
    this.lossySlots.set(env.channel, s);
    this.pending.push(s);
    this.pendingBytes += buf.length;
    this.schedule();
  }

  deliverEvent(env: Envelope): void {
    const sub = this.subs?.get(env.channel);
    if (!sub || sub.held !== null) return;
    this.enqueue(this.ctx.stats.sent(env.frame.t, env.bytes(this.transport.format)));
  }

  /** Drops a subscription locally (hub, presence). Does not tell the client. */
  unsubscribeLocal(channel: string): SubState | undefined {
    const sub = this.subs?.get(channel);
    if (!sub) return undefined;
    this.subs!.delete(channel);
    this.ctx.hub.remove(channel, this);
    if (sub.ns.presence) this.ctx.broker.presenceRemove(channel, this.id).catch(noop);
    if (sub.ns.joinLeave && this.state !== SessionState.New) this.ctx.broker.publishLeave(channel, this.info).catch(noop);
    if (sub.ns.signaling && sub.held === null) this.ctx.signals.leave(channel);
    if (sub.ns.sfu) this.ctx.sfuSignals.left(this, channel);
    return sub;
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Sends a disconnect frame, flushes, and closes the transport with the same code. Idempotent. */
  close(d: Disconnect): void {
    if (this.state === SessionState.Closed || this.closeAfterFlush) return;
    const frame: ServerFrame = { t: 'disconnect', code: d.code, reason: d.reason, reconnect: d.reconnect };
    if (d.delay !== undefined) frame.delay = d.delay;
    this.closeAfterFlush = d;
    this.pending.push(this.ctx.stats.sent('disconnect', this.transport.format.encode(frame)));
    this.flush();
  }

  private finishClose(d: Disconnect): void {
    this.transport.close(d);
    this.onClose(d.code, d.reason);
  }

  /** The transport is gone. Releases subscriptions and presence. */
  onClose(code: number, _reason: string): void {
    if (this.state === SessionState.Closed) return;
    this.state = SessionState.Closed;
    this.pending = [];
    this.pendingBytes = 0;
    this.lossySlots = null;
    if (this.subs) for (const ch of [...this.subs.keys()]) this.unsubscribeLocal(ch);
    this.ctx.stats.count(this.ctx.stats.disconnects, code);
    this.ctx.stats.durations.push((this.ctx.clock.now() - this.startedAt) / 1000);
    this.ctx.onClosed(this);
  }
}

function noop(): void {}
