/**
 * Cluster behaviour that does not depend on the broker's kind, tested with two nodes on one
 * shared in-memory broker backend: cross-node delivery, the node registry, rebalancing, drain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { startNode } from '../../src/server/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const ns = { namespaces: { c: { subscribe: 'anonymous' as const, publish: 'anonymous' as const, historySize: 100, recover: true } } };

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

test('drain: healthz turns 503, new upgrades are refused, clients leave in batches over the window with 3001', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, ...ns });
  const clients = await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(node.wsUrl)));
  const closedAt: number[] = [];
  for (const c of clients) void c.closed.then(() => closedAt.push(Date.now()));
  const t0 = Date.now();
  const draining = node.drain(1000);
  assert.equal((await fetch(`${node.httpUrl}/healthz`)).status, 503);
  await assert.rejects(RawClient.open(node.wsUrl), /HTTP 503/);
  await draining;
  await Promise.all(clients.map((c) => c.closed));
  assert.ok(clients.every((c) => c.closeCode === 3001));
  const spread = Math.max(...closedAt) - Math.min(...closedAt);
  assert.ok(spread >= 500, `closes spread over ${spread} ms`);
  assert.ok(Math.max(...closedAt) - t0 < 3000);
  await node.close();
});
