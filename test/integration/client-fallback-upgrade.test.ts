/**
 * The background upgrade: a client on a fallback (SSE or long polling, because a proxy refuses
 * WebSocket) probes WebSocket with backoff; once WebSocket passes, it moves the live session to it
 * while publications stream in, and every publication arrives exactly once, in order, with no gap
 * reported. Client publishes made during the move are stored once each.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type GapEvent, type StreamPosition, type TransportEvent } from '../../src/client/index.ts';
import { startProxy, type ProxyModes } from '../e2e/proxy.ts';
import { freshMemory } from '../e2e/memory.ts';
import { sleep, startFeedNode, waitFor, type Node } from './client-helpers.ts';

const cleanup: Array<() => unknown> = [];
let node: Node | undefined;
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await node?.close();
});

const cases: Array<{ from: 'sse' | 'poll'; blocked: Partial<ProxyModes> }> = [
  { from: 'sse', blocked: { websocket: 'refuse' } },
  { from: 'poll', blocked: { websocket: 'refuse', sse: 'refuse' } },
];

for (const { from, blocked } of cases) {
  test(`upgrade ${from} → websocket under a steady publication stream: exactly once, in order`, async () => {
    node ??= await startFeedNode();
    const n = node;
    const proxy = await startProxy(n.httpUrl, blocked);
    cleanup.push(() => proxy.close());
    const c = new Client(proxy.url, { minDelay: 20, maxDelay: 200, openTimeout: 1000, transportMemory: freshMemory(), upgradeMinDelay: 200, upgradeMaxDelay: 800 });
    cleanup.push(() => c.close());
    const transports: TransportEvent[] = [];
    c.on('transport', (e) => transports.push(e));
    const disconnects: number[] = [];
    c.on('disconnected', (e) => disconnects.push(e.code));

    const ch = `feed:upgrade-${from}`;
    const offsets: number[] = [];
    const datas: unknown[] = [];
    const gaps: GapEvent[] = [];
    const sub = c.subscribe(ch, {
      onPublication: (p) => {
        offsets.push(p.offset);
        datas.push(p.data);
      },
      onGap: (g) => gaps.push(g),
    });
    await c.connect();
    assert.equal(c.transport, from);
    await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
    const oldId = c.id;

    // Publications from the server (every ~2 ms) and from the client itself (every ~15 ms).
    let stop = false;
    let serverCount = 0;
    const serverPub = (async () => {
      while (!stop) {
        await n.publish(ch, { s: serverCount++ });
        await sleep(2);
      }
    })();
    const acks: Array<Promise<StreamPosition>> = [];
    const clientPub = (async () => {
      for (let i = 0; !stop; i++) {
        acks.push(c.publish(ch, { c: i }));
        await sleep(15);
      }
    })();

    await sleep(700); // probes fail meanwhile (WebSocket refused)
    const probesWhileBlocked = proxy.seen.websocket;
    assert.ok(probesWhileBlocked >= 1 && probesWhileBlocked <= 8, `probes back off (${probesWhileBlocked} WebSocket attempts in ~0.7 s)`);
    proxy.modes = { ...proxy.modes, websocket: 'pass' };
    await waitFor(() => c.transport === 'websocket', 5000, 'upgraded to WebSocket');
    await sleep(400); // keep publishing on the new transport a little
    stop = true;
    await Promise.all([serverPub, clientPub]);
    const positions = await Promise.all(acks);
    const total = serverCount + acks.length;
    await waitFor(() => offsets.length >= total, 10_000, `${total} publications`);
    await sleep(100);

    assert.deepEqual(
      offsets,
      Array.from({ length: total }, (_, i) => i + 1),
      'every offset exactly once and in order',
    );
    assert.deepEqual(gaps, [], 'no gap reported');
    assert.equal(new Set(positions.map((p) => p.offset)).size, acks.length, 'each client publish stored once');
    const clientSeen = datas.filter((d) => typeof d === 'object' && d !== null && 'c' in d).map((d) => (d as { c: number }).c);
    assert.deepEqual(clientSeen, Array.from({ length: acks.length }, (_, i) => i), 'client publishes delivered once each, in order');
    assert.deepEqual(disconnects, [], 'the session moved without a disconnect');
    assert.deepEqual(
      transports.map((t) => [t.transport, t.previous, t.upgrade]),
      [
        [from, undefined, false],
        ['websocket', from, true],
      ],
    );
    assert.notEqual(c.id, oldId, 'a new server session');
    // The old session left the channel at the switch: presence shows this client once.
    const pres = await sub.presence();
    assert.deepEqual(Object.keys(pres), [c.id]);
  });
}
