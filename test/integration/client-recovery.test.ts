import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { DisconnectedEvent, GapEvent, SubscribedEvent } from '../../src/client/index.ts';
import { makeClient, sleep, startFeedNode, waitFor, type Node } from './client-helpers.ts';

const cleanup: Array<() => unknown> = [];
let node: Node | undefined;
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await node?.close();
});

for (const format of ['json', 'msgpack'] as const) {
  test(`10,000 numbered publications across 5 forced disconnects arrive exactly once, in order (${format})`, async () => {
    node ??= await startFeedNode();
    const n = node;
    const ch = `feed:numbers-${format}`;
    const c = makeClient(n.wsUrl, cleanup, { format });
    const disconnects: DisconnectedEvent[] = [];
    const gaps: GapEvent[] = [];
    const subscribed: SubscribedEvent[] = [];
    const positionAtDisconnect: number[] = [];
    c.on('disconnected', (e) => {
      disconnects.push(e);
      positionAtDisconnect.push(c.getSubscription(ch)?.position?.offset ?? 0);
    });
    c.on('gap', (g) => gaps.push(g));
    await c.connect();
    const received: number[] = [];
    const sub = c.subscribe(ch, { onPublication: (p) => received.push(p.data as number), onSubscribed: (e) => subscribed.push(e) });
    await waitFor(() => sub.state === 'subscribed');

    const TOTAL = 10_000;
    const kickAt = new Set([1500, 3200, 5000, 6800, 8500]);
    let kicks = 0;
    for (let i = 1; i <= TOTAL; i++) {
      await n.publish(ch, i);
      if (kickAt.has(i)) {
        // Kick only once resubscribed, so each of the 5 disconnects exercises a full recovery.
        await waitFor(() => c.state === 'connected' && sub.state === 'subscribed', 10_000, 'resubscribed before kick');
        assert.equal(n.disconnect({ client: c.id! }, { reconnect: true }), 1);
        kicks++;
      }
      if (i % 250 === 0) await sleep(1); // let deliveries (and reconnects) interleave with publishing
    }
    await waitFor(() => received.length >= TOTAL, 20_000, `all ${TOTAL} publications (have ${received.length})`);
    await sleep(50);
    assert.equal(kicks, 5);
    assert.equal(disconnects.filter((d) => d.code === 3006 && d.reconnect).length, 5, 'five server-requested disconnects seen');
    assert.equal(received.length, TOTAL, 'no duplicates');
    for (let i = 0; i < TOTAL; i++) if (received[i] !== i + 1) assert.fail(`position ${i}: got ${received[i]}, expected ${i + 1}`);
    assert.deepEqual(gaps, [], 'no gaps: history covered every disconnect');
    const resubs = subscribed.filter((s) => s.resubscribed);
    assert.ok(resubs.length === 5 && resubs.every((s) => s.recovered === true), 'every resubscribe recovered');
    const missed = resubs.map((s, i) => s.offset - (positionAtDisconnect[i] ?? 0));
    assert.ok(missed.some((m) => m > 0), `publications were missed while disconnected and recovered (${missed.join(', ')})`);
    assert.equal(sub.position?.offset, TOTAL);
  });
}

test('a gap that history no longer covers is reported (recovered: false), never silent', async () => {
  node ??= await startFeedNode();
  const n = node;
  const c = makeClient(n.wsUrl, cleanup);
  await c.connect();
  const got: number[] = [];
  const gaps: GapEvent[] = [];
  const clientGaps: GapEvent[] = [];
  c.on('gap', (g) => clientGaps.push(g));
  const subscribed: SubscribedEvent[] = [];
  const ch = 'short:gap';
  const sub = c.subscribe(ch, { onPublication: (p) => got.push(p.offset), onGap: (g) => gaps.push(g), onSubscribed: (e) => subscribed.push(e) });
  await waitFor(() => sub.state === 'subscribed');
  await n.publish(ch, 'one');
  await waitFor(() => got.length === 1);

  c.disconnect();
  assert.equal(c.state, 'disconnected');
  for (let i = 0; i < 50; i++) await n.publish(ch, i); // offsets 2..51; history keeps only 10
  await c.connect();
  await waitFor(() => gaps.length === 1, 5000, 'gap event');
  assert.equal(gaps[0]!.recovered, false);
  assert.equal(gaps[0]!.channel, ch);
  assert.equal(gaps[0]!.reason, 'not-recovered');
  assert.equal(gaps[0]!.from, 2);
  assert.equal(gaps[0]!.to, 51);
  assert.deepEqual(clientGaps, gaps, 'the client-wide gap event too');
  assert.equal(subscribed.at(-1)?.recovered, false);

  await n.publish(ch, 'after');
  await waitFor(() => got.length === 2);
  assert.deepEqual(got, [1, 52], 'live delivery resumes from the new position');
});

test('a short disconnect within history recovers exactly the missed publications', async () => {
  node ??= await startFeedNode();
  const n = node;
  const c = makeClient(n.wsUrl, cleanup, { format: 'msgpack' });
  await c.connect();
  const got: unknown[] = [];
  const ch = 'short:ok';
  const sub = c.subscribe(ch, { onPublication: (p) => got.push(p.data) });
  await waitFor(() => sub.state === 'subscribed');
  await n.publish(ch, 'a');
  await waitFor(() => got.length === 1);
  c.disconnect();
  await n.publish(ch, 'b');
  await n.publish(ch, 'c');
  await c.connect();
  await waitFor(() => got.length === 3);
  assert.deepEqual(got, ['a', 'b', 'c']);
});
