/**
 * Presence at scale: how long a count (`presenceStats`) and one 1,000-member page take at 1,000
 * and at 100,000 members, on the memory broker and on Redis. O(1) counts mean the two sizes cost
 * the same; a page costs its own size.
 *
 *   npx tsx bench/presence.ts [--redis redis://127.0.0.1:6379] [--members 100000] [--no-redis]
 *
 * The Redis run uses its own key prefix and deletes it afterwards.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { Broker } from '../src/broker/broker.ts';
import { MemoryBroker } from '../src/broker/memory.ts';
import { RedisBroker } from '../src/broker/redis.ts';

const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    members: { type: 'string', default: '100000' },
    'no-redis': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '200' },
  },
});
const BIG = Number(values.members);
const SMALL = 1000;
const ROUNDS = Number(values.rounds);

async function fill(b: Broker, ch: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 5000) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(i + 5000, n); j++) batch.push(b.presenceAdd(ch, `c${j}`, { user: `u${j % 30000}`, client: `c${j}` }, 600_000));
    await Promise.all(batch);
  }
}

/** Median ms of `rounds` sequential calls. */
async function time(rounds: number, f: () => Promise<unknown>): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const s = performance.now();
    await f();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)]!;
}

async function measure(name: string, b: Broker): Promise<string[]> {
  const rows: string[] = [];
  for (const n of [SMALL, BIG]) {
    const ch = `bench-presence-${n}`;
    await fill(b, ch, n);
    const stats = await time(ROUNDS, () => b.presenceStats(ch));
    // A page from the middle of the list: the cursor of the member at n/2.
    let cursor: string | undefined;
    for (let i = 0; i < Math.floor(n / 2 / 1000); i++) cursor = (await b.presencePage(ch, cursor === undefined ? { limit: 1000 } : { limit: 1000, cursor })).cursor;
    const page = await time(Math.max(10, ROUNDS / 10), () => b.presencePage(ch, cursor === undefined ? { limit: 1000 } : { limit: 1000, cursor }));
    const full = await time(3, () => b.presence(ch));
    const st = await b.presenceStats(ch);
    rows.push(`| ${name} | ${n.toLocaleString('en')} | ${st.clients.toLocaleString('en')} / ${st.users.toLocaleString('en')} | ${stats.toFixed(3)} | ${page.toFixed(2)} | ${full.toFixed(1)} |`);
  }
  return rows;
}

const rows = ['| broker | members | clients / users counted | presenceStats median ms | 1,000-member page median ms | whole list (for contrast) ms |', '|---|---:|---:|---:|---:|---:|'];
const mem = new MemoryBroker();
rows.push(...(await measure('memory', mem)));
await mem.close();
if (!values['no-redis']) {
  const prefix = `sbbench-${process.pid}`;
  const r = new RedisBroker({ url: values.redis, prefix });
  try {
    rows.push(...(await measure('redis', r)));
  } finally {
    await r.close();
    const admin = new Redis(values.redis);
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    admin.disconnect();
  }
}
console.log(rows.join('\n'));
