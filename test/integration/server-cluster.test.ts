/**
 * Cluster behaviour that does not depend on the broker's kind, tested with two nodes on one
 * shared in-memory broker backend: cross-node delivery, the node registry, rebalancing, drain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { startNode } from '../../src/app/index.ts';
import { SignJWT } from 'jose';
import { RawClient } from '../helpers/raw-client.ts';

const ns = { namespaces: { c: { subscribe: 'anonymous' as const, publish: 'anonymous' as const, historyRead: 'anonymous' as const, historySize: 100, recover: true } } };

test('two nodes on one broker: cross-node publications and a shared node registry', async () => {
  const broker = new MemoryBroker();
  const a = await startNode({ port: 0, host: '127.0.0.1', insecure: true, name: 'a', broker, nodeInfoInterval: 0.1, ...ns });
  const b = await startNode({ port: 0, host: '127.0.0.1', insecure: true, name: 'b', broker: broker.peer(), nodeInfoInterval: 0.1, ...ns });
  const ca = await RawClient.connect(a.wsUrl);
  const cb = await RawClient.connect(b.wsUrl);
  await ca.request({ t: 'sub', ch: 'c:x' });
  await cb.request({ t: 'pub', ch: 'c:x', data: 'from b' });
  assert.equal((await ca.waitFor((f) => f.t === 'pub')).data, 'from b');
  await new Promise((r) => setTimeout(r, 300));
  const info = (await (await fetch(`${b.httpUrl}/api/info`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).json()) as any;
  assert.deepEqual(info.result.nodes.map((n: any) => [n.name, n.connections, n.stale]), [['a', 1, false], ['b', 1, false]]);
  ca.close();
  cb.close();
  await a.close();
  await new Promise((r) => setTimeout(r, 500));
  const after = b.clusterInfo();
  assert.equal(after.find((n) => n.name === 'a')?.stale, true, 'a node that stopped reporting shows as stale');
  await b.close();
  await broker.close();
});

test('rebalancing: a node far above the average asks a share of its clients to reconnect', async () => {
  const broker = new MemoryBroker();
  const opts = { port: 0, host: '127.0.0.1', insecure: true, nodeInfoInterval: 0.2, rebalanceMinConnections: 10, ...ns };
  const a = await startNode({ ...opts, name: 'a', broker });
  const b = await startNode({ ...opts, name: 'b', broker: broker.peer() });
  const clients = await Promise.all(Array.from({ length: 60 }, () => RawClient.connect(a.wsUrl)));
  await new Promise((r) => setTimeout(r, 1500));
  const moved = clients.filter((c) => c.closeCode === 3006);
  assert.ok(moved.length >= 6 && moved.length <= 40, `moved ${moved.length}`);
  for (const c of moved) {
    const d = c.frames.find((f) => f.t === 'disconnect')!;
    assert.equal(d.reconnect, true);
    assert.ok(d.delay >= 0 && d.delay < 200);
  }
  assert.ok(a.cluster.rebalanced >= moved.length);
  for (const c of clients) c.close();
  await a.close();
  await b.close();
  await broker.close();
});

test('drain: readyz turns 503 (healthz stays 200), new upgrades are refused, clients leave in batches over the window with 3001', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, ...ns });
  const clients = await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(node.wsUrl)));
  const closedAt: number[] = [];
  for (const c of clients) void c.closed.then(() => closedAt.push(Date.now()));
  const t0 = Date.now();
  const draining = node.drain(1000);
  assert.equal((await fetch(`${node.httpUrl}/readyz`)).status, 503);
  assert.deepEqual(((await (await fetch(`${node.httpUrl}/readyz`)).json()) as { status: string }).status, 'draining');
  // Liveness: the process still serves (restarting it would not help).
  assert.equal((await fetch(`${node.httpUrl}/healthz`)).status, 200);
  await assert.rejects(RawClient.open(node.wsUrl), /HTTP 503/);
  await draining;
  await Promise.all(clients.map((c) => c.closed));
  assert.ok(clients.every((c) => c.closeCode === 3001));
  const spread = Math.max(...closedAt) - Math.min(...closedAt);
  assert.ok(spread >= 500, `closes spread over ${spread} ms`);
  assert.ok(Math.max(...closedAt) - t0 < 3000);
  await node.close();
});

test('user registry: /api/connections finds a user on every node, marks a dead node stale, and /api/disconnect reaches every node', async () => {
  const secret = 'registry-secret-registry-secret-0';
  const token = (user: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).sign(new TextEncoder().encode(secret));
  const broker = new MemoryBroker();
  const opts = { port: 0, host: '127.0.0.1', jwt: { secret }, apiKey: 'k', nodeInfoInterval: 0.1, ...ns };
  const a = await startNode({ ...opts, name: 'a', broker });
  const b = await startNode({ ...opts, name: 'b', broker: broker.peer() });
  const api = async (node: typeof a, method: string, body: unknown) => {
    const res = await fetch(`${node.httpUrl}/api/${method}`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'apikey k' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const alice = [await RawClient.connect(a.wsUrl, { token: await token('alice') }), await RawClient.connect(a.wsUrl, { token: await token('alice') }), await RawClient.connect(b.wsUrl, { token: await token('alice') })];
  const bob = await RawClient.connect(b.wsUrl, { token: await token('bob') });
  await new Promise((r) => setTimeout(r, 300)); // both nodes reported to the registry

  const found = await api(b, 'connections', { user: 'alice' });
  assert.equal(found.status, 200);
  const rows = found.body.result.connections.map((c: any) => [c.client, c.node, c.transport, c.stale]).sort();
  assert.deepEqual(rows, [[alice[0]!.clientId, 'a', 'websocket', false], [alice[1]!.clientId, 'a', 'websocket', false], [alice[2]!.clientId, 'b', 'websocket', false]].sort());
  const paged = await api(a, 'connections', { user: 'alice', limit: 2 });
  assert.equal(paged.body.result.connections.length, 2);
  const rest = await api(a, 'connections', { user: 'alice', limit: 2, cursor: paged.body.result.cursor });
  assert.equal(rest.body.result.connections.length, 1);
  assert.equal((await api(a, 'connections', { user: '' })).status, 400);
  assert.equal((await api(a, 'connections', { user: 'alice', cursor: 'nope' })).status, 400);

  // Asked on node b, a disconnect by user closes alice on both nodes; bob stays.
  const r = await api(b, 'disconnect', { user: 'alice', reconnect: false });
  assert.deepEqual(r.body.result, { disconnected: 1, otherNodes: 1 });
  for (const c of alice) assert.equal((await c.closed).code, 3503);
  assert.equal(bob.closeCode, 0, "bob is still connected");
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual((await api(a, 'connections', { user: 'alice' })).body.result.connections, [], 'closed connections leave the registry');

  // A client id that is not on the asked node is passed on too.
  const carol = await RawClient.connect(a.wsUrl, { token: await token('carol') });
  assert.deepEqual((await api(b, 'disconnect', { client: carol.clientId })).body.result, { disconnected: 0, otherNodes: 1 });
  assert.equal((await carol.closed).code, 3006);

  // A node that stops reporting (here: its timers stop, as if frozen) leaves its entries marked stale.
  b.cluster.stop();
  await new Promise((r) => setTimeout(r, 500));
  const stale = await api(a, 'connections', { user: 'bob' });
  assert.deepEqual(stale.body.result.connections.map((c: any) => [c.node, c.stale]), [['b', true]]);
  bob.close();
  await a.close();
  await b.close();
  await broker.close();
});

test('/api/channels: the cluster\'s busiest channels merged from the node reports, no node asked', async () => {
  const broker = new MemoryBroker();
  const a = await startNode({ port: 0, host: '127.0.0.1', insecure: true, name: 'a', broker, nodeInfoInterval: 0.1, ...ns });
  const b = await startNode({ port: 0, host: '127.0.0.1', insecure: true, name: 'b', broker: broker.peer(), nodeInfoInterval: 0.1, ...ns });
  const clients = await Promise.all([a, a, a, b, b].map((n) => RawClient.connect(n.wsUrl)));
  for (const c of clients.slice(0, 4)) await c.request({ t: 'sub', ch: 'c:hot' }); // 3 on a, 1 on b
  await clients[4]!.request({ t: 'sub', ch: 'c:quiet' });
  await new Promise((r) => setTimeout(r, 350));
  const res = await fetch(`${b.httpUrl}/api/channels`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"limit":10}' });
  const body = (await res.json()) as any;
  assert.deepEqual(body.result.channels, [
    { channel: 'c:hot', subscribers: 4, nodes: 2 },
    { channel: 'c:quiet', subscribers: 1, nodes: 1 },
  ]);
  assert.equal(body.result.partial, false);
  assert.deepEqual(body.result.staleNodes, []);
  assert.equal(a.hub.busiest(1, (c) => c.startsWith('$'))[0]!.channel, 'c:hot');
  for (const c of clients) c.close();
  await a.close();
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(b.cluster.busiestChannels(10).staleNodes, ['a'], 'a stopped reporting: its counts are left out and it is named');
  await b.close();
  await broker.close();
});
