/**
 * The Broker contract: every broker (memory, Redis, NATS) must pass this suite unchanged.
 * Call `brokerContract(name, factory)` from a `*.test.ts` file.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker, BrokerHandler, Publication } from '../../src/broker/broker.ts';
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

    test('an untouched channel has offset 0 and an epoch that stays the same', async () => {
      const ch = uniq('empty');
      const h1 = await fx.broker.history(ch, { limit: 10 });
      assert.equal(h1.position.offset, 0);
      assert.deepEqual(h1.publications, []);
      const p = await fx.broker.publish(ch, 1, hist);
      assert.equal(p.epoch, h1.position.epoch);
      assert.equal(p.offset, 1);
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
