/**
 * The SDK in Node over WebTransport (`webtransportNodeTransport`, the QUIC binding as the client):
 * connect with the pinned dev certificate, a chat round trip on the session stream, a `datagrams`
 * namespace over datagrams with packet loss reported as gaps while the reliable channel loses
 * nothing, and a wrong pinned hash refused before any frame is sent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type GapEvent, type Publication } from '../../src/client/index.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { loadQuiche } from '../../src/transports/webtransport/binding.ts';
import { webtransportNodeTransport } from '../../src/transports/webtransport/node-client-transport.ts';

let node: SwitchboardNode;
const clients: Client[] = [];

before(async () => {
  assert.ok(await loadQuiche(), '@matrixai/quic must be installed for the WebTransport tests');
  node = await startNode({
    port: 0,
    host: '127.0.0.1',
    allowAnonymous: true,
    namespaces: {
      chat: { subscribe: 'anonymous', publish: 'anonymous', historySize: 1000, recover: true },
      cursor: { subscribe: 'anonymous', publish: 'anonymous', datagrams: true, lossy: true },
    },
    webtransport: { port: 0 },
  });
});

after(async () => {
  for (const c of clients) c.close();
  await node?.close();
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('Node SDK over WebTransport: chat on the stream, datagrams with loss reported as gaps', { timeout: 30_000 }, async () => {
  const c = new Client(node.httpUrl, { transports: [webtransportNodeTransport], openTimeout: 3000, upgrade: false });
  clients.push(c);
  const got: Publication[] = [];
  const gaps: GapEvent[] = [];
  c.on('publication', (p) => got.push(p));
  c.on('gap', (g) => gaps.push(g));
  c.subscribe('chat:n');
  c.subscribe('cursor:n');
  await c.connect();
  assert.equal(c.transport, 'webtransport');
  await until(() => c.getSubscription('chat:n')?.state === 'subscribed' && c.getSubscription('cursor:n')?.state === 'subscribed');
  await c.publish('chat:n', { text: 'from node over quic' });
  await until(() => got.some((p) => p.channel === 'chat:n'));
  assert.deepEqual(got[0]!.data, { text: 'from node over quic' });

  // A lossy path: the node drops a random 20 % of the packets it sends.
  const endpoint = node.webtransport!.endpoint! as unknown as { sendPacket(buf: Buffer, to: unknown): void };
  const send = endpoint.sendPacket.bind(endpoint);
  endpoint.sendPacket = (buf, to) => {
    if (Math.random() >= 0.2) send(buf, to);
  };
  for (let i = 1; i <= 100; i++) {
    await node.publish('cursor:n', { i });
    await node.publish('chat:n', { i });
  }
  await until(() => got.filter((p) => p.channel === 'chat:n').length >= 101, 20_000);
  endpoint.sendPacket = send;
  await node.publish('cursor:n', { i: 101 });
  await until(() => got.some((p) => p.channel === 'cursor:n' && (p.data as { i: number }).i === 101));
  const chat = got.filter((p) => p.channel === 'chat:n').map((p) => p.offset);
  assert.deepEqual(
    chat,
    Array.from({ length: 101 }, (_, k) => k + 1),
  );
  const cursor = got.filter((p) => p.channel === 'cursor:n').map((p) => p.offset);
  const cursorGaps = gaps.filter((g) => g.channel === 'cursor:n');
  assert.ok(cursor.length < 101 && cursorGaps.length > 0, `lost some (${cursor.length} of 101 arrived)`);
  assert.ok(cursorGaps.every((g) => g.reason === 'gap'));
  const covered = new Set(cursor);
  for (const g of cursorGaps) for (let o = g.from!; o <= g.to!; o++) covered.add(o);
  assert.equal(covered.size, 101, 'delivered + reported = everything');
  assert.deepEqual(
    gaps.filter((g) => g.channel === 'chat:n'),
    [],
  );
  assert.equal(c.state, 'connected');
});

test('Node SDK over WebTransport: a certificate that does not match the pinned hash is refused', { timeout: 15_000 }, async () => {
  const realFetch = globalThis.fetch;
  const fetchWrongPin = async (input: string, init?: RequestInit): Promise<Response> => {
    const r = await realFetch(input, init);
    const body = (await r.json()) as { certificateHashes?: Array<{ algorithm: string; value: string }> };
    body.certificateHashes = [{ algorithm: 'sha-256', value: Buffer.alloc(32, 7).toString('base64') }];
    return new Response(JSON.stringify(body), { status: r.status, headers: { 'content-type': 'application/json' } });
  };
  const events: Array<{ code: number; reason: string }> = [];
  await assert.rejects(
    webtransportNodeTransport.create(
      { url: node.httpUrl, codec: (await import('../../src/protocol/codec.ts')).jsonCodec, fetch: fetchWrongPin },
      { message: () => assert.fail('no message may arrive'), close: (e) => events.push(e) },
    ),
    /does not match the pinned SHA-256/,
  );
});
