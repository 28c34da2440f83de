/** TurnBatcher: per-channel batches that close at the end of the event-loop turn, in call order. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnBatcher } from '../../src/broker/batcher.ts';

function recorder(maxItems = 3, maxBytes = 100) {
  const sent: Array<[string, number[]]> = [];
  const b = new TurnBatcher<number>({ maxItems, maxBytes, send: (ch, items) => void sent.push([ch, items]) });
  return { b, sent };
}

const turn = () => new Promise((r) => setImmediate(r));

test('items of one turn leave per channel at its end; a later turn starts new batches', async () => {
  const { b, sent } = recorder();
  b.add('a', 't', 1, 1);
  b.add('b', 't', 2, 1);
  b.add('a', 't', 3, 1);
  assert.deepEqual(sent, [], 'nothing before the turn ends');
  await turn();
  assert.deepEqual(sent, [['a', [1, 3]], ['b', [2]]]);
  b.add('a', 't', 4, 1);
  await turn();
  assert.deepEqual(sent.at(-1), ['a', [4]]);
});

test('a full batch, a byte limit or another tag sends the open batch first, keeping call order', async () => {
  const { b, sent } = recorder(3, 10);
  for (const i of [1, 2, 3, 4]) b.add('a', 't', i, 1); // the 4th opens a second batch
  b.add('a', 'other', 5, 1); // another tag
  b.add('a', 'other', 6, 9); // 1 + 9 = 10: fits
  b.add('a', 'other', 7, 1); // would pass 10 bytes
  b.add('a', 'other', 8, 50); // larger than the limit alone: a batch of its own
  await turn();
  assert.deepEqual(sent, [['a', [1, 2, 3]], ['a', [4]], ['a', [5, 6]], ['a', [7]], ['a', [8]]]);
});

test('flush sends one channel now (before something unbatched); flushAll sends the rest; nothing is sent twice', async () => {
  const { b, sent } = recorder();
  b.add('a', 't', 1, 1);
  b.add('b', 't', 2, 1);
  b.flush('a');
  assert.deepEqual(sent, [['a', [1]]]);
  b.flush('a');
  b.flushAll();
  assert.deepEqual(sent, [['a', [1]], ['b', [2]]]);
  await turn();
  assert.equal(sent.length, 2);
});
