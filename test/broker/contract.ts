/**
 * The Broker contract: every broker (memory, Redis, NATS) must pass this suite unchanged.
 * Call `brokerContract(name, factory)` from a `*.test.ts` file.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NO_STREAM, type Broker, type BrokerHandler, type Publication } from '../../src/broker/broker.ts';
import type { ClientInfo } from '../../src/protocol/frames.ts';

export interface BrokerFixture {
  broker: Broker;
  /** A second handle on the same backend (another "node"), when the broker is shared. */
  peer?: Broker;
  close(): Promise<void>;
}

class Recorder implements BrokerHandler {
  pubs: Array<{ ch: string; pub: Publication; epoch: string }> = [];
  joins: Array<{ ch: string; info: ClientInfo }> = [];
  leaves: Array<{ ch: string; info: ClientInfo }> = [];
  resets: string[] = [];
  onStreamReset(ch: string) {
    this.resets.push(ch);
  }
  onPublication(ch: string, pub: Publication, epoch: string) {
    this.pubs.push({ ch, pub, epoch });
  }
  onJoin(ch: string, info: ClientInfo) {
    this.joins.push({ ch, info });
  }
  onLeave(ch: string, info: ClientInfo) {
    this.leaves.push({ ch, info });
  }
}

const hist = { historySize: 100, historyTtlMs: 60_000 };
let seq = 0;
const uniq = (p: string) => `${p}-${process.pid}-${Date.now().toString(36)}-${seq++}`;

