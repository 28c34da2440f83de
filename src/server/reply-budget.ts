/**
 * Replies are charged against the connection's outbound budget before they are built (DESIGN.md
 * principle 3; docs/protocol.md "Outbound budget").
 *
 * Why this exists: a client can put 256 `history` frames (each up to 1,000 publications) in one
 * small message. Dispatched at once, every reply would be read from the broker and encoded within
 * the same event-loop turn, before the flush compares the queue with `maxQueueBytes` — a few
 * hundred bytes in, hundreds of megabytes held. So replies that may be large (history and
 * presence pages here, recovery pages in subscribe.ts) go through one lane per session:
 *   1. they are produced one at a time, in arrival order;
 *   2. before a reply is read and built, the budget must not be spent (queued bytes below
 *      `maxQueueBytes`); while it is, the reply waits for the client to drain its queue;
 *   3. once built, the reply is queued only when it fits into what is left of the budget; a reply
 *      larger than the whole budget is refused with error 106 (ask for fewer);
 *   4. a queue that makes no progress for `pongTimeout` while a reply waits ends the connection
 *      as a slow consumer (3004), like any other full queue.
 * So one connection holds at most its budget plus the one page being built. Commands waiting in
 * the lane count as in flight, so past `maxInflight` the session stops reading (TCP backpressure).
 */
import { disconnect } from '../protocol/codes.ts';
import { ReplyError } from '../protocol/errors.ts';
import { SessionState, type Session } from './session.ts';

/** Poll period while waiting for the client to drain its queue. */
const WAIT_STEP_MS = 5;

/**
 * Produces one reply through the session's reply lane: waits until the budget is not spent, calls
 * `read` (the broker read that yields the reply's fields), encodes `{t:'ok', id, ...fields}`, and
 * queues it once it fits into the remaining budget. Errors thrown by `read` reach the caller.
 * Resolves without replying if the session closed meanwhile (including as slow, 3004).
 */
export function replyWithinBudget(s: Session, id: number, read: () => Promise<Record<string, unknown>>): Promise<void> {
  const prev = s.replyLane;
  const mine = (async () => {
    if (prev) await prev;
    const max = s.ctx.options.maxQueueBytes;
    if (!(await waitForRoom(s, max - 1))) return;
    const fields = await read();
    if (s.state === SessionState.Closed) return;
    const buf = s.transport.format.encode({ t: 'ok', id, ...fields });
    if (buf.length > max) {
      throw new ReplyError('limitExceeded', `reply of ${buf.length} bytes exceeds the connection's outbound budget of ${max} bytes; ask for fewer (limit)`);
    }
    if (!(await waitForRoom(s, max - buf.length))) return;
    s.enqueue(s.ctx.stats.sent('ok', buf));
  })();
  // The lane's tail never rejects: a failed reply must not stall the ones behind it.
  const tail = mine.then(noop, noop);
  s.replyLane = tail;
  void tail.then(() => {
    if (s.replyLane === tail) s.replyLane = null;
  });
  return mine;
}

/**
 * Waits until the session's queued outbound bytes are at most `limit`. Resolves true then, false
 * if the session closed. A queue that does not shrink for `pongTimeout` closes the session as a
 * slow consumer (3004): the client is not reading.
 */
export async function waitForRoom(s: Session, limit: number): Promise<boolean> {
  const { clock, options, stats } = s.ctx;
  let last = s.queuedBytes;
  let since = clock.now();
  while (s.state !== SessionState.Closed && s.queuedBytes > limit) {
    const q = s.queuedBytes;
    const now = clock.now();
    if (q < last) {
      last = q;
      since = now;
    } else if (now - since >= options.pongTimeout * 1000) {
      stats.slowDisconnects++;
      s.close(disconnect('slow'));
      return false;
    }
    await new Promise<void>((resolve) => clock.setTimeout(resolve, WAIT_STEP_MS));
  }
  return s.state !== SessionState.Closed;
}

function noop(): void {}
