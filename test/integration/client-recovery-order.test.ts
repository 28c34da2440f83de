/**
 * Event order on a resubscribe with recovery (issue 13 item 4), with a real node and the Node SDK
 * over a real WebSocket: `subscribed` (with `wasRecovering`/`recovered`) comes first, then the
 * replayed publications in offset order, then live ones, so an app that resets its view in
 * onSubscribed keeps the replay. When history no longer covers the gap, `subscribed` with
 * `recovered: false` comes before the `gap`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SubscribedEvent } from '../../src/client/index.ts';
import { makeClient, startFeedNode, waitFor, type Node } from './client-helpers.ts';

const cleanup: Array<() => unknown> = [];
let node: Node | undefined;
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await node?.close();
});

test('a recovering resubscribe: subscribed first, then the replay in order, then live publications; a view reset in onSubscribed keeps them', async () => {
  node ??= await startFeedNode();
  const n = node;
  const ch = 'feed:order';
  const c = makeClient(n.wsUrl, cleanup);
  const events: string[] = [];
  const subscribed: SubscribedEvent[] = [];
  let view: unknown[] = [];
  let disconnected = 0;
  c.on('disconnected', () => disconnected++);
  const sub = c.subscribe(ch, {
    onSubscribed: (e) => {
      subscribed.push(e);
      events.push(`subscribed resubscribed=${e.resubscribed} wasRecovering=${e.wasRecovering} recovered=${e.recovered}`);
      view = []; // the app redraws from scratch here
    },
    onPublication: (p) => {
      events.push(`pub ${p.offset}`);
      view.push(p.data);
    },
    onGap: (g) => events.push(`gap ${g.reason}`),
  });
  await c.connect();
  await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
  await n.publish(ch, 'a');
  await n.publish(ch, 'b');
  await waitFor(() => events.length === 3, 5000, 'two live publications');

  // The server drops the connection and asks for a reconnect in 300 ms; publish while it is away.
  assert.equal(n.disconnect({ client: c.id! }, { reconnect: true, delay: 300 }), 1);
  await waitFor(() => disconnected === 1, 5000, 'disconnected');
  for (const d of ['c', 'd', 'e']) await n.publish(ch, d);
  await waitFor(() => events.length === 7, 10_000, `the resubscribe and three replayed publications (have ${events.join(' | ')})`);
  await n.publish(ch, 'f');
  await waitFor(() => events.length === 8, 5000, 'a live publication after the replay');

  assert.deepEqual(events, [
    'subscribed resubscribed=false wasRecovering=false recovered=undefined',
    'pub 1',
    'pub 2',
    'subscribed resubscribed=true wasRecovering=true recovered=true',
    'pub 3',
    'pub 4',
    'pub 5',
    'pub 6',
  ]);
  // The position handed to onSubscribed is the stream top; the replay fills up to it.
  assert.equal(subscribed[1]!.offset, 5);
  assert.deepEqual(view, ['c', 'd', 'e', 'f'], 'the reset in onSubscribed did not wipe the replay');
});

test('history too short: subscribed (recovered: false) first, then the gap, then live publications', async () => {
  node ??= await startFeedNode();
  const n = node;
  const ch = 'short:order';
  const c = makeClient(n.wsUrl, cleanup);
  const events: string[] = [];
  const sub = c.subscribe(ch, {
    onSubscribed: (e) => events.push(`subscribed wasRecovering=${e.wasRecovering} recovered=${e.recovered}`),
    onPublication: (p) => events.push(`pub ${p.offset}`),
    onGap: (g) => events.push(`gap ${g.reason} ${g.from}-${g.to}`),
  });
  await c.connect();
  await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
  await n.publish(ch, 1);
  await waitFor(() => events.length === 2, 5000, 'one live publication');
  c.disconnect();
  for (let i = 0; i < 20; i++) await n.publish(ch, i); // offsets 2..21; the namespace keeps 10
  await c.connect();
  await waitFor(() => events.length === 4, 5000, `resubscribe and gap (have ${events.join(' | ')})`);
  await n.publish(ch, 'live');
  await waitFor(() => events.length === 5, 5000, 'live publication');
  assert.deepEqual(events, [
    'subscribed wasRecovering=false recovered=undefined',
    'pub 1',
    'subscribed wasRecovering=true recovered=false',
    'gap not-recovered 2-21',
    'pub 22',
  ]);
});

test('unsubscribing inside onSubscribed stops the replay there', async () => {
  node ??= await startFeedNode();
  const n = node;
  const ch = 'feed:order-unsub';
  const c = makeClient(n.wsUrl, cleanup);
  const got: number[] = [];
  let resubscribes = 0;
  const sub = c.subscribe(ch, {
    onSubscribed: (e) => {
      if (!e.resubscribed) return;
      resubscribes++;
      sub.unsubscribe();
    },
    onPublication: (p) => got.push(p.offset),
  });
  await c.connect();
  await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
  await n.publish(ch, 1);
  await waitFor(() => got.length === 1, 5000, 'one live publication');
  c.disconnect();
  await n.publish(ch, 2);
  await n.publish(ch, 3);
  await c.connect();
  await waitFor(() => sub.state === 'unsubscribed', 5000, 'unsubscribed in the callback');
  await n.publish(ch, 4);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(resubscribes, 1);
  assert.deepEqual(got, [1], 'nothing replayed or delivered after the unsubscribe');
});
