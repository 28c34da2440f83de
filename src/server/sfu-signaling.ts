/**
 * The signaling side of the SFU (docs/protocol.md "SFU rooms"). In a namespace with `sfu: true`,
 * a member's `signal` frame to the reserved member `$sfu` is a request to this node's SfuService
 * (protocol/sfu-contract.ts): the `signal` command is answered `ok` once the request is accepted,
 * and the SFU's reply (same request id) and its events come back as signal pushes
 * `{t:'signal', ch, from:{client:'$sfu', user:''}, data:{type:'sfu', ...}}`, queued like any
 * other frame against the connection's outbound budget.
 *
 * The peer identity (room, user, client) comes from the session, never from the request. Bounds
 * per connection: at most {@link MAX_PENDING_SFU} requests awaiting the SFU (106 past it) and a
 * token bucket of {@link SFU_RATE}/s, {@link SFU_BURST} deep (111 past it), on top of the
 * connection's command rate limit. When the member unsubscribes from the room or disconnects,
 * the SFU is told (`leave`) and nothing more is delivered for that membership.
 */
import { ReplyError } from '../protocol/errors.ts';
import type { ClientInfo } from '../protocol/frames.ts';
import { SFU_MEMBER, type SfuEvent, type SfuPeerRef, type SfuRequest, type SfuServerMessage, type SfuService } from '../protocol/sfu-contract.ts';
import type { Clock } from '../util/clock.ts';
import { SessionState, type Session } from './session.ts';

/** Requests one connection may have awaiting the SFU at once. */
export const MAX_PENDING_SFU = 16;
/** SFU requests per second per connection (token bucket rate). */
export const SFU_RATE = 20;
/** SFU request token bucket depth. */
export const SFU_BURST = 40;

/** Who SFU replies and events are from. */
const FROM_SFU: ClientInfo = Object.freeze({ user: '', client: SFU_MEMBER });

/** One membership of one session in one SFU room; closed when it ends. */
interface Membership {
  readonly peer: SfuPeerRef;
  closed: boolean;
  send: (ev: SfuEvent) => void;
}

/** Per-session state, created on the first SFU request. */
interface SfuSessionState {
  rooms: Map<string, Membership>;
  /** Pending request ids across the session's rooms (room + "\n" + id). */
  pending: Set<string>;
  tokens: number;
  refillAt: number;
}

/** Per node: routes `$sfu` signals of SFU rooms to the node's SfuService. */
export class SfuSignaling {
  private readonly state = new WeakMap<Session, SfuSessionState>();
  /** Requests handed to the service, replies delivered (for stats and tests). */
  requests = 0;
  replies = 0;

  /**
   * @param service the node's media plane; absent: every request is answered 108
   * @param clock for the rate limit
   */
  constructor(
    readonly service: SfuService | undefined,
    private readonly clock: Clock,
  ) {}

  /**
   * Handles a validated SFU request from `s`, a member of SFU room `room` (the caller authorized
   * it). Throws ReplyError (108 no SFU, 106 too many pending, 111 rate, 107 duplicate id) before
   * accepting; once accepted, the outcome arrives as a reply push. `maxPublishBitrate`: the
   * room namespace's cap for the participant's video (0: the SFU's own).
   */
  request(s: Session, room: string, req: SfuRequest, maxPublishBitrate = 0): void {
    const service = this.service;
    if (!service) throw new ReplyError('notAvailable', 'no SFU runs on this node');
    const st = this.sessionState(s);
    const now = this.clock.now();
    if (now > st.refillAt) {
      st.tokens = Math.min(SFU_BURST, st.tokens + ((now - st.refillAt) * SFU_RATE) / 1000);
      st.refillAt = now;
    }
    if (st.tokens < 1) throw new ReplyError('tooManyRequests', `sfu: at most ${SFU_RATE} requests per second`);
    // Every attempt costs a token, refused ones too: a client hammering the pending bound is limited.
    st.tokens -= 1;
    const key = `${room}\n${req.id}`;
    if (st.pending.has(key)) throw new ReplyError('badRequest', `sfu: request id "${req.id}" is already pending`);
    if (st.pending.size >= MAX_PENDING_SFU) throw new ReplyError('limitExceeded', `sfu: at most ${MAX_PENDING_SFU} requests pending per connection`);
    let m = st.rooms.get(room);
    if (!m) {
      const peer: SfuPeerRef = Object.freeze({ room, user: s.user, client: s.id, ...(maxPublishBitrate > 0 ? { maxPublishBitrate } : {}) });
      const membership: Membership = { peer, closed: false, send: (ev) => this.deliver(s, membership, ev) };
      m = membership;
      st.rooms.set(room, m);
    }
    const membership = m;
    st.pending.add(key);
    this.requests++;
    let p: Promise<unknown>;
    try {
      p = service.handle(membership.peer, req, membership.send);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (result) => this.finish(s, st, key, membership, { op: 'reply', id: req.id, ok: true, result: (result ?? {}) as Extract<SfuServerMessage, { ok: true }>['result'] }),
      (err: unknown) => {
        let code = 100;
        let message = 'internal server error';
        if (err instanceof ReplyError) ({ code, message } = err);
        else console.error(`switchboard: sfu ${req.op} failed for client ${s.id} in ${room}:`, err);
        this.finish(s, st, key, membership, { op: 'reply', id: req.id, ok: false, error: { code, message } });
      },
    );
  }

  /** The session left SFU room `room` (unsubscribed or disconnected): tells the SFU. Idempotent. */
  left(s: Session, room: string): void {
    const st = this.state.get(s);
    const m = st?.rooms.get(room);
    if (!st || !m) return;
    st.rooms.delete(room);
    m.closed = true;
    for (const key of [...st.pending]) if (key.startsWith(`${room}\n`)) st.pending.delete(key);
    try {
      this.service?.leave(m.peer);
    } catch (err) {
      console.error(`switchboard: sfu leave failed for client ${s.id} in ${room}:`, err);
    }
  }

  /** Requests of `s` awaiting the SFU (tests, admin). */
  pendingCount(s: Session): number {
    return this.state.get(s)?.pending.size ?? 0;
  }

  private sessionState(s: Session): SfuSessionState {
    let st = this.state.get(s);
    if (!st) this.state.set(s, (st = { rooms: new Map(), pending: new Set(), tokens: SFU_BURST, refillAt: this.clock.now() }));
    return st;
  }

  private finish(s: Session, st: SfuSessionState, key: string, m: Membership, msg: SfuServerMessage): void {
    if (!st.pending.delete(key) || m.closed) return;
    this.replies++;
    this.deliver(s, m, msg);
  }

  /** Sends an SFU message to the member, unless its membership ended. */
  private deliver(s: Session, m: Membership, msg: SfuServerMessage): void {
    if (m.closed || s.state === SessionState.Closed) return;
    s.send({ t: 'signal', ch: m.peer.room, from: FROM_SFU, data: { type: 'sfu', ...msg } });
  }
}
