/**
 * Subscribe with exact recovery (docs/protocol.md "sub").
 *
 * Order matters and is why this has its own file:
 * 1. join the hub first, holding live publications, so none published during the next steps is
 *    missed;
 * 2. read the stream's top position (and, when recovering, history after the client's position);
 * 3. send the reply (with the first recovery page), then further pages as ordinary pushes, paced
 *    by the transport's drain, until the client has caught up — no fixed cap;
 * 4. release the held live publications, dropping those already sent (offset ≤ last sent).
 * If more live publications arrive during a long recovery than can be held, they are dropped from
 * the hold and read back from history instead, so memory stays bounded and nothing is skipped.
 */
import { ReplyError } from '../protocol/errors.ts';
import type { PubPush, SubscribeCommand } from '../protocol/frames.ts';
import { authorize, clientIdentity, mustAuthorize } from './authorize.ts';
import { toData } from './commands.ts';
import { waitForRoom } from './reply-budget.ts';
import { SessionState, type Session, type SubState } from './session.ts';

export async function subscribe(s: Session, cmd: SubscribeCommand): Promise<void> {
  const { ctx } = s;
  const ch = cmd.ch;
  const who = clientIdentity(s.user);
  const { options: ns } = mustAuthorize('subscribe', ch, who, ctx.options);
  // Recovery replays history, so it needs history read as well. Without it the subscription (which
  // is permitted) is made and the reply says `recovered: false`: nothing is replayed, nothing is
  // lost silently, and a reconnecting client keeps its subscription.
  const wanted = cmd.recover && ns.recover ? cmd.recover : undefined;
  const recover = wanted && !(authorize('recover', ch, who, ctx.options) instanceof ReplyError) ? wanted : undefined;
  s.subs ??= new Map();
  if (s.subs.has(ch)) throw new ReplyError('alreadySubscribed');
  if (s.subs.size >= ctx.options.maxSubscriptions) throw new ReplyError('limitExceeded', `at most ${ctx.options.maxSubscriptions} subscriptions`);

  const sub: SubState = { ns, epoch: '', lastOffset: 0, held: [], heldOverflow: false };
  /** Whether this subscribe counted itself into the room's signal routing (undone on failure). */
  let joinedRoom = false;
  s.subs.set(ch, sub);
  // gone(): the session closed (nobody to answer), or the subscription was dropped under us
  // (stream reset, concurrent unsub): answer with a temporary error so the client retries.
  const gone = () => {
    if (s.state === SessionState.Closed) return true;
    if (s.subs?.get(ch) !== sub) throw new ReplyError('brokerUnavailable', 'channel stream was reset while subscribing; retry');
    return false;
  };
  try {
    await ctx.hub.add(ch, s);
    if (gone()) return;
    const pageSize = ctx.options.recoveryPageSize;
    // The first recovery page rides in the reply: charged against the outbound budget before it
    // is read (server/reply-budget.ts), so many recovering subs in one message stay bounded.
    if (recover && !(await waitForRoom(s, ctx.options.maxQueueBytes >> 2))) return;
    if (gone()) return;
    // create: the position handed to a subscriber must stay valid for its recovery.
    const first = await ctx.broker.history(ch, recover ? { since: recover, limit: pageSize, create: true } : { limit: 0, create: true });
    if (gone()) return;
    const top = first.position;
    sub.epoch = top.epoch;
    const reply: Record<string, unknown> = { epoch: top.epoch, offset: top.offset, recoverable: ns.recover };
    let recovered = false;
    if (wanted) {
      const pubs = first.publications;
      recovered =
        recover !== undefined &&
        recover.epoch === top.epoch &&
        recover.offset <= top.offset &&
        (recover.offset === top.offset || pubs[0]?.offset === recover.offset + 1);
      reply.recovered = recovered;
      if (recovered) {
        reply.pubs = pubs.map(toData);
        sub.lastOffset = pubs.length > 0 ? pubs[pubs.length - 1]!.offset : wanted.offset;
        ctx.stats.recoveries++;
      } else {
        ctx.stats.recoveryGaps++;
      }
    }
    if (!recovered) sub.lastOffset = top.offset;
    s.reply(cmd.id, reply);

    if (recovered) {
      // Further pages until caught up with the top as of the last read.
      let lastPageFull = first.publications.length === pageSize;
      while (lastPageFull || sub.heldOverflow) {
        if (sub.heldOverflow) {
          sub.held = [];
          sub.heldOverflow = false;
        }
        if (!(await waitForRoom(s, ctx.options.maxQueueBytes >> 2))) return;
        if (gone()) return;
        const page = await ctx.broker.history(ch, { since: { epoch: sub.epoch, offset: sub.lastOffset }, limit: pageSize, create: true });
        if (gone()) return;
        const pubs = page.publications;
        if (page.position.epoch !== sub.epoch || (pubs.length > 0 && pubs[0]!.offset !== sub.lastOffset + 1) || (pubs.length === 0 && page.position.offset > sub.lastOffset)) {
          // History was trimmed or reset while we paged: tell the client instead of skipping.
          s.unsubscribeLocal(ch);
          s.send({ t: 'unsub', ch, code: 3009, reason: 'insufficient state', resubscribe: true });
          return;
        }
        for (const p of pubs) {
          const push: PubPush = { t: 'pub', ch, data: p.data, o: p.offset, e: sub.epoch };
          if (p.info) push.info = p.info;
          s.send(push);
        }
        if (pubs.length > 0) sub.lastOffset = pubs[pubs.length - 1]!.offset;
        lastPageFull = pubs.length === pageSize;
      }
    }

    if (ns.signaling) {
      await ctx.signals.join(ch);
      joinedRoom = true;
      if (gone()) {
        ctx.signals.leave(ch);
        return;
      }
    }
    const held = sub.held ?? [];
    sub.held = null;
    for (const env of held) s.sendPub(sub, env);

    if (ns.presence) {
      await ctx.broker.presenceAdd(ch, s.id, s.info, ctx.options.presenceTtl * 1000);
      s.nextPresenceAt = Math.min(s.nextPresenceAt || Infinity, ctx.clock.now() + (ctx.options.presenceTtl * 1000) / 3);
    }
    if (ns.joinLeave) await ctx.broker.publishJoin(ch, s.info);
  } catch (err) {
    if (joinedRoom && sub.held !== null) ctx.signals.leave(ch);
    if (s.subs?.get(ch) === sub) {
      s.subs.delete(ch);
      ctx.hub.remove(ch, s);
    }
    if (err instanceof ReplyError) throw err;
    throw new ReplyError('brokerUnavailable', (err as Error).message, { cause: err });
  }
}
