/** Command handlers: one function per client frame type (docs/protocol.md). */
import { log } from '../util/log.ts';
import { createHmac } from 'node:crypto';
import { disconnect } from '../protocol/codes.ts';
import { ReplyError } from '../protocol/errors.ts';
import type { Command, ConnectCommand, HistoryCommand, PresenceCommand, PublicationData, PublishCommand, RefreshCommand, SignalCommand } from '../protocol/frames.ts';
import { BadCursorError, type PresencePageOptions, type Publication } from '../broker/broker.ts';
import { clientIdentity, mustAuthorize } from './authorize.ts';
import { chargePublish } from './publish-budget.ts';
import type { NodeOptions } from './options.ts';
import { SessionState, type Session } from './session.ts';
import { replyWithinBudget } from './reply-budget.ts';
import { validateSignal } from './signaling.ts';
import { SFU_MEMBER } from '../protocol/sfu.ts';
import { subscribe } from './subscribe.ts';
import { ANONYMOUS_CREDENTIAL_TTL, anonymousTurnUser } from './turn-credentials.ts';

export async function runCommand(s: Session, cmd: Exclude<Command, { t: 'pong' }>): Promise<void> {
  switch (cmd.t) {
    case 'connect':
      return connect(s, cmd);
    case 'refresh':
      return refresh(s, cmd);
    case 'sub':
      return subscribe(s, cmd);
    case 'unsub':
      s.unsubscribeLocal(cmd.ch);
      return s.reply(cmd.id);
    case 'pub':
      return publish(s, cmd);
    case 'presence':
      return presence(s, cmd);
    case 'presence_stats':
      return presenceStats(s, cmd.id, cmd.ch);
    case 'history':
      return history(s, cmd);
    case 'signal':
      return signal(s, cmd);
    case 'unknown':
      throw new ReplyError('unknownFrame', JSON.stringify(cmd.type.slice(0, 32)));
  }
}

async function connect(s: Session, cmd: ConnectCommand): Promise<void> {
  const { ctx } = s;
  let id;
  try {
    id = await ctx.auth.verify(cmd.token);
  } catch (err) {
    if (err instanceof ReplyError) {
      const reason = err.code === 109 ? 'token_expired' : cmd.token ? 'token_invalid' : 'token_missing';
      log.refused(reason, `connect refused: ${err.message}`, { ip: s.transport.remoteAddress, transport: s.transport.kind, client: s.id }, err.code === 109 ? 'info' : 'warn');
      s.replyError(cmd.id, err);
      // An expired token is fixable by the client (fetch a new one and reconnect); a bad one is not.
      s.close(disconnect(err.code === 109 ? 'expired' : 'invalidToken'));
      return;
    }
    throw err;
  }
  if (s.state !== SessionState.Connecting) return;
  s.user = id.user;
  if (id.info !== undefined) s.connInfo = id.info;
  s.expiresAt = id.expiresAt;
  if (cmd.name) s.clientName = cmd.name.slice(0, 64);
  s.state = SessionState.Connected;
  ctx.onConnected(s);
  const fields: Record<string, unknown> = {
    client: s.id,
    user: s.user,
    node: ctx.options.name,
    ping: ctx.options.pingInterval,
    pong: ctx.options.pongTimeout,
  };
  if (id.expiresAt > 0) fields.ttl = Math.max(0, Math.floor((id.expiresAt - ctx.clock.now()) / 1000));
  // Anonymous clients get a TURN identity per remote address (not per connection), so the TURN
  // server's quota caps every anonymous connection from one address together, and short-lived
  // credentials (issue 11 D1).
  const ice = s.user
    ? iceServers(ctx.options.ice, s.user, ctx.clock.now())
    : iceServers({ ...ctx.options.ice, ttl: Math.min(ctx.options.ice.ttl, ANONYMOUS_CREDENTIAL_TTL) }, anonymousTurnUser(ctx.options.ice.secret, s.transport.remoteAddress), ctx.clock.now());
  if (ice) fields.iceServers = ice;
  s.reply(cmd.id, fields);
}

/**
 * RTCIceServer entries for one client: STUN URLs as they are, TURN URLs with time-limited
 * credentials (`expiry:user`, base64 HMAC-SHA1 with the shared secret, as coturn's
 * use-auth-secret expects).
 */
export function iceServers(ice: NodeOptions['ice'], user: string, now: number): Array<Record<string, unknown>> | null {
  if (ice.urls.length === 0) return null;
  const stun = ice.urls.filter((u) => u.startsWith('stun'));
  const turn = ice.urls.filter((u) => u.startsWith('turn'));
  const out: Array<Record<string, unknown>> = [];
  if (stun.length > 0) out.push({ urls: stun });
  if (turn.length > 0 && ice.secret) {
    const username = `${Math.floor(now / 1000) + ice.ttl}:${user}`;
    const credential = createHmac('sha1', ice.secret).update(username).digest('base64');
    out.push({ urls: turn, username, credential });
  }
  return out;
}

