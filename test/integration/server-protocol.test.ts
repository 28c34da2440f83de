import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

describe('server protocol over WebSocket', () => {
  let node: SwitchboardNode;
  before(async () => {
    node = await startNode({
      port: 0,
      host: '127.0.0.1',
      insecure: true,
      namespaces: {
        chat: { subscribe: 'anonymous', publish: 'anonymous', historySize: 100, recover: true, presence: true, presenceRead: 'anonymous', historyRead: 'anonymous', joinLeave: true },
        ro: { subscribe: 'anonymous' },
      },
      maxSubscriptions: 3,
    });
  });
  after(() => node.close());

  for (const format of ['json', 'msgpack'] as const) {
    test(`${format}: connect, subscribe, publish, receive with offset, epoch and publisher`, async () => {
      const a = await RawClient.connect(node.wsUrl, { format });
      const b = await RawClient.connect(node.wsUrl, { format });
      const ch = `chat:${format}`;
      const subA = await a.request({ t: 'sub', ch });
      assert.equal(subA.t, 'ok');
      assert.equal(subA.offset, 0);
      assert.equal(subA.recoverable, true);
      const ack = await b.request({ t: 'pub', ch, data: { text: 'hi', n: [1, 2, 3] } });
      assert.equal(ack.t, 'ok');
      assert.equal(ack.offset, 1);
      assert.equal(ack.epoch, subA.epoch);
      const pub = await a.waitFor((f) => f.t === 'pub');
      assert.deepEqual(pub, { t: 'pub', ch, data: { text: 'hi', n: [1, 2, 3] }, o: 1, e: subA.epoch, info: { user: '', client: b.clientId } });
      a.close();
      b.close();
    });
  }

  test('several frames in one message are processed in order', async () => {
    const c = await RawClient.open(node.wsUrl);
    c.sendRaw(['{"t":"connect","id":1}', '{"t":"sub","id":2,"ch":"chat:multi"}', '{"t":"pub","id":3,"ch":"chat:multi","data":1}'].join('\n'));
    const pub = await c.waitFor((f) => f.t === 'pub');
    assert.equal(pub.o, 1);
    assert.equal((await c.waitFor((f) => f.id === 2)).t, 'ok');
    assert.equal((await c.waitFor((f) => f.id === 3)).t, 'ok');
    c.close();
  });

  test('presence, join/leave, history, unsubscribe', async () => {
    const a = await RawClient.connect(node.wsUrl);
    await a.request({ t: 'sub', ch: 'chat:p' });
    const b = await RawClient.connect(node.wsUrl);
    await b.request({ t: 'sub', ch: 'chat:p' });
    const join = await a.waitFor((f) => f.t === 'join' && f.info.client === b.clientId);
    assert.equal(join.ch, 'chat:p');
    const pres = await a.request({ t: 'presence', ch: 'chat:p' });
    assert.deepEqual(Object.keys(pres.presence).sort(), [a.clientId, b.clientId].sort());
    assert.equal(pres.cursor, undefined);
    // Paged in join order: a first, then b; the last page carries no cursor.
    const p1 = await a.request({ t: 'presence', ch: 'chat:p', limit: 1 });
    assert.deepEqual(Object.keys(p1.presence), [a.clientId]);
    assert.equal(typeof p1.cursor, 'string');
    const p2 = await a.request({ t: 'presence', ch: 'chat:p', limit: 1, cursor: p1.cursor });
    assert.deepEqual(Object.keys(p2.presence), [b.clientId]);
    assert.equal(p2.cursor, undefined);
    const bad = await a.request({ t: 'presence', ch: 'chat:p', cursor: 'not-a-cursor' });
    assert.deepEqual([bad.t, bad.code], ['err', 107]);
    const stats = await a.request({ t: 'presence_stats', ch: 'chat:p' });
    assert.deepEqual([stats.t, stats.clients, stats.users], ['ok', 2, 1]);
    for (let i = 0; i < 5; i++) await b.request({ t: 'pub', ch: 'chat:p', data: i });
    const h = await a.request({ t: 'history', ch: 'chat:p', limit: 2 });
    assert.deepEqual(h.pubs.map((p: any) => p.data), [3, 4]);
    const hr = await a.request({ t: 'history', ch: 'chat:p', limit: 2, reverse: true });
    assert.deepEqual(hr.pubs.map((p: any) => p.o), [5, 4]);
    assert.equal((await b.request({ t: 'unsub', ch: 'chat:p' })).t, 'ok');
    await a.waitFor((f) => f.t === 'leave' && f.info.client === b.clientId);
    const pres2 = await a.request({ t: 'presence', ch: 'chat:p' });
    assert.deepEqual(Object.keys(pres2.presence), [a.clientId]);
    b.close();
    await a.waitCount((f) => f.t === 'leave', 1);
    a.close();
  });

  test('reply errors keep the connection: 104, 105, 106, 103, 102, 108, 112, 113', async () => {
    const c = await RawClient.connect(node.wsUrl);
    const expect = async (frame: Record<string, unknown>, code: number) => {
      const r = await c.request(frame);
      assert.equal(r.t, 'err', JSON.stringify(r));
      assert.equal(r.code, code, JSON.stringify(r));
      assert.equal(typeof r.message, 'string');
      assert.ok(r.message.length > 0);
    };
    await expect({ t: 'frobnicate' }, 104);
    await c.request({ t: 'sub', ch: 'chat:x1' });
    await expect({ t: 'sub', ch: 'chat:x1' }, 105);
    await c.request({ t: 'sub', ch: 'chat:x2' });
    await c.request({ t: 'sub', ch: 'chat:x3' });
    await expect({ t: 'sub', ch: 'chat:x4' }, 106);
    await expect({ t: 'pub', ch: 'ro:x', data: 1 }, 103);
    await expect({ t: 'sub', ch: 'nope:x' }, 102);
    await expect({ t: 'presence', ch: 'ro:x' }, 108);
    await expect({ t: 'presence_stats', ch: 'ro:x' }, 108);
    await expect({ t: 'history', ch: 'ro:x' }, 108);
    await expect({ t: 'sub', ch: 'bad channel!' }, 112);
    await expect({ t: 'sub', ch: 'x'.repeat(300) }, 112);
    await expect({ t: 'connect' }, 113);
    // still serving this very connection
    assert.equal((await c.request({ t: 'pub', ch: 'chat:x1', data: 'ok' })).t, 'ok');
    c.close();
  });

  test('idempotent publish: same key, same position, one delivery', async () => {
    const c = await RawClient.connect(node.wsUrl);
    await c.request({ t: 'sub', ch: 'chat:idem' });
    const a = await c.request({ t: 'pub', ch: 'chat:idem', data: 'x', key: 'k' });
    const b = await c.request({ t: 'pub', ch: 'chat:idem', data: 'x', key: 'k' });
    assert.deepEqual([a.offset, a.epoch], [b.offset, b.epoch]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.pubs('chat:idem').length, 1);
    c.close();
  });

  test('server disconnect by client id carries code, reconnect flag and advised delay', async () => {
    const c = await RawClient.connect(node.wsUrl);
    assert.equal(node.disconnect({ client: c.clientId }, { reconnect: true, delay: 1234 }), 1);
    const d = await c.waitFor((f) => f.t === 'disconnect');
    assert.deepEqual(d, { t: 'disconnect', code: 3006, reason: 'reconnect requested', reconnect: true, delay: 1234 });
    assert.equal((await c.closed).code, 3006);
    const c2 = await RawClient.connect(node.wsUrl);
    node.disconnect({ client: c2.clientId }, { reconnect: false });
    assert.equal((await c2.closed).code, 3503);
  });
});
