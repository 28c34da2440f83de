/** The delivery sequencer as pure logic: an in-memory history stands in for the broker's. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HistoryOptions, HistoryResult, Publication } from '../../src/broker/broker.ts';
import { Sequencer } from '../../src/broker/sequencer.ts';

function harness(pageSize = 1000) {
  const store = { epoch: 'E1', pubs: [] as Publication[], top: 0 };
  const delivered: Array<{ offset: number; epoch: string }> = [];
  const resets: string[] = [];
  let reads = 0;
  const seq = new Sequencer({
    pageSize,
    async history(_ch: string, o: HistoryOptions): Promise<HistoryResult> {
      reads++;
      await new Promise((r) => setImmediate(r));
      const position = { epoch: store.epoch, offset: store.top };
      if (!o.since || o.since.epoch !== store.epoch) return { publications: [], position };
      return { publications: store.pubs.filter((p) => p.offset > o.since!.offset).slice(0, o.limit), position };
    },
    deliver: (_ch, pub, epoch) => void delivered.push({ offset: pub.offset, epoch }),
    reset: (ch) => void resets.push(ch),
  });
  const publish = (n = 1) => {
    const out: Publication[] = [];
    for (let i = 0; i < n; i++) {
      const p = { offset: ++store.top, data: store.top };
      store.pubs.push(p);
      out.push(p);
    }
    return out;
  };
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return { store, delivered, resets, seq, publish, settle, reads: () => reads };
}

test('in order: delivered at once; duplicates dropped; untracked channels ignored', () => {
  const h = harness();
  h.seq.track('c');
  const [p1, p2] = h.publish(2) as [Publication, Publication];
  h.seq.receive('c', 'E1', p1);
  h.seq.receive('c', 'E1', p2);
  h.seq.receive('c', 'E1', p1);
  h.seq.receive('other', 'E1', p1);
  assert.deepEqual(h.delivered.map((d) => d.offset), [1, 2]);
  assert.equal(h.reads(), 0);
});

test('a jump holds the message, fills the hole from history, then releases in order; late originals are dropped', async () => {
  const h = harness();
  h.seq.track('c');
  h.seq.seed('c', 'E1', 0);
  const ps = h.publish(6);
  h.seq.receive('c', 'E1', ps[0]!);
  h.seq.receive('c', 'E1', ps[3]!); // 2, 3 missing
  h.seq.receive('c', 'E1', ps[4]!); // held while filling
  await h.settle();
  h.seq.receive('c', 'E1', ps[1]!); // late arrivals of what the fill delivered
  h.seq.receive('c', 'E1', ps[5]!);
  assert.deepEqual(h.delivered.map((d) => d.offset), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(h.resets, []);
});

test('a hole history no longer covers is a reset, and delivery resumes after it', async () => {
  const h = harness();
  h.seq.track('c');
  h.seq.seed('c', 'E1', 0);
  const ps = h.publish(10);
  h.seq.receive('c', 'E1', ps[0]!);
  h.store.pubs = h.store.pubs.filter((p) => p.offset > 5); // trimmed: 2..5 gone
  h.seq.receive('c', 'E1', ps[7]!);
  await h.settle();
  assert.deepEqual(h.resets, ['c']);
  assert.deepEqual(h.delivered.map((d) => d.offset), [1, 6, 7, 8, 9, 10]);
});

test('resyncAll reads what was missed with no later message, across pages', async () => {
  const h = harness(3);
  h.seq.track('c');
  h.seq.seed('c', 'E1', 0);
  h.publish(8);
  h.seq.resyncAll();
  await h.settle();
  assert.deepEqual(h.delivered.map((d) => d.offset), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('an epoch change found while resyncing (Redis came back empty) is a reset', async () => {
  const h = harness();
  h.seq.track('c');
  h.seq.seed('c', 'E1', 5);
  h.store.epoch = 'E2';
  h.store.pubs = [];
  h.store.top = 0;
  h.seq.resyncAll();
  await h.settle();
  assert.deepEqual(h.resets, ['c']);
  // Then the new epoch flows.
  h.seq.receive('c', 'E2', h.publish(1)[0]!);
  assert.deepEqual(h.delivered, [{ offset: 1, epoch: 'E2' }]);
});

test('a live message in a new epoch is passed through (the session compares epochs itself)', () => {
  const h = harness();
  h.seq.track('c');
  h.seq.seed('c', 'E1', 7);
  h.seq.receive('c', 'E9', { offset: 1, data: null });
  assert.deepEqual(h.delivered, [{ offset: 1, epoch: 'E9' }]);
  assert.deepEqual(h.resets, []);
});

test('untrack during a fill stops it', async () => {
  const h = harness();
  h.seq.track('c');
  h.seq.seed('c', 'E1', 0);
  const ps = h.publish(3);
  h.seq.receive('c', 'E1', ps[2]!);
  h.seq.untrack('c');
  await h.settle();
  assert.deepEqual(h.delivered, []);
});