async function eventually(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function brokerContract(name: string, factory: () => Promise<BrokerFixture>): void {
  describe(`Broker contract: ${name}`, () => {
    let fx: BrokerFixture;
    let rec: Recorder;
    before(async () => {
      fx = await factory();
      rec = new Recorder();
      fx.broker.setHandler(rec);
      if (fx.peer) fx.peer.setHandler(new Recorder());
    });
    after(async () => {
      await fx.close();
    });

    test('connected: true once the broker serves calls (readiness reads it)', async () => {
      await fx.broker.history(uniq('connected'), { limit: 0 });
      // Networked brokers learn their state from events and probes: allow them a moment.
      await eventually(() => fx.broker.connected);
    });

    test('offsets start at 1 and advance by one with a stable epoch', async () => {
      const ch = uniq('offsets');
      const a = await fx.broker.publish(ch, 'a', hist);
      const b = await fx.broker.publish(ch, 'b', hist);
      assert.equal(a.offset, 1);
      assert.equal(b.offset, 2);
      assert.equal(a.epoch, b.epoch);
      const h = await fx.broker.history(ch, { limit: 0 });
      assert.deepEqual(h.position, b);
    });

    test('an untouched channel read with create has offset 0 and an epoch that stays the same', async () => {
      const ch = uniq('empty');
      const h1 = await fx.broker.history(ch, { limit: 10, create: true });
      assert.equal(h1.position.offset, 0);
      assert.notEqual(h1.position.epoch, '');
      assert.deepEqual(h1.publications, []);
      assert.deepEqual((await fx.broker.history(ch, { limit: 0 })).position, h1.position, 'a plain read sees the created stream');
      const p = await fx.broker.publish(ch, 1, hist);
      assert.equal(p.epoch, h1.position.epoch);
      assert.equal(p.offset, 1);
    });

    test('a plain read of an untouched channel answers offset 0, epoch "" and stores nothing (issue 11 C3)', async () => {
      const ch = uniq('readonly');
      for (const opts of [{ limit: 0 }, { limit: 10 }, { limit: 10, reverse: true }, { limit: 10, since: { epoch: 'e', offset: 0 } }]) {
        const h = await fx.broker.history(ch, opts);
        assert.deepEqual(h.position, NO_STREAM, JSON.stringify(opts));
        assert.deepEqual(h.publications, []);
      }
      const p = await fx.broker.publish(ch, 1, hist);
      assert.notEqual(p.epoch, '', 'the first publish creates a real epoch');
      assert.equal(p.offset, 1);
      assert.deepEqual((await fx.broker.history(ch, { limit: 0 })).position, p);
    });

    test('subscribed node receives publications in order with offsets and epoch; unsubscribed does not', async () => {
      const ch = uniq('deliver');
      const other = uniq('other');
      await fx.broker.subscribe(ch);
      const before = rec.pubs.length;
      for (let i = 0; i < 50; i++) await fx.broker.publish(ch, { i }, { ...hist, info: { user: 'u', client: 'c' } });
      await fx.broker.publish(other, 'x', hist);
      await eventually(() => rec.pubs.length - before >= 50);
      const got = rec.pubs.slice(before).filter((p) => p.ch === ch);
      assert.deepEqual(got.map((p) => p.pub.offset), Array.from({ length: 50 }, (_, i) => i + 1));
      assert.deepEqual(got[0]!.pub.data, { i: 0 });
      assert.deepEqual(got[0]!.pub.info, { user: 'u', client: 'c' });
      assert.ok(rec.pubs.every((p) => p.ch !== other));
      await fx.broker.unsubscribe(ch);
      await fx.broker.publish(ch, 'late', hist);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(rec.pubs.filter((p) => p.ch === ch).length, 50);
    });

    test('concurrent publishes get distinct consecutive offsets', async () => {
      const ch = uniq('concurrent');
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => fx.broker.publish(ch, i, hist)));
      assert.deepEqual(results.map((r) => r.offset).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1));
    });

    test('a burst published in one turn keeps call order, data and info, live on every node and in history', async () => {
      // Brokers may batch what is published in one turn (Redis: one script call and one pub/sub
      // message per batch of 256); 600 crosses batch boundaries, and the changing options split batches too.
      const ch = uniq('burst');
      await fx.broker.subscribe(ch);
      const peerRec = new Recorder();
      if (fx.peer) {
        fx.peer.setHandler(peerRec);
        await fx.peer.subscribe(ch);
      }
      const before = rec.pubs.length;
      const n = 600;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          fx.broker.publish(ch, { i, s: 'é"\\\n' }, { ...hist, historySize: i >= 500 && i < 520 ? 1000 : 100, ...(i % 3 === 0 ? { info: { user: `u${i}`, client: `c${i}` } } : {}) }),
        ),
      );
      assert.deepEqual(results.map((r) => r.offset), Array.from({ length: n }, (_, i) => i + 1), 'offsets follow call order');
      assert.equal(new Set(results.map((r) => r.epoch)).size, 1);
      const check = (r: Recorder, from: number, who: string) => {
        const got = r.pubs.slice(from).filter((p) => p.ch === ch);
        assert.deepEqual(got.map((p) => p.pub.offset), Array.from({ length: n }, (_, i) => i + 1), `${who}: every offset once, in order`);
        for (const p of got) {
          const i = p.pub.offset - 1;
          assert.deepEqual(p.pub.data, { i, s: 'é"\\\n' }, who);
          assert.deepEqual(p.pub.info, i % 3 === 0 ? { user: `u${i}`, client: `c${i}` } : undefined, who);
          assert.equal(p.epoch, results[0]!.epoch, who);
        }
      };
      await eventually(() => rec.pubs.slice(before).filter((p) => p.ch === ch).length >= n, 5000);
      check(rec, before, 'this node');
      if (fx.peer) {
        await eventually(() => peerRec.pubs.filter((p) => p.ch === ch).length >= n, 5000);
        check(peerRec, 0, 'peer node');
        await fx.peer.unsubscribe(ch);
      }
      const h = await fx.broker.history(ch, { limit: 100 });
      assert.deepEqual(h.publications.map((p) => p.offset), Array.from({ length: 100 }, (_, i) => n - 99 + i));
      assert.deepEqual(h.publications[1]!.info, { user: `u${n - 99}`, client: `c${n - 99}` }, 'offset n - 98 is call n - 99');
      await fx.broker.unsubscribe(ch);
    });

    test('an idempotency key repeated within one burst publishes once and answers every caller with the first position', async () => {
      const ch = uniq('idemburst');
      await fx.broker.subscribe(ch);
      const before = rec.pubs.length;
      const k = (key: string) => ({ ...hist, idempotencyKey: key, idempotencyTtlMs: 60_000 });
      const seen = await fx.broker.publish(ch, 'old', k('seen'));
      const r = await Promise.all([
        fx.broker.publish(ch, 'a', k('k1')),
        fx.broker.publish(ch, 'a again', k('k1')),
        fx.broker.publish(ch, 'plain', hist),
        fx.broker.publish(ch, 'old again', k('seen')),
        fx.broker.publish(ch, 'b', k('k2')),
        fx.broker.publish(ch, 'a third time', k('k1')),
      ]);
      assert.deepEqual(r.map((p) => p.offset), [2, 2, 3, 1, 4, 2]);
      assert.deepEqual(r[3], seen);
      await eventually(() => rec.pubs.slice(before).filter((p) => p.ch === ch).length >= 4);
      await new Promise((res) => setTimeout(res, 50));
      assert.deepEqual(rec.pubs.slice(before).filter((p) => p.ch === ch).map((p) => p.pub.data), ['old', 'a', 'plain', 'b']);
      const h = await fx.broker.history(ch, { limit: 10 });
      assert.deepEqual(h.publications.map((p) => p.data), ['old', 'a', 'plain', 'b']);
      await fx.broker.unsubscribe(ch);
    });

    test('history: newest N, reverse, since, size limit', async () => {
      const ch = uniq('history');
      for (let i = 1; i <= 30; i++) await fx.broker.publish(ch, i, { historySize: 20, historyTtlMs: 60_000 });
      const all = await fx.broker.history(ch, { limit: 100 });
      assert.deepEqual(all.publications.map((p) => p.data), Array.from({ length: 20 }, (_, i) => i + 11));
      const last3 = await fx.broker.history(ch, { limit: 3 });
      assert.deepEqual(last3.publications.map((p) => p.offset), [28, 29, 30]);
      const rev = await fx.broker.history(ch, { limit: 3, reverse: true });
      assert.deepEqual(rev.publications.map((p) => p.offset), [30, 29, 28]);
      const since = await fx.broker.history(ch, { limit: 5, since: { epoch: all.position.epoch, offset: 15 } });
      assert.deepEqual(since.publications.map((p) => p.offset), [16, 17, 18, 19, 20]);
      const trimmed = await fx.broker.history(ch, { limit: 5, since: { epoch: all.position.epoch, offset: 2 } });
      assert.equal(trimmed.publications[0]!.offset, 11, 'history starts at the oldest kept publication; the caller sees the gap');
      const wrongEpoch = await fx.broker.history(ch, { limit: 5, since: { epoch: 'not-the-epoch', offset: 15 } });
      assert.deepEqual(wrongEpoch.publications, []);
      assert.equal(wrongEpoch.position.offset, 30);
    });

    test('historySize 0 keeps nothing but still advances offsets', async () => {
      const ch = uniq('nohistory');
      await fx.broker.publish(ch, 1, { historySize: 0, historyTtlMs: 0 });
      const p = await fx.broker.publish(ch, 2, { historySize: 0, historyTtlMs: 0 });
      assert.equal(p.offset, 2);
      const h = await fx.broker.history(ch, { limit: 10 });
      assert.deepEqual(h.publications, []);
      assert.equal(h.position.offset, 2);
    });

    test('history TTL expires publications', async () => {
      const ch = uniq('ttl');
      await fx.broker.publish(ch, 1, { historySize: 10, historyTtlMs: 1000 });
      assert.equal((await fx.broker.history(ch, { limit: 10 })).publications.length, 1);
      await new Promise((r) => setTimeout(r, 1300));
      const h = await fx.broker.history(ch, { limit: 10 });
      assert.deepEqual(h.publications, []);
      assert.equal(h.position.offset, 1, 'the position survives its publications');
    });

    test('idempotency key returns the first position and publishes once', async () => {
      const ch = uniq('idem');
      await fx.broker.subscribe(ch);
      const before = rec.pubs.length;
      const a = await fx.broker.publish(ch, 'x', { ...hist, idempotencyKey: 'k1', idempotencyTtlMs: 60_000 });
      const b = await fx.broker.publish(ch, 'x', { ...hist, idempotencyKey: 'k1', idempotencyTtlMs: 60_000 });
      const c = await fx.broker.publish(ch, 'y', { ...hist, idempotencyKey: 'k2', idempotencyTtlMs: 60_000 });
      assert.deepEqual(a, b);
      assert.equal(c.offset, a.offset + 1);
      await eventually(() => rec.pubs.length - before >= 2);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(rec.pubs.slice(before).filter((p) => p.ch === ch).length, 2);
      await fx.broker.unsubscribe(ch);
    });

    test('presence add, list, stats, remove and TTL expiry', async () => {
      const ch = uniq('presence');
      await fx.broker.presenceAdd(ch, 'c1', { user: 'u1', client: 'c1' }, 60_000);
      await fx.broker.presenceAdd(ch, 'c2', { user: 'u1', client: 'c2' }, 60_000);
      await fx.broker.presenceAdd(ch, 'c3', { user: 'u2', client: 'c3' }, 1000);
      assert.deepEqual(Object.keys(await fx.broker.presence(ch)).sort(), ['c1', 'c2', 'c3']);
      assert.deepEqual(await fx.broker.presenceStats(ch), { clients: 3, users: 2 });
      await fx.broker.presenceRemove(ch, 'c1');
      assert.deepEqual(Object.keys(await fx.broker.presence(ch)).sort(), ['c2', 'c3']);
      await new Promise((r) => setTimeout(r, 1300));
      assert.deepEqual(await fx.broker.presence(ch), { c2: { user: 'u1', client: 'c2' } });
    });

    test('presence stats count clients and distinct users; a refresh or a second tab does not double count', async () => {
      const ch = uniq('pstats');
      assert.deepEqual(await fx.broker.presenceStats(ch), { clients: 0, users: 0 });
      await fx.broker.presenceAdd(ch, 'a1', { user: 'alice', client: 'a1' }, 60_000);
      await fx.broker.presenceAdd(ch, 'a2', { user: 'alice', client: 'a2' }, 60_000);
      await fx.broker.presenceAdd(ch, 'b1', { user: 'bob', client: 'b1' }, 60_000);
      await fx.broker.presenceAdd(ch, 'a1', { user: 'alice', client: 'a1' }, 60_000); // refresh
      const other = fx.peer ?? fx.broker;
      await other.presenceAdd(ch, 'b1', { user: 'bob', client: 'b1' }, 60_000); // refresh from another node
      assert.deepEqual(await fx.broker.presenceStats(ch), { clients: 3, users: 2 });
      await fx.broker.presenceRemove(ch, 'a1');
      assert.deepEqual(await other.presenceStats(ch), { clients: 2, users: 2 });
      await fx.broker.presenceRemove(ch, 'a2');
      await fx.broker.presenceRemove(ch, 'a2'); // twice: no effect
      assert.deepEqual(await fx.broker.presenceStats(ch), { clients: 1, users: 1 });
      await fx.broker.presenceAdd(ch, 'x', { user: 'carol', client: 'x' }, 500);
      assert.deepEqual(await fx.broker.presenceStats(ch), { clients: 2, users: 2 });
      await new Promise((r) => setTimeout(r, 800));
      assert.deepEqual(await fx.broker.presenceStats(ch), { clients: 1, users: 1 }, 'an expired member is not counted');
    });

    test('presence pages: exact sizes, every member once, cursor survives leaves and joins, bad cursor refused', async () => {
      const ch = uniq('ppage');
      const ids = Array.from({ length: 25 }, (_, i) => `m${String(i).padStart(2, '0')}`);
      for (const id of ids) await fx.broker.presenceAdd(ch, id, { user: `u${id}`, client: id }, 60_000);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const page: Awaited<ReturnType<Broker['presencePage']>> = await fx.broker.presencePage(ch, cursor === undefined ? { limit: 10 } : { limit: 10, cursor });
        pages++;
        const got = Object.keys(page.clients);
        if (pages === 1) {
          assert.equal(got.length, 10);
          // During the walk: a member not yet listed leaves, a new one joins.
          const notYet = ids.find((id) => !got.includes(id))!;
          await fx.broker.presenceRemove(ch, notYet);
          ids.splice(ids.indexOf(notYet), 1);
          await fx.broker.presenceAdd(ch, 'late', { user: 'late', client: 'late' }, 60_000);
          ids.push('late');
        }
        for (const id of got) assert.deepEqual(page.clients[id], { user: id === 'late' ? 'late' : `u${id}`, client: id });
        seen.push(...got);
        if (page.cursor === undefined) break;
        assert.equal(typeof page.cursor, 'string');
        assert.ok(got.length === 10, 'a page before the last is full');
        cursor = page.cursor;
        assert.ok(pages < 10, 'the walk ends');
      }
      assert.equal(new Set(seen).size, seen.length, 'no member twice');
      // Members present for the whole walk are all listed; one that joined during it may be.
      const stable = ids.filter((id) => id !== 'late');
      assert.deepEqual(seen.filter((id) => id !== 'late').sort(), stable.sort());
      // Small lists fit one page with no cursor; the default order starts with the first joiner.
      const one = await fx.broker.presencePage(ch, { limit: 1000 });
      assert.equal(one.cursor, undefined);
      assert.equal(Object.keys(one.clients).length, ids.length);
      await assert.rejects(fx.broker.presencePage(ch, { limit: 10, cursor: '!!not a cursor!!' }), { name: 'BadCursorError' });
      assert.deepEqual(await fx.broker.presencePage(uniq('nobody'), { limit: 10 }), { clients: {} });
    });

    test('presence pages skip expired members', async () => {
      const ch = uniq('pexp');
      await fx.broker.presenceAdd(ch, 'short1', { user: 's', client: 'short1' }, 300);
      await fx.broker.presenceAdd(ch, 'long', { user: 'l', client: 'long' }, 60_000);
      await fx.broker.presenceAdd(ch, 'short2', { user: 's', client: 'short2' }, 300);
      await new Promise((r) => setTimeout(r, 600));
      const page = await fx.broker.presencePage(ch, { limit: 1 });
      assert.deepEqual(page.clients, { long: { user: 'l', client: 'long' } });
      if (page.cursor !== undefined) assert.deepEqual((await fx.broker.presencePage(ch, { limit: 1, cursor: page.cursor })).clients, {});
    });

    test('join and leave reach subscribed nodes', async () => {
      const ch = uniq('joinleave');
      await fx.broker.subscribe(ch);
      await fx.broker.publishJoin(ch, { user: 'u', client: 'c' });
      await fx.broker.publishLeave(ch, { user: 'u', client: 'c' });
      await eventually(() => rec.joins.some((j) => j.ch === ch) && rec.leaves.some((l) => l.ch === ch));
      await fx.broker.unsubscribe(ch);
    });

    test('removeHistory drops publications', async () => {
      const ch = uniq('remove');
      await fx.broker.publish(ch, 1, hist);
      await fx.broker.removeHistory(ch);
      assert.deepEqual((await fx.broker.history(ch, { limit: 10 })).publications, []);
    });

    test('a peer node on the same backend sees the same positions and receives publications', async (t) => {
      if (!fx.peer) return t.diagnostic('single-node broker: no peer to test');
      const ch = uniq('peer');
      const peerRec = new Recorder();
      fx.peer.setHandler(peerRec);
      await fx.peer.subscribe(ch);
      const p = await fx.broker.publish(ch, 'hello', hist);
      await eventually(() => peerRec.pubs.some((x) => x.ch === ch));
      assert.equal(peerRec.pubs.find((x) => x.ch === ch)!.pub.offset, p.offset);
      const h = await fx.peer.history(ch, { limit: 1 });
      assert.deepEqual(h.position, p);
    });
  });
}
