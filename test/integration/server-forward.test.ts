/**
 * No sticky sessions: SSE and polling requests that land on a node other than the one holding
 * their session are proxied to it (two nodes on one shared broker, requests alternating between
 * them as a round-robin balancer would send them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { keyOwner, ownerTag } from '../../src/server/forward.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';

const opts = { host: '127.0.0.1', port: 0, insecure: true, nodeInfoInterval: 0.1, httpTransports: { pollTimeout: 1 } };

async function pair(): Promise<{ a: SwitchboardNode; b: SwitchboardNode; close: () => Promise<void> }> {
  const broker = new MemoryBroker();
  const a = await startNode({ ...opts, name: 'node-a', broker });
  const b = await startNode({ ...opts, name: 'node-b', broker: broker.peer() });
  await new Promise((r) => setTimeout(r, 300)); // registry exchange
  return {
    a,
    b,
    close: async () => {
      await a.close();
      await b.close();
      await broker.close();
    },
  };
}

test('session keys name their node', () => {
  assert.equal(keyOwner(`abcdefghijklmnopqrstuv.${ownerTag('node-α')}`), 'node-α');
  assert.equal(keyOwner('abcdefghijklmnopqrstuv'), null);
  assert.equal(keyOwner('x.!!'), null);
});

test('long polling alternating between two nodes keeps one session and loses nothing', async () => {
  const { a, b, close } = await pair();
  const nodes = [a, b];
  let turn = 0;
  const next = () => nodes[turn++ % 2]!.httpUrl;
  const first = (await (await fetch(`${next()}/connection/poll`)).json()) as any;
  assert.equal(keyOwner(first.session), 'node-a');
  const key = encodeURIComponent(first.session);
  const post = async (frames: object[]) => {
    const r = await fetch(`${next()}/connection/poll?session=${key}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: frames.map((f) => JSON.stringify(f)).join('\n') });
    assert.equal(r.status, 204, await r.text());
  };
  let ack = 0;
  const received: any[] = [];
  const poll = async () => {
    const r = await fetch(`${next()}/connection/poll?session=${key}&ack=${ack}`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as any;
    ack = body.seq;
    received.push(...body.frames);
  };
  await post([{ t: 'connect', id: 1 }, { t: 'sub', id: 2, ch: 'room' }]);
  while (!received.some((f) => f.id === 2)) await poll();
  for (let i = 1; i <= 20; i++) await (i % 2 ? a : b).publish('room', i);
  while (received.filter((f) => f.t === 'pub').length < 20) await poll();
  assert.deepEqual(received.filter((f) => f.t === 'pub').map((f) => f.data), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.ok(b.stats.forwarded >= 2, `requests were forwarded (${b.stats.forwarded})`);
  assert.equal(a.connectionCount, 1);
  assert.equal(b.connectionCount, 0);
  await close();
});

test('an SSE stream opened on the other node is proxied and streams live', async () => {
  const { a, b, close } = await pair();
  const first = (await (await fetch(`${a.httpUrl}/connection/poll`)).json()) as any; // warm-up: registry is shared
  assert.ok(first.session);
  // Open SSE on A, then continue it through B using its session key.
  const ctl = new AbortController();
  const res = await fetch(`${a.httpUrl}/connection/sse`, { signal: ctl.signal });
  const reader = res.body!.getReader();
  let text = '';
  const readUntil = async (pred: (t: string) => boolean) => {
    while (!pred(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      text += Buffer.from(value).toString();
    }
  };
  await readUntil((t) => t.includes('event: session'));
  const key = JSON.parse(/event: session\ndata: (.*)\n/.exec(text)![1]!).session as string;
  assert.equal(keyOwner(key), 'node-a');
  const r = await fetch(`${b.httpUrl}/connection/sse?session=${encodeURIComponent(key)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"t":"connect","id":1}\n{"t":"sub","id":2,"ch":"live"}',
  });
  assert.equal(r.status, 204);
  await readUntil((t) => t.includes('"id":2'));
  await b.publish('live', 'via b');
  await readUntil((t) => t.includes('via b'));
  ctl.abort();
  await close();
});

test('a key whose node is gone → 404 with a clear message', async () => {
  const node = await startNode({ ...opts, name: 'solo' });
  const r = await fetch(`${node.httpUrl}/connection/poll?session=abcdefghijklmnopqrstuv.${ownerTag('vanished')}&ack=0`);
  assert.equal(r.status, 404);
  assert.match(((await r.json()) as any).error.message, /not in the cluster/);
  await node.close();
});
