import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, type ChannelHistory, type Pos, type SubscriberEvent } from '../../scripts/soak-verdict.ts';

/** Offsets `from..to` of `epoch`. */
const range = (epoch: string, from: number, to: number): Pos[] => Array.from({ length: to - from + 1 }, (_, i) => ({ epoch, offset: from + i }));
const subscribed = (epoch: string, offset: number): SubscriberEvent => ({ kind: 'subscribed', epoch, offset });
const pubs = (ps: Pos[]): SubscriberEvent[] => ps.map((p) => ({ kind: 'publication', ...p }));
const gap = (epoch: string, from?: number, to?: number): SubscriberEvent => ({ kind: 'gap', epoch, ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
const channel = (published: Pos[], subscribers: SubscriberEvent[][], epochs = ['A']): ChannelHistory[] => [{ channel: 'c', epochs, published, subscribers }];

test('soak verdict: publications at or before the first subscription do not count (the case from the issue)', () => {
  // Publications 1..5 were acknowledged before this subscriber's subscription took effect at A:5.
  // The old verdict expected every acknowledged publication of every subscriber, found 1..5
  // missing with no report and called it a silent loss (durable runs: 234, 79, 269 such pairs).
  // A:11 was stored and delivered but its publisher got an error: delivered, never expected.
  const h = channel(range('A', 1, 10), [[subscribed('A', 5), ...pubs(range('A', 6, 11))], [subscribed('A', 0), ...pubs(range('A', 1, 11))]]);
  for (const durable of [false, true]) {
    const v = judge(h, { durable });
    assert.deepEqual(v.failures, [], `durable=${durable}`);
    assert.equal(v.total.expected, 15);
    assert.equal(v.total.lost, 0);
    assert.equal(v.total.delivered, 17);
    assert.equal(v.total.unacknowledged, 1);
  }
});

test('soak verdict: a missing publication after the start, never reported, is a silent loss in both modes', () => {
  const h = channel(range('A', 1, 10), [[subscribed('A', 3), ...pubs([...range('A', 4, 7), ...range('A', 9, 10)])]]);
  for (const durable of [false, true]) {
    const v = judge(h, { durable });
    assert.equal(v.ok, false);
    assert.equal(v.total.silent, 1);
    assert.match(v.failures.join(), /SILENT LOSS of 1/);
    assert.deepEqual(v.channels[0]!.samples, [{ subscriber: 0, publication: { epoch: 'A', offset: 8 }, start: { epoch: 'A', offset: 3 }, reported: false }]);
  }
});

test('soak verdict: an epoch change excuses the old tail after the position and the reported new range, nothing else', () => {
  // At the reset the subscriber had processed A up to 6; A:7..10 died with the stream. A hole at A:4
  // (below its position) was its to get: the old verdict excused it, as sent before the report.
  const published = [...range('A', 1, 10), ...range('B', 1, 5)];
  const events = [subscribed('A', 0), ...pubs([...range('A', 1, 3), ...range('A', 5, 6)]), gap('B', 1, 2), ...pubs(range('B', 3, 4))];
  const v = judge(channel(published, [events], ['A', 'B']), { durable: false });
  assert.equal(v.total.expected, 15);
  assert.equal(v.total.lost, 8, 'A:4, A:7..10, B:1..2, B:5');
  assert.equal(v.total.reported, 6, 'A:7..10 (the lost tail) and B:1..2 (the reported range)');
  assert.equal(v.total.reportedAsTail, 4);
  assert.equal(v.total.silent, 2, 'A:4 below the position, B:5 after the reported range');
  assert.equal(v.ok, false);
});

test('soak verdict: a reported gap is excused in non-durable mode only; durable mode fails on it', () => {
  const cases: Array<{ name: string; h: ChannelHistory[]; reported: number }> = [
    {
      name: 'stream reset (Redis restart without persistence)',
      h: channel([...range('A', 1, 8), ...range('B', 1, 4)], [[subscribed('A', 2), ...pubs(range('A', 3, 5)), gap('B', 1, 2), ...pubs(range('B', 3, 4))]], ['A', 'B']),
      reported: 5, // A:6..8, B:1..2
    },
    { name: 'a range in the same epoch', h: channel(range('A', 1, 5), [[subscribed('A', 0), ...pubs(range('A', 1, 2)), gap('A', 3, 3), ...pubs(range('A', 4, 5))]]), reported: 1 },
    {
      name: 'an epoch skipped whole (A → C; B lived and died while the subscriber was away)',
      h: channel([...range('A', 1, 2), ...range('B', 1, 3), ...range('C', 1, 2)], [[subscribed('A', 0), ...pubs(range('A', 1, 2)), gap('C'), ...pubs(range('C', 1, 2))]], ['A', 'B', 'C']),
      reported: 3,
    },
  ];
  for (const c of cases) {
    const loose = judge(c.h, { durable: false });
    assert.deepEqual(loose.failures, [], c.name);
    assert.equal(loose.total.reported, c.reported, c.name);
    assert.equal(loose.total.silent, 0, c.name);
    const strict = judge(c.h, { durable: true });
    assert.equal(strict.ok, false, c.name);
    assert.match(strict.failures.join(), /LOSS of \d+ reported/, c.name);
    assert.match(strict.failures.join(), /gap reports/, c.name);
  }
});

test('soak verdict: durable mode fails on a gap report or an epoch change even when nothing acknowledged is missing', () => {
  // The reported offset was never acknowledged (its publisher's ack was cut off), so nothing the
  // verdict expects is missing, but a durable broker has nothing to report.
  const v = judge(channel(range('A', 1, 2), [[subscribed('A', 0), ...pubs(range('A', 1, 2)), gap('A', 3, 3)]]), { durable: true });
  assert.equal(v.total.lost, 0);
  assert.deepEqual(v.failures, ['1 gap reports: a durable broker must leave nothing to report']);
  const reset = judge(channel([...range('A', 1, 2), ...range('B', 1, 1)], [[subscribed('A', 2), gap('B'), ...pubs(range('B', 1, 1))]], ['A', 'B']), { durable: true });
  assert.match(reset.failures.join(), /epoch changed on c/);
  assert.equal(judge(channel([...range('A', 1, 2), ...range('B', 1, 1)], [[subscribed('A', 2), gap('B'), ...pubs(range('B', 1, 1))]], ['A', 'B']), { durable: false }).ok, true);
});

test('soak verdict: a range-less report covers nothing of its own epoch', () => {
  const v = judge(channel([...range('A', 1, 2), ...range('B', 1, 3)], [[subscribed('A', 2), gap('B'), ...pubs(range('B', 2, 3))]], ['A', 'B']), { durable: false });
  assert.equal(v.total.silent, 1, 'B:1');
});

test('soak verdict: duplicates fail in both modes', () => {
  const h = channel(range('A', 1, 3), [[subscribed('A', 0), ...pubs([...range('A', 1, 3), { epoch: 'A', offset: 2 }])]]);
  for (const durable of [false, true]) {
    const v = judge(h, { durable });
    assert.equal(v.total.duplicated, 1);
    assert.deepEqual(v.failures, ['1 duplicate deliveries']);
  }
});

test('soak verdict: a subscriber that never subscribed, or a run with nothing acknowledged, fails', () => {
  assert.deepEqual(judge(channel(range('A', 1, 3), [[]]), { durable: false }).failures, ['1 subscriptions never took effect']);
  assert.deepEqual(judge(channel([], [[subscribed('A', 0)]]), { durable: false }).failures, ['nothing was acknowledged']);
});

test('soak verdict: publications of an epoch before the start epoch are not expected', () => {
  // Subscribed after a reset, in B: nothing of A was its to get.
  const v = judge(channel([...range('A', 1, 4), ...range('B', 1, 3)], [[subscribed('B', 1), ...pubs(range('B', 2, 3))]], ['A', 'B']), { durable: false });
  assert.equal(v.total.expected, 2);
  assert.equal(v.ok, true);
});
