/**
 * The chaos soak's verdict (scripts/soak.ts), a pure function of what the soak recorded, so it can
 * be unit-tested with hand-made histories (test/unit/soak-verdict.test.ts).
 *
 * Per subscriber, the publications it must get are the acknowledged ones after its starting
 * position: the stream top in its first `subscribed` event, compared within that epoch; every
 * publication of a later epoch counts; publications at or below the start, or of an earlier epoch,
 * were sent before the subscription took effect and nobody should receive them.
 *
 * What a gap report (the SDK's `onGap`, also surfaced for `recovered: false`) accounts for:
 * - a range `from..to` covers those offsets of its own epoch, nothing else;
 * - a report in another epoch than the subscriber's current one (a stream reset) also covers
 *   what could no longer be recovered: the old epoch's offsets *after* the subscriber's position at
 *   that moment (the tail of a stream that no longer exists, which the protocol cannot name) and
 *   every epoch that came and went in between. An old-epoch offset at or below that position was
 *   the subscriber's to get before the reset; missing it is not excused.
 * - a range-less report covers nothing of its own epoch.
 *
 * Modes:
 * - non-durable (Redis without persistence; a restart loses the streams): a missing publication
 *   covered by a report is a *reported* loss and allowed; one not covered is a SILENT LOSS (fail).
 * - durable (Redis with `appendfsync always`; nothing acknowledged may vanish): any missing
 *   publication fails, reported or not; so does any gap report and any epoch change.
 * Both: a publication delivered twice to one subscriber fails, so does a subscriber that never got
 * its first `subscribed` event (it would otherwise expect nothing and pass), so does a run in which
 * nothing was acknowledged.
 */

/** A position in a channel stream. */
export interface Pos {
  epoch: string;
  offset: number;
}

/** What one subscriber's SDK callbacks reported, in the order they fired. */
export type SubscriberEvent =
  | { kind: 'subscribed'; epoch: string; offset: number }
  | { kind: 'publication'; epoch: string; offset: number }
  | { kind: 'gap'; epoch: string; from?: number; to?: number };

/** One channel's record. */
export interface ChannelHistory {
  channel: string;
  /** Every epoch seen on the channel, in the order it was first seen (which is creation order). */
  epochs: readonly string[];
  /** Positions acknowledged to publishers. */
  published: readonly Pos[];
  /** One event list per subscriber. */
  subscribers: ReadonlyArray<readonly SubscriberEvent[]>;
}

export interface ChannelVerdict {
  channel: string;
  epochs: number;
  published: number;
  /** Sum over subscribers of the publications each had to get. */
  expected: number;
  delivered: number;
  duplicated: number;
  /** Expected (subscriber, publication) pairs never delivered. */
  lost: number;
  /** Of `lost`, those covered by a gap report. */
  reported: number;
  /** Of `reported`, those covered only as a lost stream's tail or a skipped epoch (no range named them). */
  reportedAsTail: number;
  /** Of `lost`, those nobody was told about. */
  silent: number;
  gapReports: number;
  /** Subscribers without a first `subscribed` event. */
  neverSubscribed: number;
  /** Positions delivered to some subscriber but never acknowledged (the publisher saw an error or no reply). */
  unacknowledged: number;
  /** The first few lost pairs, for whoever investigates a failure. */
  samples: LostSample[];
}

/** One lost (subscriber, publication) pair. */
export interface LostSample {
  /** Index of the subscriber in the channel's list. */
  subscriber: number;
  publication: Pos;
  start: Pos;
  reported: boolean;
}

/** Lost pairs kept per channel as samples. */
const SAMPLES = 5;

export interface Verdict {
  channels: ChannelVerdict[];
  total: Omit<ChannelVerdict, 'channel' | 'epochs' | 'samples'>;
  ok: boolean;
  /** Why it failed (empty when ok). */
  failures: string[];
}

/** Inclusive offset ranges per epoch. */
type Covered = Map<string, Array<[number, number]>>;

function cover(c: Covered, epoch: string, from: number, to: number): void {
  const list = c.get(epoch) ?? [];
  list.push([from, to]);
  c.set(epoch, list);
}

function isCovered(c: Covered, p: Pos): boolean {
  return (c.get(p.epoch) ?? []).some(([a, b]) => p.offset >= a && p.offset <= b);
}

const key = (p: Pos): string => `${p.epoch}:${p.offset}`;

interface SubscriberResult {
  start: Pos | undefined;
  got: Map<string, number>;
  /** Offsets named by a report's range. */
  ranges: Covered;
  /** A reset's lost tail and skipped epochs. */
  tails: Covered;
  gapReports: number;
}

