/**
 * Three real nodes (child processes) on one Redis. Clients on different nodes exchange
 * publications; a node SIGKILLed mid-stream loses its clients to the other nodes, and 10,000
 * numbered publications still reach every client exactly once, in order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type GapEvent, type Publication, type SubscribedEvent } from '../../src/client/index.ts';
import { deletePrefix, requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { apiPublish, roundRobinWebSocket, startNodes, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { waitFor } from './client-helpers.ts';

const u = new URL(SHARED_REDIS_URL);
const available = await requireService('Redis', u.hostname, Number(u.port || 6379));
const prefix = `sbit-failover-${process.pid}`;
let nodes: NodeProcess[] = [];
const clients: Client[] = [];

before(async () => {
  if (available) nodes = await startNodes(['a', 'b', 'c'], { type: 'redis', url: SHARED_REDIS_URL, prefix });
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.kill()));
  if (available) await deletePrefix(SHARED_REDIS_URL, prefix);
});

test('clients on different nodes exchange publications', { skip: !available && 'no Redis (not CI)' }, async () => {
  const [a, b] = nodes as [NodeProcess, NodeProcess];
  const ca = new Client(a.wsUrl, { minDelay: 20, maxDelay: 200 });
  const cb = new Client(b.wsUrl, { minDelay: 20, maxDelay: 200 });
  clients.push(ca, cb);
  const got: Record<string, Publication[]> = { a: [], b: [] };
  const sa = ca.subscribe('feed:chat', { onPublication: (p) => void got.a!.push(p) });
  const sb = cb.subscribe('feed:chat', { onPublication: (p) => void got.b!.push(p) });
  await Promise.all([ca.connect(), cb.connect()]);
  await waitFor(() => sa.state === 'subscribed' && sb.state === 'subscribed', 10_000, 'subscribed');
  const p1 = await ca.publish('feed:chat', 'from a');
  const p2 = await cb.publish('feed:chat', 'from b');
  assert.equal(p2.offset, p1.offset + 1);
  await waitFor(() => got.a!.length === 2 && got.b!.length === 2, 5000, 'both publications on both nodes');
  for (const side of ['a', 'b']) assert.deepEqual(got[side]!.map((p) => [p.data, p.offset]), [['from a', p1.offset], ['from b', p2.offset]]);
  assert.equal(got.b![0]!.info?.client, ca.id, 'publisher info crosses nodes');
});

test('SIGKILL a node mid-stream: its clients reconnect elsewhere and 10,000 publications arrive exactly once, in order', { skip: !available && 'no Redis (not CI)' }, async () => {
  const [a, , c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  const urls = nodes.map((n) => n.wsUrl);
  const ch = 'feed:numbers';
  const N = 10_000;
  const KILL_AT = 3000;
  const subs = Array.from({ length: 3 }, () => {
    const ws = roundRobinWebSocket(() => urls, 0); // every client starts on node a
    const client = new Client(a.wsUrl, { minDelay: 20, maxDelay: 300, websocket: ws });
    clients.push(client);
    const got: Publication[] = [];
    const gaps: GapEvent[] = [];
    const subscribed: SubscribedEvent[] = [];
    const sub = client.subscribe(ch, { onPublication: (p) => void got.push(p), onSubscribed: (e) => void subscribed.push(e) });
    client.on('gap', (g) => gaps.push(g));
    return { client, ws, sub, got, gaps, subscribed };
  });
  await Promise.all(subs.map((s) => s.client.connect()));
  await waitFor(() => subs.every((s) => s.sub.state === 'subscribed'), 20_000, 'subscribed');
  assert.ok(subs.every((s) => s.ws.used.length === 1 && s.ws.used[0] === a.wsUrl));

  // The publisher is a backend service talking to node c's HTTP API, 20 requests in flight.
  const dataAt = new Map<number, number>();
  let next = 1;
  let killed: Promise<void> | undefined;
  const worker = async () => {
    while (next <= N) {
      const i = next++;
      const pos = await apiPublish(c.httpUrl, ch, i);
      dataAt.set(pos.offset, i);
      if (i === KILL_AT) killed = a.kill('SIGKILL');
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  await killed;
  await waitFor(() => subs.every((s) => s.got.length >= N), 60_000, `${N} publications on every client (have ${subs.map((s) => s.got.length).join(', ')})`);
  await new Promise((r) => setTimeout(r, 100));

  const epoch = subs[0]!.got[0]!.epoch;
  for (const [k, s] of subs.entries()) {
    assert.equal(s.got.length, N, `client ${k}: exactly once`);
    for (let i = 0; i < N; i++) {
      const p = s.got[i]!;
      if (p.offset !== i + 1 || p.epoch !== epoch || p.data !== dataAt.get(p.offset)) assert.fail(`client ${k}, #${i}: offset ${p.offset} data ${String(p.data)}`);
    }
    assert.deepEqual(s.gaps, [], `client ${k}: no gaps`);
    assert.ok(s.ws.used.length >= 2 && s.ws.used.at(-1) !== a.wsUrl, `client ${k} moved off the killed node: ${s.ws.used.join(' ')}`);
    const resub = s.subscribed.filter((e) => e.resubscribed);
    assert.ok(resub.length >= 1 && resub.every((e) => e.recovered === true), `client ${k} recovered`);
  }
  assert.deepEqual([...dataAt.values()].sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i + 1));
});
