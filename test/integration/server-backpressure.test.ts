/** Slow consumers: disconnected with a reconnect code, or conflated with gap markers on lossy namespaces. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

describe('backpressure', () => {
  let node: SwitchboardNode;
  before(async () => {
    node = await startNode({
      port: 0,
      host: '127.0.0.1',
      insecure: true,
      maxQueueBytes: 256 * 1024,
      namespaces: {
        strict: { subscribe: 'anonymous', historyRead: 'anonymous', historySize: 100, recover: true },
        lossy: { subscribe: 'anonymous', lossy: true },
      },
    });
  });
  after(() => node.close());

  /** Stops reading from the client's socket, so the server's kernel and user buffers fill. */
  function stall(c: RawClient): () => void {
    const sock = (c.ws as any)._socket;
    sock.pause();
    return () => sock.resume();
  }

  test('a consumer that stops reading is disconnected with 3004 (reconnect); a fast one is not', async () => {
    const slow = await RawClient.connect(node.wsUrl);
    const fast = await RawClient.connect(node.wsUrl);
    await slow.request({ t: 'sub', ch: 'strict:x' });
    await fast.request({ t: 'sub', ch: 'strict:x' });
    stall(slow);
    const payload = 'x'.repeat(16 * 1024);
    // Loopback kernel buffers hold several MB; push well past them.
    for (let i = 0; i < 2000 && node.stats.slowDisconnects === 0; i++) {
      await node.publish('strict:x', payload);
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.ok(node.stats.slowDisconnects >= 1, 'slow consumer detected');
    const fastDone = fast.pubs('strict:x').length;
    assert.ok(fastDone > 0);
    assert.equal(fast.closeCode, 0, 'the fast subscriber is unaffected');
    slow.ws.terminate();
    fast.close();
  });

  test('lossy namespace: a congested consumer gets the newest value plus gap markers covering everything replaced', async () => {
    const c = await RawClient.connect(node.wsUrl);
    await c.request({ t: 'sub', ch: 'lossy:cursor' });
    const resume = stall(c);
    const payload = 'y'.repeat(8 * 1024);
    const N = 3000;
    for (let i = 1; i <= N; i++) {
      await node.publish('lossy:cursor', { i, payload });
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.ok(node.stats.conflated > 0, 'publications were conflated');
    resume();
    await c.waitFor((f) => f.t === 'pub' && f.o === N, 15_000);
    assert.equal(c.closeCode, 0, 'not disconnected');
    // Every offset is either delivered once or covered by exactly one gap marker, in order.
    const seen: number[] = [];
    for (const f of c.frames) {
      if (f.t === 'pub') seen.push(f.o);
      if (f.t === 'gap') for (let o = f.from; o <= f.to; o++) seen.push(o);
    }
    assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i + 1));
    assert.ok(c.frames.some((f) => f.t === 'gap'), 'at least one gap marker');
    c.close();
  });
});