async function refresh(s: Session, cmd: RefreshCommand): Promise<void> {
  let id;
  try {
    id = await s.ctx.auth.verify(cmd.token);
    if (id.user !== s.user) throw new ReplyError('unauthorized', 'refresh token is for another user');
  } catch (err) {
    if (err instanceof ReplyError) {
      const reason = err.code === 109 ? 'token_expired' : 'token_invalid';
      log.refused(reason, `refresh refused: ${err.message}`, { ip: s.transport.remoteAddress, transport: s.transport.kind, client: s.id, user: s.user }, err.code === 109 ? 'info' : 'warn');
    }
    throw err;
  }
  s.expiresAt = id.expiresAt;
  const fields: Record<string, unknown> = {};
  if (id.expiresAt > 0) fields.ttl = Math.max(0, Math.floor((id.expiresAt - s.ctx.clock.now()) / 1000));
  s.reply(cmd.id, fields);
}

async function publish(s: Session, cmd: PublishCommand): Promise<void> {
  const { ctx } = s;
  const { options: ns } = mustAuthorize('publish', cmd.ch, clientIdentity(s.user), ctx.options);
  chargePublish(s, cmd.ch, cmd.key);
  const opts: Parameters<typeof ctx.broker.publish>[2] = {
    historySize: ns.historySize,
    historyTtlMs: ns.historyTtl * 1000,
    info: s.info,
    idempotencyTtlMs: ctx.options.idempotencyTtl * 1000,
  };
  if (cmd.key !== undefined) opts.idempotencyKey = cmd.key;
  let pos;
  try {
    pos = await ctx.broker.publish(cmd.ch, cmd.data, opts);
  } catch (err) {
    throw new ReplyError('brokerUnavailable', (err as Error).message, { cause: err });
  }
  ctx.stats.publishes++;
  s.reply(cmd.id, { epoch: pos.epoch, offset: pos.offset });
}

async function presence(s: Session, cmd: PresenceCommand): Promise<void> {
  mustAuthorize('presence', cmd.ch, clientIdentity(s.user), s.ctx.options);
  const max = s.ctx.options.presencePageSize;
  const limit = Math.min(cmd.limit ?? max, max);
  const opts: PresencePageOptions = cmd.cursor === undefined ? { limit } : { limit, cursor: cmd.cursor };
  // Charged against the outbound budget before it is read and built (server/reply-budget.ts).
  await replyWithinBudget(s, cmd.id, async () => {
    let page;
    try {
      page = await s.ctx.broker.presencePage(cmd.ch, opts);
    } catch (err) {
      if (err instanceof BadCursorError) throw new ReplyError('badRequest', err.message);
      throw err;
    }
    return page.cursor === undefined ? { presence: page.clients } : { presence: page.clients, cursor: page.cursor };
  });
}

async function presenceStats(s: Session, id: number, ch: string): Promise<void> {
  mustAuthorize('presence_stats', ch, clientIdentity(s.user), s.ctx.options);
  const st = await s.ctx.broker.presenceStats(ch);
  s.reply(id, { clients: st.clients, users: st.users });
}

async function history(s: Session, cmd: HistoryCommand): Promise<void> {
  mustAuthorize('history', cmd.ch, clientIdentity(s.user), s.ctx.options);
  const opts: Parameters<typeof s.ctx.broker.history>[1] = { limit: Math.min(cmd.limit ?? 100, 1000) };
  if (cmd.since) opts.since = cmd.since;
  if (cmd.reverse) opts.reverse = true;
  // Charged against the outbound budget before it is read and built (server/reply-budget.ts).
  await replyWithinBudget(s, cmd.id, async () => {
    const h = await s.ctx.broker.history(cmd.ch, opts);
    return { epoch: h.position.epoch, offset: h.position.offset, pubs: h.publications.map(toData) };
  });
}

async function signal(s: Session, cmd: SignalCommand): Promise<void> {
  const sub = s.subs?.get(cmd.ch);
  const { options: ns } = mustAuthorize('signal', cmd.ch, clientIdentity(s.user), s.ctx.options, { member: sub !== undefined && sub.held === null });
  if (cmd.to === s.id) throw new ReplyError('badRequest', 'signal: cannot signal yourself');
  if (cmd.to === SFU_MEMBER) {
    // A request to the room's SFU (server/sfu-signaling.ts): answered `ok` once accepted.
    if (!ns.sfu) throw new ReplyError('notAvailable', 'this namespace is not an SFU namespace');
    const data = validateSignal(cmd.data);
    if (data.type !== 'sfu') throw new ReplyError('badRequest', 'signal: only data.type "sfu" may be sent to $sfu');
    const { type: _type, ...req } = data;
    s.ctx.sfuSignals.request(s, cmd.ch, req, ns.sfuMaxPublishBitrate);
    return s.reply(cmd.id);
  }
  const data = validateSignal(cmd.data);
  if (data.type === 'sfu') throw new ReplyError('badRequest', 'signal: data.type "sfu" goes to $sfu only');
  await s.ctx.signals.send(cmd.ch, cmd.to, s.info, data);
  s.reply(cmd.id);
}

export function toData(p: Publication): PublicationData {
  const d: PublicationData = { data: p.data, o: p.offset };
  if (p.info) d.info = p.info;
  return d;
}
