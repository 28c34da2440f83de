/**
 * Names a client sends do not leave broker state behind beyond a per-connection budget (issue 11
 * C3): reads create no stream state (memory broker, and Redis keys checked with SCAN), idempotency
 * keys are capped in size, and a connection's keys and distinct published channels are counted.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { deletePrefix, requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { RawClient, type Frame } from '../helpers/raw-client.ts';
import { ClientError } from '../../src/client/index.ts';
import { makeClient } from './client-helpers.ts';

/** Reads everywhere for anyone; no rate limit in the way of 10,000 commands. */
const common = { port: 0, host: '127.0.0.1', insecure: true, rateLimit: 1_000_000, rateBurst: 1_000_000 } as const;

/** Sends `frames` in pipelined batches and returns every reply. */
async function pipeline(c: RawClient, frames: Frame[], batch = 50): Promise<Frame[]> {
  const out: Frame[] = [];
  let id = 1_000_000;
  for (let i = 0; i < frames.length; i += batch) {
    c.frames.length = 0;
    const part = frames.slice(i, i + batch).map((f) => ({ ...f, id: id++ }));
    c.send(part);
    out.push(...(await c.waitCount((f) => f.t === 'ok' || f.t === 'err', part.length, 10_000)));
  }
  return out;
}

function readsOf(names: string[]): Frame[] {
  const frames: Frame[] = [];
  names.forEach((ch, i) => {
    frames.push({ t: 'history', ch, limit: 10 });
    // History with a position (what a client recovering by hand sends) and presence reads on a part of them.
    if (i % 10 === 0) frames.push({ t: 'history', ch, limit: 10, since: { epoch: 'e', offset: 3 } }, { t: 'presence', ch }, { t: 'presence_stats', ch });
  });
  return frames;
}

