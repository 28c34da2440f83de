/** Exact recovery by position: paged with no cap, gaps said plainly, live publications merged without duplicates. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

describe('recovery', () => {
  let node: SwitchboardNode;
  before(async () => {
    node = await startNode({
      port: 0,
      host: '127.0.0.1',
      insecure: true,
      recoveryPageSize: 100,
      namespaces: {
        r: { subscribe: 'anonymous', publish: 'anonymous', historyRead: 'anonymous', historySize: 5000, recover: true },
        short: { subscribe: 'anonymous', historyRead: 'anonymous', historySize: 10, recover: true },
        nohist: { subscribe: 'anonymous' },
      },
    });
  });
  after(() => node.close());

  test('a gap larger than a page is replayed in order, exactly once, then live publications follow', async () => {
    const c = await RawClient.connect(node.wsUrl);
    const first = await c.request({ t: 'sub', ch: 'r:big' });
    for (let i = 1; i <= 10; i++) await node.publish('r:big', i);
    await c.waitCount((f) => f.t === 'pub', 10);
    const last = c.pubs().at(-1)!;
    c.terminate();
    await c.closed;
    for (let i = 11; i <= 1234; i++) await node.publish('r:big', i);

    const c2 = await RawClient.connect(node.wsUrl);
    // Publish while the recovery is being paged out.
    const live = (async () => {
      for (let i = 1235; i <= 1300; i++) {
        await node.publish('r:big', i);
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    const reply = await c2.request({ t: 'sub', ch: 'r:big', recover: { epoch: first.epoch, offset: last.o } });
    assert.equal(reply.recovered, true);
    assert.equal(reply.pubs.length, 100, 'first page in the reply');
    await live;
    const pushed = await c2.waitCount((f) => f.t === 'pub', 1300 - 10 - 100, 10_000);
    const offsets = [...reply.pubs.map((p: any) => p.o), ...pushed.map((p) => p.o)];
    assert.deepEqual(offsets, Array.from({ length: 1290 }, (_, i) => i + 11));
    assert.deepEqual([...reply.pubs, ...pushed].map((p: any) => p.data), offsets);
    c2.close();
  });

  test('recovered: false when history no longer covers the gap, and live publications continue from the top', async () => {
    const c = await RawClient.connect(node.wsUrl);
    const sub = await c.request({ t: 'sub', ch: 'short:x' });
    await node.publish('short:x', 'a');
    await c.waitFor((f) => f.t === 'pub');
    c.terminate();
    for (let i = 0; i < 30; i++) await node.publish('short:x', i);
    const c2 = await RawClient.connect(node.wsUrl);
    const reply = await c2.request({ t: 'sub', ch: 'short:x', recover: { epoch: sub.epoch, offset: 1 } });
    assert.equal(reply.recovered, false);
    assert.equal(reply.offset, 31);
    assert.equal(reply.pubs, undefined);
    await node.publish('short:x', 'next');
    const p = await c2.waitFor((f) => f.t === 'pub');
    assert.equal(p.o, 32);
    c2.close();
  });

  test('wrong epoch or a position from the future → recovered: false', async () => {
    const top = await node.publish('r:epoch', 1);
    const c = await RawClient.connect(node.wsUrl);
    assert.equal((await c.request({ t: 'sub', ch: 'r:epoch', recover: { epoch: 'bogus', offset: 0 } })).recovered, false);
    await c.request({ t: 'unsub', ch: 'r:epoch' });
    assert.equal((await c.request({ t: 'sub', ch: 'r:epoch', recover: { epoch: top.epoch, offset: 99 } })).recovered, false);
    c.close();
  });

  test('up to date position → recovered with no publications', async () => {
    const pos = await node.publish('r:uptodate', 1);
    const c = await RawClient.connect(node.wsUrl);
    const reply = await c.request({ t: 'sub', ch: 'r:uptodate', recover: pos });
    assert.equal(reply.recovered, true);
    assert.deepEqual(reply.pubs, []);
    c.close();
  });

  test('namespaces without recovery ignore the recover field', async () => {
    const c = await RawClient.connect(node.wsUrl);
    const reply = await c.request({ t: 'sub', ch: 'nohist:x', recover: { epoch: 'e', offset: 3 } });
    assert.equal(reply.t, 'ok');
    assert.equal(reply.recoverable, false);
    assert.equal(reply.recovered, undefined);
    c.close();
  });
});
