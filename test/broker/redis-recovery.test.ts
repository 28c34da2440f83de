/**
 * Redis broker behaviour beyond the contract, on a private redis-server we can kill: delivery
 * survives a dropped subscriber connection (missed publications are read back from history, in
 * order, once), a Redis that comes back empty makes the node's subscribers resubscribe, and the
 * cost of one publication in Redis commands.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { BrokerHandler, Publication } from '../../src/broker/broker.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import type { ClientInfo } from '../../src/protocol/frames.ts';
import { requireService, SHARED_REDIS_URL, startRedis, type RedisProcess } from '../helpers/cluster-redis.ts';

class Rec implements BrokerHandler {
  pubs: Array<{ ch: string; pub: Publication; epoch: string }> = [];
  onPublication(ch: string, pub: Publication, epoch: string) {
    this.pubs.push({ ch, pub, epoch });
  }
  onJoin(_c: string, _i: ClientInfo) {}
  onLeave(_c: string, _i: ClientInfo) {}
  resets: string[] = [];
  onStreamReset(ch: string) {
    this.resets.push(ch);
  }
}

async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const hist = { historySize: 1000, historyTtlMs: 60_000 };
const u = new URL(SHARED_REDIS_URL);
await requireService('Redis', u.hostname, Number(u.port || 6379)); // CI must have redis-server too
let redis: RedisProcess;
const quiet = () => {};

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

test('a dropped subscriber connection loses nothing: missed publications come from history, in order, once', async () => {
  const node = new RedisBroker({ url: redis.url, log: quiet });
  const publisher = new RedisBroker({ url: redis.url, log: quiet });
  const admin = new Redis(redis.url);
  try {
    const rec = new Rec();
    node.setHandler(rec);
    publisher.setHandler(new Rec());
    await node.subscribe('blip');
    for (let i = 1; i <= 10; i++) await publisher.publish('blip', i, hist);
    await until(() => rec.pubs.length === 10);
    // Kill the node's pub/sub connection and publish while it reconnects.
    await admin.client('KILL', 'TYPE', 'pubsub');
    for (let i = 11; i <= 200; i++) await publisher.publish('blip', i, hist);
    await until(() => rec.pubs.length >= 200, 10_000, '200 publications');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(rec.pubs.map((p) => p.pub.offset), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.deepEqual(rec.pubs.map((p) => p.pub.data), Array.from({ length: 200 }, (_, i) => i + 1));
  } finally {
    admin.disconnect();
    await Promise.all([node.close(), publisher.close()]);
  }
});

test('publications lost with no later one to reveal the gap still arrive after a reconnect', async () => {
  const node = new RedisBroker({ url: redis.url, log: quiet });
  const publisher = new RedisBroker({ url: redis.url, log: quiet });
  const admin = new Redis(redis.url);
  try {
    const rec = new Rec();
    node.setHandler(rec);
    await node.subscribe('tail');
    await publisher.publish('tail', 'a', hist);
    await until(() => rec.pubs.length === 1);
    await admin.client('KILL', 'TYPE', 'pubsub');
    await publisher.publish('tail', 'b', hist);
    await publisher.publish('tail', 'c', hist);
    await until(() => rec.pubs.length === 3, 10_000, 'b and c');
    assert.deepEqual(rec.pubs.map((p) => p.pub.data), ['a', 'b', 'c']);
  } finally {
    admin.disconnect();
    await Promise.all([node.close(), publisher.close()]);
  }
});

test('Redis restarted empty: the node resubscribes and its subscribers are told to resubscribe (reset marker)', async () => {
  const node = new RedisBroker({ url: redis.url, log: quiet });
  try {
    const rec = new Rec();
    node.setHandler(rec);
    await node.subscribe('restart');
    const first = await node.publish('restart', 'before', hist);
    await until(() => rec.pubs.length === 1);
    await redis.restart();
    await until(() => rec.resets.includes('restart'), 15_000, 'stream reset');
    // Publishing works again, in a new epoch, and reaches the resubscribed node.
    let p;
    for (let i = 0; i < 100; i++) {
      try {
        p = await node.publish('restart', 'after', hist);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(p, 'publish after restart');
    assert.equal(p.offset, 1);
    assert.notEqual(p.epoch, first.epoch);
    await until(() => rec.pubs.some((x) => x.pub.data === 'after' && x.epoch === p.epoch), 5000, 'live delivery after restart');
  } finally {
    await node.close();
  }
});

test('cost of a publication: a burst is batched, 256 publications per EVALSHA and pub/sub message', async () => {
  const node = new RedisBroker({ url: redis.url, log: quiet });
  const admin = new Redis(redis.url);
  const watcher = new RedisBroker({ url: redis.url, log: quiet });
  const rec = new Rec();
  watcher.setHandler(rec);
  node.setHandler(new Rec());
  const sub = new Redis(redis.url);
  let messages = 0;
  try {
    await node.publish('cost', 0, hist); // loads the script
    await watcher.subscribe('cost');
    await sub.subscribe('sb:{cost}:c');
    sub.on('message', () => messages++);
    await admin.config('RESETSTAT');
    const n = 1000;
    await Promise.all(Array.from({ length: n }, (_, i) => node.publish('cost', i + 1, hist)));
    const stats = String(await admin.info('commandstats'));
    const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    const per = { evalsha: calls('evalsha') / n, xadd: calls('xadd') / n, publish: calls('publish') / n, hincrby: calls('hincrby') / n };
    process.stdout.write(`# redis commands per publication: ${JSON.stringify(per)}\n`);
    const batches = Math.ceil(n / 256);
    assert.equal(calls('evalsha'), batches, 'one script call per 256 publications');
    assert.equal(calls('publish'), batches, 'one pub/sub message per batch');
    assert.equal(calls('hincrby'), batches, 'one offset increment per batch');
    assert.equal(per.xadd, 1, 'every publication is in history');
    await until(() => rec.pubs.length === n, 10_000, 'every publication at the other node');
    assert.deepEqual(rec.pubs.map((p) => p.pub.data), Array.from({ length: n }, (_, i) => i + 1));
    assert.equal(messages, batches);
    const info = String(await admin.info('stats'));
    // Auto-pipelining: the 1,000 publishes left in far fewer writes than commands. total_net_input
    // cannot show writes, so compare the number of read syscalls Redis made on our behalf instead.
    const reads = Number(/total_reads_processed:(\d+)/.exec(info)?.[1] ?? n);
    process.stdout.write(`# redis reads processed for ${n} publications: ${reads}\n`);
    assert.ok(reads < n / 2, `expected pipelined batches, got ${reads} reads for ${n} publishes`);
  } finally {
    admin.disconnect();
    sub.disconnect();
    await watcher.close();
    await node.close();
  }
});

test('publishBatch: 1 sends each publication on its own, in the single-message form', async () => {
  const node = new RedisBroker({ url: redis.url, log: quiet, publishBatch: 1 });
  node.setHandler(new Rec());
  const sub = new Redis(redis.url);
  const seen: string[] = [];
  try {
    await sub.subscribe('sb:{single}:c');
    sub.on('message', (_c: string, m: string) => seen.push(m));
    const r = await Promise.all([1, 2, 3].map((i) => node.publish('single', i, { ...hist, info: { user: 'u', client: 'c' } })));
    assert.deepEqual(r.map((p) => p.offset), [1, 2, 3]);
    await until(() => seen.length === 3, 5000, 'three messages');
    assert.deepEqual(seen.map((m) => JSON.parse(m) as unknown), [1, 2, 3].map((i) => ({ o: i, e: r[0]!.epoch, d: i, i: { user: 'u', client: 'c' } })));
  } finally {
    sub.disconnect();
    await node.close();
  }
});