/** Replays one subscriber's events: start position, deliveries, and what its gap reports cover. */
function replay(events: readonly SubscriberEvent[], epochs: readonly string[], order: (epoch: string) => number): SubscriberResult {
  const r: SubscriberResult = { start: undefined, got: new Map(), ranges: new Map(), tails: new Map(), gapReports: 0 };
  let cur: Pos | undefined;
  for (const ev of events) {
    if (ev.kind === 'subscribed') {
      // Later `subscribed` events (resubscribes) do not move the position: recovered publications
      // follow them, and a failed recovery is reported as a gap.
      if (!r.start) r.start = cur = { epoch: ev.epoch, offset: ev.offset };
    } else if (ev.kind === 'publication') {
      const k = key(ev);
      r.got.set(k, (r.got.get(k) ?? 0) + 1);
      if (!cur || cur.epoch !== ev.epoch || ev.offset > cur.offset) cur = { epoch: ev.epoch, offset: ev.offset };
    } else {
      r.gapReports++;
      if (ev.from !== undefined) cover(r.ranges, ev.epoch, ev.from, ev.to ?? Number.MAX_SAFE_INTEGER);
      if (cur && cur.epoch !== ev.epoch && order(ev.epoch) > order(cur.epoch)) {
        // A stream reset: the old stream's tail after our position, and any epoch that lived and
        // died in between, can no longer be recovered.
        cover(r.tails, cur.epoch, cur.offset + 1, Number.MAX_SAFE_INTEGER);
        for (const e of epochs.slice(order(cur.epoch) + 1, order(ev.epoch))) cover(r.tails, e, 0, Number.MAX_SAFE_INTEGER);
        cur = { epoch: ev.epoch, offset: ev.to ?? 0 };
      } else if (cur && cur.epoch === ev.epoch && ev.to !== undefined) {
        cur = { epoch: ev.epoch, offset: Math.max(cur.offset, ev.to) };
      } else if (!cur) {
        cur = { epoch: ev.epoch, offset: ev.to ?? 0 };
      }
    }
  }
  return r;
}

/** Counts one channel (the same in both modes; `judge` applies the mode). */
export function judgeChannel(h: ChannelHistory): ChannelVerdict {
  const order = (epoch: string): number => {
    const i = h.epochs.indexOf(epoch);
    if (i < 0) throw new Error(`soak verdict: epoch ${epoch} of ${h.channel} is not in its epoch list`);
    return i;
  };
  const v: ChannelVerdict = { channel: h.channel, epochs: h.epochs.length, published: h.published.length, expected: 0, delivered: 0, duplicated: 0, lost: 0, reported: 0, reportedAsTail: 0, silent: 0, gapReports: 0, neverSubscribed: 0, unacknowledged: 0, samples: [] };
  const acked = new Set(h.published.map(key));
  const unacked = new Set<string>();
  for (const [i, events] of h.subscribers.entries()) {
    const r = replay(events, h.epochs, order);
    v.gapReports += r.gapReports;
    for (const [k, n] of r.got) {
      if (!acked.has(k)) unacked.add(k);
      v.delivered += n;
      v.duplicated += n - 1;
    }
    if (!r.start) {
      v.neverSubscribed++;
      continue;
    }
    const start = r.start;
    const startOrder = order(start.epoch);
    for (const p of h.published) {
      const o = order(p.epoch);
      if (o < startOrder || (o === startOrder && p.offset <= start.offset)) continue;
      v.expected++;
      if (r.got.has(key(p))) continue;
      v.lost++;
      const asRange = isCovered(r.ranges, p);
      const asTail = !asRange && isCovered(r.tails, p);
      if (asRange || asTail) v.reported++;
      else v.silent++;
      if (asTail) v.reportedAsTail++;
      if (v.samples.length < SAMPLES) v.samples.push({ subscriber: i, publication: p, start, reported: asRange || asTail });
    }
  }
  v.unacknowledged = unacked.size;
  return v;
}

/** Judges the whole run (see the module comment for the rules of each mode). */
export function judge(history: readonly ChannelHistory[], opts: { durable: boolean }): Verdict {
  const channels = history.map(judgeChannel);
  const total: Verdict['total'] = { published: 0, expected: 0, delivered: 0, duplicated: 0, lost: 0, reported: 0, reportedAsTail: 0, silent: 0, gapReports: 0, neverSubscribed: 0, unacknowledged: 0 };
  for (const c of channels) for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += c[k];
  const failures: string[] = [];
  if (total.published === 0) failures.push('nothing was acknowledged');
  if (total.neverSubscribed > 0) failures.push(`${total.neverSubscribed} subscriptions never took effect`);
  if (total.duplicated > 0) failures.push(`${total.duplicated} duplicate deliveries`);
  if (total.silent > 0) failures.push(`SILENT LOSS of ${total.silent} (subscriber, publication) pairs`);
  if (opts.durable) {
    if (total.reported > 0) failures.push(`LOSS of ${total.reported} reported (subscriber, publication) pairs: a durable broker must lose nothing`);
    if (total.gapReports > 0) failures.push(`${total.gapReports} gap reports: a durable broker must leave nothing to report`);
    const reset = channels.filter((c) => c.epochs > 1).map((c) => c.channel);
    if (reset.length > 0) failures.push(`epoch changed on ${reset.join(', ')}: a durable broker must keep its streams`);
  }
  return { channels, total, ok: failures.length === 0, failures };
}
