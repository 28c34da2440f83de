import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Publication, SubscribedEvent } from '../../src/client/index.ts';
import { makeClient, startFeedNode, waitFor, type Node } from './client-helpers.ts';

const cleanup: Array<() => unknown> = [];
let node: Node;
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await node?.close();
});

for (const format of ['json', 'msgpack'] as const) {
  test(`subscribe / publish round trip (${format})`, async () => {
    node ??= await startFeedNode();
    const c = makeClient(node.wsUrl, cleanup, { format });
    const states: string[] = [];
    c.on('state', (e) => states.push(e.state));
    let connected: { client: string; node: string; transport: string } | undefined;
    c.on('connected', (e) => (connected = e));
    await c.connect();
    assert.equal(c.state, 'connected');
    assert.ok(c.id && connected && connected.client === c.id);
    assert.equal(connected.transport, 'websocket');
    assert.deepEqual(states, ['connecting', 'connected']);

    const got: Publication[] = [];
    const all: Publication[] = [];
    c.on('publication', (p) => all.push(p));
    let subscribed: SubscribedEvent | undefined;
    const ch = `feed:rt-${format}`;
    const sub = c.subscribe(ch, { onPublication: (p) => got.push(p), onSubscribed: (e) => (subscribed = e) });
    await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
    assert.equal(subscribed?.recoverable, true);
    assert.equal(subscribed?.resubscribed, false);

    const data = { text: 'hello', n: 1, nested: { list: [1, 2, 3] } };
    const ack = await sub.publish(data);
    assert.equal(ack.offset, 1);
    const srv = await node.publish(ch, { from: 'server' });
    assert.deepEqual(srv, { epoch: ack.epoch, offset: 2 });
    // Publishing without a subscription works too.
    const other = makeClient(node.wsUrl, cleanup, { format });
    await other.connect();
    const ack3 = await other.publish(ch, 'third');
    assert.equal(ack3.offset, 3);

    await waitFor(() => got.length === 3, 5000, 'three publications');
    assert.deepEqual(got.map((p) => p.data), [data, { from: 'server' }, 'third']);
    assert.deepEqual(got.map((p) => p.offset), [1, 2, 3]);
    assert.equal(got[0]!.info?.client, c.id, 'publisher info names the publishing client');
    assert.deepEqual(all, got, 'the client-wide publication event sees the same');
    assert.deepEqual(sub.position, { epoch: ack.epoch, offset: 3 });

    const h = await sub.history({ limit: 2 });
    assert.deepEqual(h.publications.map((p) => p.offset), [2, 3]);
    assert.equal(h.offset, 3);
    const pres = await sub.presence();
    assert.ok(c.id! in pres, 'the subscriber is present');

    sub.unsubscribe();
    assert.equal(sub.state, 'unsubscribed');
    await node.publish(ch, 'after unsubscribe');
    await other.publish(ch, 'barrier');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got.length, 3, 'nothing delivered after unsubscribe');
    c.close();
    assert.equal(c.state, 'closed');
  });
}

test('a permanent subscribe error reaches onError and the subscription ends', async () => {
  node ??= await startFeedNode();
  const c = makeClient(node.wsUrl, cleanup);
  await c.connect();
  let error: Error | undefined;
  const sub = c.subscribe('nosuchns:x', { onError: (e) => (error = e) });
  await waitFor(() => error !== undefined, 5000, 'subscribe error');
  assert.match(error!.message, /102/);
  assert.equal(sub.state, 'unsubscribed');
  assert.equal(c.getSubscription('nosuchns:x'), undefined);
});

test('listener exceptions are contained and reported as error events', async () => {
  node ??= await startFeedNode();
  const c = makeClient(node.wsUrl, cleanup);
  const errors: string[] = [];
  c.on('error', (e) => errors.push(`${e.type}:${e.channel ?? ''}:${e.error.message}`));
  await c.connect();
  const got: number[] = [];
  const sub = c.subscribe('feed:throwing', {
    onPublication: (p) => {
      got.push(p.offset);
      throw new Error('app bug');
    },
  });
  await waitFor(() => sub.state === 'subscribed');
  await node.publish('feed:throwing', 1);
  await node.publish('feed:throwing', 2);
  await waitFor(() => got.length === 2);
  assert.deepEqual(got, [1, 2], 'delivery continues after a throwing callback');
  assert.deepEqual(errors, ['callback:feed:throwing:app bug', 'callback:feed:throwing:app bug']);
  assert.equal(c.state, 'connected');
});

test('presence: presence() walks every page, presencePage() pages in join order, presenceStats() counts', async () => {
  const small = await startFeedNode({ presencePageSize: 2 });
  cleanup.push(() => small.close());
  const ch = 'feed:presence-pages';
  const clients = [];
  for (let i = 0; i < 5; i++) {
    const c = makeClient(small.wsUrl, cleanup);
    await c.connect();
    const sub = c.subscribe(ch);
    await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
    clients.push(c);
  }
  const reader = clients[0]!;
  const all = await reader.presence(ch);
  assert.deepEqual(Object.keys(all).sort(), clients.map((c) => c.id!).sort(), 'three pages of at most 2, merged');
  const first = await reader.presencePage(ch, { limit: 10 });
  assert.deepEqual(Object.keys(first.clients), clients.slice(0, 2).map((c) => c.id), 'capped by the server at 2, in join order');
  assert.equal(typeof first.cursor, 'string');
  const second = await reader.getSubscription(ch)!.presencePage({ cursor: first.cursor!, limit: 1 });
  assert.deepEqual(Object.keys(second.clients), [clients[2]!.id]);
  assert.deepEqual(await reader.presenceStats(ch), { clients: 5, users: 1 });
  for (const c of clients) c.close();
});
