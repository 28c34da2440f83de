/**
 * Redis restarted (empty) under two live nodes while a publisher keeps going: the nodes reconnect
 * and resubscribe, every client is told of the lost stream (resubscribe answered with
 * `recovered: false`, a `gap`), and publications after the restart reach clients on both nodes.
 * Nothing is delivered twice or out of order within an epoch.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type GapEvent, type Publication, type SubscribedEvent } from '../../src/client/index.ts';
import { requireService, SHARED_REDIS_URL, startRedis, type RedisProcess } from '../helpers/cluster-redis.ts';
import { apiPublish, startNodes, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { waitFor } from './client-helpers.ts';

const u = new URL(SHARED_REDIS_URL);
const available = await requireService('Redis', u.hostname, Number(u.port || 6379));
let redis: RedisProcess | undefined;
let nodes: NodeProcess[] = [];
const clients: Client[] = [];

before(async () => {
  if (!available) return;
  redis = await startRedis();
  nodes = await startNodes(['r1', 'r2'], { type: 'redis', url: redis.url });
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.kill()));
  await redis?.stop();
});

test('Redis restarted mid-stream: nodes resubscribe, clients are told of the gap and keep receiving', { skip: !available && 'no Redis (not CI)' }, async () => {
  const ch = 'feed:restart';
  const watchers = nodes.map((n) => {
    const client = new Client(n.wsUrl, { minDelay: 20, maxDelay: 300 });
    clients.push(client);
    const got: Publication[] = [];
    const gaps: GapEvent[] = [];
    const subscribed: SubscribedEvent[] = [];
    const sub = client.subscribe(ch, { onPublication: (p) => void got.push(p), onSubscribed: (e) => void subscribed.push(e) });
    client.on('gap', (g) => gaps.push(g));
    return { client, sub, got, gaps, subscribed };
  });
  await Promise.all(watchers.map((w) => w.client.connect()));
  await waitFor(() => watchers.every((w) => w.sub.state === 'subscribed'), 10_000, 'subscribed');

  const publisher = nodes[1]!;
  const publishWithRetry = async (i: number) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await apiPublish(publisher.httpUrl, ch, i, `n${i}`);
      } catch (err) {
        if (attempt > 200) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  };
  const N = 600;
  let firstEpoch = '';
  let lastPos = { epoch: '', offset: 0 };
  for (let i = 1; i <= N; i++) {
    if (i === 301) await redis!.restart();
    lastPos = await publishWithRetry(i);
    if (i === 1) firstEpoch = lastPos.epoch;
  }
  assert.notEqual(lastPos.epoch, firstEpoch, 'the restarted Redis started a new epoch');

  for (const [k, w] of watchers.entries()) {
    await waitFor(() => w.got.some((p) => p.data === N), 20_000, `client ${k} receives the last publication`);
    // Within an epoch: strictly increasing offsets, never a duplicate.
    const byEpoch = new Map<string, number[]>();
    for (const p of w.got) byEpoch.set(p.epoch, [...(byEpoch.get(p.epoch) ?? []), p.offset]);
    for (const [e, offs] of byEpoch) for (let i = 1; i < offs.length; i++) assert.ok(offs[i]! > offs[i - 1]!, `client ${k} epoch ${e}: ${offs[i - 1]} then ${offs[i]}`);
    // Everything before the restart arrived, in order — except that the very last one (#300,
    // acknowledged to the publisher just before Redis was SIGKILLed without persistence) may still
    // have been in flight to this node's subscriber connection and died with it; publishes are
    // sequential, so nothing earlier can be. That loss is reported (below), not silent.
    const old = byEpoch.get(firstEpoch) ?? [];
    assert.ok(old.length === 300 || old.length === 299, `client ${k}: ${old.length} pre-restart publications`);
    assert.deepEqual(old, Array.from({ length: old.length }, (_, i) => i + 1), `client ${k}: pre-restart publications in order, no hole`);
    // Told plainly: the resubscribe after the reset could not recover across the epoch change.
    const told = w.subscribed.some((e) => e.resubscribed && e.recovered === false) || w.gaps.length > 0;
    assert.ok(told, `client ${k} was told of the gap (subscribed: ${JSON.stringify(w.subscribed)})`);
    // And after that, the new epoch flows with no hole from where it resumed.
    const after = byEpoch.get(lastPos.epoch) ?? [];
    assert.ok(after.length > 0 && after.at(-1) === lastPos.offset, `client ${k}: new epoch through ${lastPos.offset}`);
    for (let i = 1; i < after.length; i++) assert.equal(after[i], after[i - 1]! + 1, `client ${k}: contiguous in the new epoch`);
  }
  for (const n of nodes) assert.match(n.output(), /resubscribed \d+ channels/, `node ${n.name} resubscribed`);
});