describe('reads leave no broker state', () => {
  test('history/presence of 10,000 random channel names: no new memory-broker streams', async () => {
    const broker = new MemoryBroker();
    const node = await startNode({ ...common, broker });
    try {
      const c = await RawClient.connect(node.wsUrl);
      await c.request({ t: 'pub', ch: 'busy', data: 1 });
      const before = broker.streamCount;
      const names = Array.from({ length: 10_000 }, () => `probe-${randomBytes(8).toString('hex')}`);
      const replies = await pipeline(c, readsOf(names));
      assert.equal(replies.filter((f) => f.t !== 'ok').length, 0, JSON.stringify(replies.find((f) => f.t !== 'ok')));
      const hist = replies.find((f) => f.pubs !== undefined)!;
      assert.equal(hist.epoch, '', 'a channel with no stream answers the empty epoch');
      assert.equal(hist.offset, 0);
      assert.equal(broker.streamCount, before, 'no stream entry was created by a read');
      // A subscriber still gets a stable position (its stream is created), and a publish still works.
      const sub = await c.request({ t: 'sub', ch: names[0] });
      assert.notEqual(sub.epoch, '');
      assert.equal(broker.streamCount, before + 1);
      const pub = await c.request({ t: 'pub', ch: names[0], data: 'x' });
      assert.equal(pub.epoch, sub.epoch);
      c.close();
    } finally {
      await node.close();
      await broker.close();
    }
  });

  test('on Redis: no keys for channels that are only read (SCAN under a test prefix)', async (t) => {
    const url = new URL(SHARED_REDIS_URL);
    if (!(await requireService('Redis', url.hostname, Number(url.port || 6379)))) return t.skip(`no Redis at ${SHARED_REDIS_URL} (not CI)`);
    const prefix = `sbtest-reads-${process.pid}`;
    const broker = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
    const node = await startNode({ ...common, broker, userRegistry: false });
    const { Redis } = await import('ioredis');
    const r = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 1 });
    const probeKeys = async () => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*probe-*`, 'COUNT', 1000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
      return found;
    };
    try {
      const c = await RawClient.connect(node.wsUrl);
      const names = Array.from({ length: 2_000 }, () => `probe-${randomBytes(8).toString('hex')}`);
      const replies = await pipeline(c, readsOf(names));
      assert.equal(replies.filter((f) => f.t !== 'ok').length, 0, JSON.stringify(replies.find((f) => f.t !== 'ok')));
      const res = await fetch(`${node.httpUrl}/api/history`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ channel: names[1] }) });
      assert.equal(res.status, 200, 'the server API reads without creating too');
      assert.deepEqual(await probeKeys(), []);
      // The check can see keys: a publish creates them.
      await c.request({ t: 'pub', ch: names[0], data: 1 });
      assert.ok((await probeKeys()).length > 0);
      c.close();
    } finally {
      r.disconnect();
      await node.close();
      await broker.close();
      await deletePrefix(SHARED_REDIS_URL, prefix);
    }
  });
});

describe('idempotency keys and published channels are bounded per connection', () => {
  test('a key over 128 bytes (129 B, 10 KB) is refused with a coded error; 128 bytes is accepted', async () => {
    const node = await startNode(common);
    try {
      const c = await RawClient.connect(node.wsUrl);
      const ok = await c.request({ t: 'pub', ch: 'k', data: 1, key: 'é'.repeat(64) }); // 128 bytes
      assert.equal(ok.t, 'ok');
      for (const key of ['é'.repeat(64) + 'x', 'k'.repeat(10_240)]) {
        const bad = await RawClient.connect(node.wsUrl);
        bad.send({ t: 'pub', id: 7, ch: 'k', data: 1, key });
        // No reply: the connection is closed (waitFor throws once it is).
        const reply = await bad.waitFor((f) => f.id === 7, 3000).catch(() => null);
        assert.equal(reply, null, `accepted: ${JSON.stringify(reply)}`);
        const closed = await bad.closed;
        assert.equal(closed.code, 3501);
        // 3501 bad request; past 8192 characters the generic string limit answers first.
        assert.match(closed.reason, /"key" (must be 1 to 128 bytes|is longer than 8192)/);
      }
      const api = await fetch(`${node.httpUrl}/api/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ channel: 'k', data: 1, idempotencyKey: 'k'.repeat(129) }) });
      assert.equal(api.status, 400);
      assert.match(((await api.json()) as { error: { message: string } }).error.message, /idempotencyKey" must be 1 to 128 bytes/);
      c.close();
    } finally {
      await node.close();
    }
  });

  test('the SDK refuses a key over 128 bytes before sending, and keeps its connection', async () => {
    const node = await startNode(common);
    const cleanup: Array<() => unknown> = [];
    try {
      const client = makeClient(node.wsUrl, cleanup);
      await client.connect();
      await assert.rejects(client.publish('k', 1, { key: 'k'.repeat(129) }), (err: Error) => err instanceof ClientError && /1 to 128 bytes/.test(err.message));
      assert.equal((await client.publish('k', 2, { key: 'k'.repeat(128) })).offset, 1, 'only the valid publish reached the server');
      assert.equal(client.state, 'connected');
    } finally {
      for (const f of cleanup) await f();
      await node.close();
    }
  });

  test('keys and distinct published channels past the connection budget get 106; the broker holds no more', async () => {
    const broker = new MemoryBroker();
    const node = await startNode({ ...common, broker, maxIdempotencyKeys: 50, maxPublishChannels: 20 });
    try {
      const c = await RawClient.connect(node.wsUrl);
      const keyed = await pipeline(c, Array.from({ length: 80 }, (_, i) => ({ t: 'pub', ch: `same-${i % 5}`, data: i, key: `key-${i}` })));
      assert.equal(keyed.filter((f) => f.t === 'ok').length, 50);
      assert.deepEqual([...new Set(keyed.filter((f) => f.t === 'err').map((f) => f.code))], [106]);
      assert.equal(broker.keyCount, 50);
      const spread = await pipeline(c, Array.from({ length: 40 }, (_, i) => ({ t: 'pub', ch: `spread-${i}`, data: i })));
      // Five channels are already counted (same-0 … same-4): 15 more fit.
      assert.equal(spread.filter((f) => f.t === 'ok').length, 15);
      assert.deepEqual([...new Set(spread.filter((f) => f.t === 'err').map((f) => f.code))], [106]);
      assert.equal((await c.request({ t: 'pub', ch: 'same-0', data: 'again' })).t, 'ok', 'a channel already counted stays usable');
      // The budget is per connection: another one starts afresh.
      const d = await RawClient.connect(node.wsUrl);
      assert.equal((await d.request({ t: 'pub', ch: 'spread-39', data: 1, key: 'fresh' })).t, 'ok');
      c.close();
      d.close();
    } finally {
      await node.close();
      await broker.close();
    }
  });
});
