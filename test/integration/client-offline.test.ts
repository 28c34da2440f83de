import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { OfflineQueueFullError, ClientClosedError, type Publication } from '../../src/client/index.ts';
import { makeClient, startFeedNode, waitFor, type Node } from './client-helpers.ts';

const cleanup: Array<() => unknown> = [];
let node: Node | undefined;
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await node?.close();
});

test('publishes made while offline are queued and flushed in order after (re)connecting, each acked once', async () => {
  node ??= await startFeedNode();
  const n = node;
  const ch = 'feed:offline';
  const watcher = makeClient(n.wsUrl, cleanup);
  await watcher.connect();
  const seen: Publication[] = [];
  const wsub = watcher.subscribe(ch, { onPublication: (p) => seen.push(p) });
  await waitFor(() => wsub.state === 'subscribed');

  const c = makeClient(n.wsUrl, cleanup, { format: 'msgpack' });
  // Before the first connect.
  const first = [1, 2, 3].map((i) => c.publish(ch, `before-${i}`));
  assert.equal(c.offlineQueueSize, 3);
  await c.connect();
  const acks = await Promise.all(first);
  assert.deepEqual(acks.map((a) => a.offset), [1, 2, 3]);
  assert.equal(c.offlineQueueSize, 0);

  // While reconnecting after a server-requested disconnect.
  n.disconnect({ client: c.id! }, { reconnect: true, delay: 300 });
  await waitFor(() => c.state === 'connecting', 2000, 'connecting');
  const second = [1, 2, 3, 4].map((i) => c.publish(ch, `during-${i}`));
  assert.equal(c.offlineQueueSize, 4);
  const acks2 = await Promise.all(second);
  assert.deepEqual(acks2.map((a) => a.offset), [4, 5, 6, 7]);

  await waitFor(() => seen.length === 7, 5000, 'watcher saw all');
  assert.deepEqual(seen.map((p) => p.data), ['before-1', 'before-2', 'before-3', 'during-1', 'during-2', 'during-3', 'during-4']);
});

test('the queue is bounded: overflow rejects the newest with OfflineQueueFullError; close() rejects the rest', async () => {
  node ??= await startFeedNode();
  const c = makeClient(node.wsUrl, cleanup, { maxOfflineQueue: 2 });
  const a = c.publish('feed:bounded', 1);
  const b = c.publish('feed:bounded', 2);
  await assert.rejects(c.publish('feed:bounded', 3), OfflineQueueFullError);
  c.close();
  await assert.rejects(a, ClientClosedError);
  await assert.rejects(b, ClientClosedError);
});

test('the same idempotency key published twice is stored once', async () => {
  node ??= await startFeedNode();
  const c = makeClient(node.wsUrl, cleanup);
  await c.connect();
  const x = await c.publish('feed:idem', 'once', { key: 'k-1' });
  const y = await c.publish('feed:idem', 'once', { key: 'k-1' });
  assert.deepEqual(y, x);
});
