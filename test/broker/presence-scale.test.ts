/**
 * Presence at 100,000 members (issue 4 item 7): counts that do not read the members, and member
 * lists paged with a cursor. The Redis half runs on its own redis-server so `INFO commandstats`
 * shows exactly which commands a count and a page cost; the figure it checks is the number and kind
 * of commands, which does not depend on machine speed. (NATS lists by reading every key; that limit
 * is documented in docs/brokers.md and not tested here.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import type { Broker } from '../../src/broker/broker.ts';
import type { ClientInfo } from '../../src/protocol/frames.ts';
import { startRedis } from '../helpers/cluster-redis.ts';

const MEMBERS = 100_000;
const USERS = 30_000;
const PAGE = 1000;

const info = (i: number): ClientInfo => ({ user: `user${i % USERS}`, client: `client${i}` });

async function fill(broker: Broker, ch: string): Promise<void> {
  for (let i = 0; i < MEMBERS; i += 5000) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(i + 5000, MEMBERS); j++) batch.push(broker.presenceAdd(ch, `client${j}`, info(j), 600_000));
    await Promise.all(batch);
  }
}

/** Walks every page; returns the members in page order. */
async function walk(broker: Broker, ch: string, onPage?: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await broker.presencePage(ch, cursor === undefined ? { limit: PAGE } : { limit: PAGE, cursor });
    const ids = Object.keys(page.clients);
    assert.ok(ids.length === PAGE || page.cursor === undefined, 'only the last page may be short');
    seen.push(...ids);
    cursor = page.cursor;
    await onPage?.();
  } while (cursor !== undefined);
  return seen;
}

function checkWalk(seen: string[], expected: number): void {
  assert.equal(seen.length, expected);
  assert.equal(new Set(seen).size, expected, 'no member twice');
  // Join order: members were added client0, client1, … so the walk comes back in that order.
  for (let i = 1; i < seen.length; i++) assert.ok(Number(seen[i]!.slice(6)) > Number(seen[i - 1]!.slice(6)), `join order at ${i}`);
}

test('memory broker: 100,000 members counted, paged, then halved', async () => {
  const broker = new MemoryBroker();
  try {
    await fill(broker, 'big');
    assert.deepEqual(await broker.presenceStats('big'), { clients: MEMBERS, users: USERS });
    checkWalk(await walk(broker, 'big'), MEMBERS);
    for (let i = 0; i < MEMBERS; i += 2) await broker.presenceRemove('big', `client${i}`);
    assert.deepEqual(await broker.presenceStats('big'), { clients: MEMBERS / 2, users: USERS / 2 });
    checkWalk(await walk(broker, 'big'), MEMBERS / 2);
  } finally {
    await broker.close();
  }
});

/** Commands Redis ran since the last CONFIG RESETSTAT (script-internal calls included), by name. */
async function commandCounts(admin: Redis): Promise<Map<string, number>> {
  const text = await admin.info('commandstats');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

const BULK_READS = ['hgetall', 'hkeys', 'hvals', 'hscan', 'zscan', 'keys', 'scan', 'smembers'];

test('redis broker: 100,000 members; a count runs a fixed handful of commands and a page reads only its members', async () => {
  const redis = await startRedis();
  after(() => redis.stop());
  const broker = new RedisBroker({ url: redis.url, prefix: 'scale' });
  const admin = new Redis(redis.url);
  try {
    await fill(broker, 'big');

    await admin.config('RESETSTAT');
    assert.deepEqual(await broker.presenceStats('big'), { clients: MEMBERS, users: USERS });
    let calls = await commandCounts(admin);
    for (const c of BULK_READS) assert.equal(calls.get(c), undefined, `a count must not run ${c}`);
    const total = [...calls.entries()].filter(([c]) => c !== 'config' && c !== 'info').reduce((n, [, v]) => n + v, 0);
    assert.ok(total <= 8, `a count ran ${total} commands: ${JSON.stringify([...calls])}`);

    // A full walk: 100 pages, each one script call reading its own members.
    let pages = 0;
    await admin.config('RESETSTAT');
    const seen = await walk(broker, 'big', async () => {
      pages++;
    });
    checkWalk(seen, MEMBERS);
    calls = await commandCounts(admin);
    for (const c of BULK_READS) assert.equal(calls.get(c), undefined, `a page must not run ${c}`);
    assert.equal(calls.get('evalsha'), pages);
    assert.equal(calls.get('hget'), MEMBERS, 'one HGET per listed member, none for the others');

    // Half leave; counts follow; a member of a dead node (never removed) expires out of both.
    await Promise.all(Array.from({ length: MEMBERS / 2 }, (_, k) => broker.presenceRemove('big', `client${2 * k}`)));
    assert.deepEqual(await broker.presenceStats('big'), { clients: MEMBERS / 2, users: USERS / 2 });
    // A 2 s lease: with 200 ms the ghost once expired before the count under a loaded CI run.
    const leased = Date.now();
    await broker.presenceAdd('big', 'ghost', { user: 'ghost', client: 'ghost' }, 2000);
    assert.deepEqual(await broker.presenceStats('big'), { clients: MEMBERS / 2 + 1, users: USERS / 2 + 1 });
    await new Promise((r) => setTimeout(r, 2000 - (Date.now() - leased) + 300));
    assert.deepEqual(await broker.presenceStats('big'), { clients: MEMBERS / 2, users: USERS / 2 });
    checkWalk(await walk(broker, 'big'), MEMBERS / 2);
  } finally {
    admin.disconnect();
    await broker.close();
  }
});
