/**
 * SDK transport negotiation against a real node behind a proxy that breaks transports
 * (test/e2e/proxy.ts): WebSocket refused or silently dropped → SSE; SSE refused or buffered →
 * long polling; everything refused → a TransportError naming each transport; the working
 * transport remembered per node; the app forcing a transport.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, TransportError, type ClientErrorEvent } from '../../src/client/index.ts';
import { freshMemory } from '../e2e/memory.ts';
import { startProxy, type BlockingProxy, type ProxyModes } from '../e2e/proxy.ts';
import { startFeedNode, waitFor, type Node } from './client-helpers.ts';

const cleanup: Array<() => unknown> = [];
let node: Node | undefined;
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await node?.close();
});

async function setup(modes: Partial<ProxyModes>): Promise<{ node: Node; proxy: BlockingProxy }> {
  node ??= await startFeedNode();
  const proxy = await startProxy(node.httpUrl, modes);
  cleanup.push(() => proxy.close());
  return { node, proxy };
}

function client(url: string, opts: ConstructorParameters<typeof Client>[1] = {}): Client {
  const c = new Client(url, { minDelay: 20, maxDelay: 200, openTimeout: 1000, transportMemory: freshMemory(), upgrade: false, ...opts });
  cleanup.push(() => c.close());
  return c;
}

/** Subscribes, publishes from the client and from the server, and checks both arrive once. */
async function roundTrip(c: Client, n: Node, ch: string): Promise<void> {
  const got: unknown[] = [];
  const sub = c.subscribe(ch, { onPublication: (p) => got.push(p.data) });
  await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
  await sub.publish({ from: 'client' });
  await n.publish(ch, { from: 'server' });
  await waitFor(() => got.length === 2, 5000, 'two publications');
  assert.deepEqual(got, [{ from: 'client' }, { from: 'server' }]);
  const pres = await sub.presence();
  assert.ok(c.id! in pres);
}

test('WebSocket refused by a proxy → SSE, and the session works', async () => {
  const { node, proxy } = await setup({ websocket: 'refuse' });
  const c = client(proxy.url);
  const transports: string[] = [];
  c.on('transport', (e) => transports.push(e.transport));
  await c.connect();
  assert.equal(c.transport, 'sse');
  assert.deepEqual(transports, ['sse']);
  assert.equal(proxy.seen.websocket, 1);
  await roundTrip(c, node, 'feed:fb-sse');
});

test('a silently dropped WebSocket upgrade is detected by openTimeout → SSE', async () => {
  const { proxy } = await setup({ websocket: 'hang' });
  const c = client(proxy.url, { openTimeout: 400 });
  const t0 = Date.now();
  await c.connect();
  assert.equal(c.transport, 'sse');
  const took = Date.now() - t0;
  assert.ok(took >= 400 && took < 3000, `fell back after the open timeout (${took} ms)`);
});

test('WebSocket and SSE refused → long polling, and the session works', async () => {
  const { node, proxy } = await setup({ websocket: 'refuse', sse: 'refuse' });
  const c = client(proxy.url);
  await c.connect();
  assert.equal(c.transport, 'poll');
  await roundTrip(c, node, 'feed:fb-poll');
});

test('a buffering proxy (SSE stream never arrives) → long polling', async () => {
  const { proxy } = await setup({ websocket: 'refuse', sse: 'hang' });
  const c = client(proxy.url, { openTimeout: 400 });
  await c.connect();
  assert.equal(c.transport, 'poll');
});

test('everything refused: a TransportError naming each transport, and the client keeps retrying', async () => {
  const { proxy } = await setup({ websocket: 'refuse', sse: 'refuse', poll: 'refuse' });
  const c = client(proxy.url);
  const errors: ClientErrorEvent[] = [];
  c.on('error', (e) => errors.push(e));
  const reasons: string[] = [];
  c.on('disconnected', (e) => reasons.push(e.reason));
  void c.connect();
  await waitFor(() => errors.length >= 2, 5000, 'two failed attempts');
  const e = errors[0]!;
  assert.equal(e.type, 'transport');
  assert.ok(e.error instanceof TransportError);
  assert.deepEqual(e.error.failures.map((f) => f.transport), ['websocket', 'sse', 'poll']);
  assert.match(e.error.message, /websocket: .*403.*; sse: .*403.*; poll: .*403/);
  assert.match(reasons[0]!, /no transport could connect/);
  assert.equal(c.state, 'connecting', 'still trying');
  // Unblocked: the client connects. Which transport depends on where the attempt in flight was
  // when the proxy let traffic through (its WebSocket may already have been refused, then SSE
  // passes), so any of the three is right; that it connects without a new connect() is the point.
  proxy.modes = { websocket: 'pass', sse: 'pass', poll: 'pass' };
  await waitFor(() => c.state === 'connected', 10_000, 'connected once unblocked');
  assert.ok(['websocket', 'sse', 'poll'].includes(c.transport ?? ''), `connected over ${c.transport}`);
});

test('the working transport is remembered per node: the next client starts with it', async () => {
  const { proxy } = await setup({ websocket: 'hang' });
  const memory = freshMemory();
  const a = client(proxy.url, { openTimeout: 400, transportMemory: memory });
  await a.connect();
  assert.equal(a.transport, 'sse');
  assert.deepEqual([...memory.map.values()], ['sse']);
  const upgradesBefore = proxy.seen.websocket;
  const b = client(proxy.url.replace('http:', 'ws:') + '/connection/websocket', { openTimeout: 400, transportMemory: memory });
  const t0 = Date.now();
  await b.connect();
  assert.equal(b.transport, 'sse');
  assert.equal(proxy.seen.websocket, upgradesBefore, 'no WebSocket attempt: the remembered SSE went first');
  assert.ok(Date.now() - t0 < 400, 'without waiting for the open timeout');
  // WebSocket works again and a client connects with it: the memory is cleared.
  proxy.modes = { websocket: 'pass', sse: 'refuse', poll: 'refuse' };
  const c = client(proxy.url, { transportMemory: memory });
  await c.connect();
  assert.equal(c.transport, 'websocket');
  assert.equal(memory.map.size, 0);
});

test('the app forces a transport: options.transports and setTransports()', async () => {
  const { node, proxy } = await setup({});
  const c = client(proxy.url, { transports: ['poll'] });
  await c.connect();
  assert.equal(c.transport, 'poll');
  const got: number[] = [];
  const sub = c.subscribe('feed:forced', { onPublication: (p) => got.push(p.offset) });
  await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
  await node.publish('feed:forced', 1);
  await waitFor(() => got.length === 1, 5000, 'first publication');
  const events: Array<{ transport: string; previous: string | undefined; upgrade: boolean }> = [];
  c.on('transport', (e) => events.push(e));
  c.setTransports(['sse']);
  await waitFor(() => c.transport === 'sse', 5000, 'switched to SSE');
  assert.deepEqual(events, [{ transport: 'sse', previous: 'poll', upgrade: true }]);
  assert.equal(c.state, 'connected');
  await node.publish('feed:forced', 2);
  await waitFor(() => got.length === 2, 5000, 'second publication');
  c.setTransports(['websocket', 'sse', 'poll']); // automatic: WebSocket is preferred and works
  await waitFor(() => c.transport === 'websocket', 5000, 'switched to WebSocket');
  await node.publish('feed:forced', 3);
  await waitFor(() => got.length === 3, 5000, 'third publication');
  assert.deepEqual(got, [1, 2, 3]);
  assert.throws(() => c.setTransports(['carrier-pigeon' as 'sse']), /transport names or factories/);
});
