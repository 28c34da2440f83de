/**
 * Lossy namespaces over HTTP/3 datagrams (`datagrams: true`), Node side, with the QUIC binding as
 * the client: publications of such a namespace arrive as datagrams (quarter stream ID, then the
 * length-prefixed frame marked `u: true`), a publication too big for a datagram goes on the session
 * stream, a full datagram send queue drops and counts, and a reliable namespace on the same
 * connection loses nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { loadQuiche } from '../../src/transports/webtransport/binding.ts';
import { MessageReader } from '../../src/transports/webtransport/framer.ts';
import { H3TestClient } from '../helpers/webtransport-client.ts';
import { RawClient } from '../helpers/raw-client.ts';

const json = (o: unknown) => Buffer.from(JSON.stringify(o));
const nodes: SwitchboardNode[] = [];
const clients: H3TestClient[] = [];

async function lossyNode(datagramQueueLength = 256): Promise<SwitchboardNode> {
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    allowAnonymous: true,
    namespaces: {
      cursor: { subscribe: 'anonymous', publish: 'anonymous', datagrams: true, lossy: true, historySize: 100, recover: true },
      chat: { subscribe: 'anonymous', publish: 'anonymous', historySize: 1000, recover: true },
    },
    webtransport: { port: 0, datagramQueueLength },
  });
  nodes.push(node);
  return node;
}

/** A WebTransport session subscribed to `channels`; returns the client. */
async function subscribed(node: SwitchboardNode, channels: string[]): Promise<H3TestClient> {
  const c = await H3TestClient.connect(node.webtransport!.port);
  clients.push(c);
  await c.connectSession(0);
  c.openSessionStream(4, 0, [json({ t: 'connect', id: 1 }), ...channels.map((ch, i) => json({ t: 'sub', id: 2 + i, ch }))]);
  const replies = (await c.messages(4, 1 + channels.length)).map((m) => JSON.parse(m));
  assert.ok(replies.every((r) => r.t === 'ok'), JSON.stringify(replies));
  return c;
}

/** Publications in the client's datagrams for session 0 (each one length-prefixed message). */
function datagramPubs(c: H3TestClient): Array<Record<string, any>> {
  return c.datagramPayloads(0).flatMap((p) => new MessageReader(1 << 20).push(p).map((m) => JSON.parse(m.toString())));
}

async function streamPubs(c: H3TestClient, ch: string, n: number): Promise<Array<Record<string, any>>> {
  let pubs: Array<Record<string, any>> = [];
  await c.until(() => {
    pubs = new MessageReader(1 << 20)
      .push(Buffer.concat(c.streams.get(4) ?? []))
      .map((m) => JSON.parse(m.toString()))
      .filter((f) => f.t === 'pub' && f.ch === ch);
    return pubs.length >= n;
  }, 5000);
  return pubs;
}

before(async () => {
  assert.ok(await loadQuiche(), '@matrixai/quic must be installed for the WebTransport tests');
});

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const n of nodes) await n.close();
});

test('datagrams namespace: publications arrive as datagrams marked u:true; the reliable namespace stays on the stream', async () => {
  const node = await lossyNode();
  const c = await subscribed(node, ['cursor:a', 'chat:a']);
  for (let i = 1; i <= 20; i++) {
    await node.publish('cursor:a', { x: i });
    await node.publish('chat:a', { n: i });
  }
  await c.until(() => datagramPubs(c).length >= 20, 5000);
  const dg = datagramPubs(c);
  assert.deepEqual(
    dg.map((p) => p.o),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.ok(dg.every((p) => p.t === 'pub' && p.ch === 'cursor:a' && p.u === true && typeof p.e === 'string'));
  const chat = await streamPubs(c, 'chat:a', 20);
  assert.deepEqual(
    chat.map((p) => p.data.n),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.ok(chat.every((p) => p.u === undefined), 'reliable publications carry no u');
  assert.equal((await streamPubs(c, 'cursor:a', 0)).length, 0, 'no cursor publication on the stream');
  assert.ok(node.stats.datagramsSent >= 20);

  // A WebSocket subscriber of the same lossy channel gets ordinary frames (no datagrams there).
  const ws = await RawClient.connect(node.wsUrl);
  await ws.request({ t: 'sub', ch: 'cursor:a' });
  await node.publish('cursor:a', { x: 21 });
  const f = await ws.waitFor((m) => m.t === 'pub' && m.ch === 'cursor:a');
  assert.equal(f.u, undefined);
  ws.close();
});

test('a publication bigger than a datagram goes on the session stream, still marked u:true', async () => {
  const node = await lossyNode();
  const c = await subscribed(node, ['cursor:big']);
  await node.publish('cursor:big', { blob: 'x'.repeat(3000) });
  await node.publish('cursor:big', { x: 2 });
  const onStream = await streamPubs(c, 'cursor:big', 1);
  assert.equal(onStream[0]!.o, 1);
  assert.equal(onStream[0]!.u, true);
  await c.until(() => datagramPubs(c).length >= 1, 5000);
  assert.deepEqual(
    datagramPubs(c).map((p) => p.o),
    [2],
  );
});

test('a full datagram send queue drops publications and counts them; the reliable channel loses nothing', async () => {
  const node = await lossyNode(4);
  const c = await subscribed(node, ['cursor:burst', 'chat:burst']);
  const before = { sent: node.stats.datagramsSent, dropped: node.stats.datagramsDropped };
  // One burst in a single turn: the queue (4) fills long before the endpoint's next flush.
  const pubs: Array<Promise<unknown>> = [];
  for (let i = 1; i <= 200; i++) {
    pubs.push(node.publish('cursor:burst', { x: i }));
    pubs.push(node.publish('chat:burst', { n: i }));
  }
  await Promise.all(pubs);
  const chat = await streamPubs(c, 'chat:burst', 200);
  assert.equal(chat.length, 200);
  const sent = node.stats.datagramsSent - before.sent;
  const dropped = node.stats.datagramsDropped - before.dropped;
  assert.equal(sent + dropped, 200, `every lossy publication either sent (${sent}) or dropped (${dropped})`);
  assert.ok(dropped > 0, 'the bounded queue dropped some');
  await c.until(() => datagramPubs(c).length >= Math.min(sent, 1), 3000);
  const got = datagramPubs(c);
  assert.ok(got.length <= sent);
  const offsets = got.map((p) => p.o);
  assert.equal(new Set(offsets).size, offsets.length, 'no duplicates');
  const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
  const m = /^switchboard_datagrams_dropped_total(?:\{[^}]*\})? (\d+)$/m.exec(metrics);
  assert.ok(m && Number(m[1]) >= dropped, 'counted in metrics');
});
