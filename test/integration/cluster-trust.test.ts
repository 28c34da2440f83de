/**
 * Cluster trust on a real Redis (issue 11, E2): what the test publishes straight into the broker,
 * as anyone with access to Redis could, is believed only when signed with the cluster secret.
 * A forged `$sb:nodes` entry never shows in /api/info and is never a forwarding target (an
 * attacker's HTTP listener receives nothing); a signed entry with a wrong-typed field is
 * rejected; forged control messages disconnect nobody. A correctly signed entry IS believed and
 * forwarded to — the positive control that shows the listener would see a forwarded request.
 * Also: `switchboard start` refuses a Redis broker without a cluster secret outside dev mode.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedisBroker } from '../../src/broker/redis.ts';
import { CONTROL_CHANNEL, NODES_CHANNEL } from '../../src/server/cluster.ts';
import { signMessage } from '../../src/server/cluster-trust.ts';
import { ownerTag } from '../../src/server/forward.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { startNodeProcess } from '../helpers/cluster-nodes.ts';
import { deletePrefix, requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { RawClient } from '../helpers/raw-client.ts';

const u = new URL(SHARED_REDIS_URL);
const skip = (await requireService('Redis', u.hostname, Number(u.port || 6379))) ? false : 'no Redis (not CI)';
const SECRET = 'cluster-trust-test-secret-0123';
const prefix = `sbit-trust-${process.pid}`;
const opts = { host: '127.0.0.1', port: 0, insecure: true, nodeInfoInterval: 0.1, clusterSecret: SECRET, httpTransports: { pollTimeout: 1 } };

let a: SwitchboardNode;
let b: SwitchboardNode;
let attacker: RedisBroker;
let listener: Server;
let listenerUrl = '';
const stolen: IncomingMessage[] = [];

before(async () => {
  if (skip) return;
  a = await startNode({ ...opts, name: 'trust-a', broker: new RedisBroker({ url: SHARED_REDIS_URL, prefix }) });
  b = await startNode({ ...opts, name: 'trust-b', broker: new RedisBroker({ url: SHARED_REDIS_URL, prefix }) });
  attacker = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
  listener = createServer((req, res) => {
    stolen.push(req);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"frames":[],"seq":0}');
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  listenerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
  const end = Date.now() + 5000;
  while (a.clusterInfo().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
});

after(async () => {
  if (skip) return;
  await a.close();
  await b.close();
  await a.broker.close();
  await b.broker.close();
  await attacker.close();
  listener.close();
  await deletePrefix(SHARED_REDIS_URL, prefix);
});

const report = (name: string, extra: Record<string, unknown> = {}) => ({ name, connections: 0, channels: 0, draining: false, uptime: 5, publishes: 0, deliveries: 0, rssBytes: 1, url: listenerUrl, time: Date.now(), ...extra });

/** Publishes `data` on `channel` through the attacker's own Redis connection, every 50 ms for 600 ms. */
async function inject(channel: string, data: () => unknown): Promise<void> {
  for (let i = 0; i < 12; i++) {
    await attacker.publish(channel, data(), { historySize: 0, historyTtlMs: 0 });
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function liveNodes(node: SwitchboardNode): Promise<string[]> {
  const r = await fetch(`${node.httpUrl}/api/info`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { result?: { nodes: Array<{ name: string }> }; nodes?: Array<{ name: string }> };
  return (body.result ?? (body as { nodes: Array<{ name: string }> })).nodes.map((n) => n.name);
}

/** SSE and poll requests (GET and POST) for a session the named node would hold, sent to node A. */
async function requestsFor(owner: string): Promise<number[]> {
  const key = encodeURIComponent(`abcdefghijklmnopqrstuv.${ownerTag(owner)}`);
  const statuses: number[] = [];
  for (const [path, method] of [['/connection/poll', 'GET'], ['/connection/poll', 'POST'], ['/connection/sse', 'GET'], ['/connection/sse', 'POST']] as const) {
    const ctl = new AbortController();
    const r = await fetch(`${a.httpUrl}${path}?session=${key}&ack=0`, { method, signal: ctl.signal, ...(method === 'POST' ? { headers: { 'Content-Type': 'application/json' }, body: '{"t":"connect","id":1}' } : {}) });
    statuses.push(r.status);
    ctl.abort();
  }
  return statuses;
}

test('a forged unsigned $sb:nodes entry is not a live node and never a forwarding target', { skip }, async () => {
  const before = a.cluster.rejected.unsigned;
  await inject(NODES_CHANNEL, () => report('evil-unsigned'));
  assert.ok(a.cluster.rejected.unsigned > before, 'the forged entries arrived and were rejected as unsigned');
  assert.deepEqual(await liveNodes(a), ['trust-a', 'trust-b']);
  assert.deepEqual(await requestsFor('evil-unsigned'), [404, 404, 404, 404]);
  assert.equal(stolen.length, 0, 'the attacker received nothing');
  const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text();
  assert.match(metrics, /switchboard_cluster_messages_rejected_total\{reason="unsigned"[^}]*\} [1-9]/);
});

test('entries signed with another key, stale ones and signed ones with a wrong-typed field are rejected', { skip }, async () => {
  const r0 = { ...a.cluster.rejected };
  await inject(NODES_CHANNEL, () => signMessage('not-the-cluster-secret-0123', 'nodes', report('evil-wrongkey'), Date.now()));
  await inject(NODES_CHANNEL, () => signMessage(SECRET, 'nodes', report('evil-stale'), Date.now() - 10 * 60_000));
  await inject(NODES_CHANNEL, () => signMessage(SECRET, 'nodes', report('evil-typed', { connections: '5' }), Date.now()));
  await inject(NODES_CHANNEL, () => signMessage(SECRET, 'nodes', report('evil-url', { url: 'file:///etc/passwd' }), Date.now()));
  await inject(NODES_CHANNEL, () => signMessage(SECRET, 'control', report('evil-kind'), Date.now()));
  const r = a.cluster.rejected;
  assert.ok(r.badSignature >= r0.badSignature + 24, `bad signatures counted (${r.badSignature - r0.badSignature})`);
  assert.ok(r.stale >= r0.stale + 12, 'stale counted');
  assert.ok(r.invalid >= r0.invalid + 24, 'wrong-typed fields counted');
  assert.deepEqual(await liveNodes(a), ['trust-a', 'trust-b']);
  for (const owner of ['evil-wrongkey', 'evil-stale', 'evil-typed', 'evil-kind']) assert.deepEqual(await requestsFor(owner), [404, 404, 404, 404], owner);
  assert.equal(stolen.length, 0, 'the attacker received nothing');
});

test('positive control: an entry signed with the cluster secret is believed and forwarded to', { skip }, async () => {
  await inject(NODES_CHANNEL, () => signMessage(SECRET, 'nodes', report('insider'), Date.now()));
  assert.deepEqual(await liveNodes(a), ['insider', 'trust-a', 'trust-b']);
  const statuses = await requestsFor('insider');
  assert.deepEqual(statuses, [200, 200, 200, 200]);
  assert.equal(stolen.length, 4, 'the listener does see forwarded requests');
  assert.match(String(stolen[0]!.headers['x-switchboard-forward-auth']), /^\d+\.[A-Za-z0-9_-]{43}$/);
  stolen.length = 0;
});

test('forged control messages disconnect nobody; a signed one does, once', { skip }, async () => {
  const c = await RawClient.connect(b.wsUrl);
  const r0 = { ...b.cluster.rejected };
  await inject(CONTROL_CHANNEL, () => ({ op: 'disconnect', from: 'evil', client: c.clientId, reconnect: false }));
  await inject(CONTROL_CHANNEL, () => signMessage('not-the-cluster-secret-0123', 'control', { op: 'disconnect', from: 'evil', client: c.clientId }, Date.now()));
  await inject(CONTROL_CHANNEL, () => signMessage(SECRET, 'control', { op: 'disconnect', from: 'evil', client: c.clientId, delay: 'soon' }, Date.now()));
  assert.equal(c.closeCode, 0, 'still connected');
  assert.ok(b.cluster.rejected.unsigned >= r0.unsigned + 12 && b.cluster.rejected.badSignature >= r0.badSignature + 12 && b.cluster.rejected.invalid >= r0.invalid + 12);
  const signed = signMessage(SECRET, 'control', { op: 'disconnect', from: 'insider', client: c.clientId }, Date.now());
  await inject(CONTROL_CHANNEL, () => signed);
  assert.ok((await c.closed).code > 0, 'the signed one disconnected the client');
  assert.ok(b.cluster.rejected.replay >= r0.replay + 11, 'its copies were recognised as replays');
});

test('switchboard start refuses a Redis broker without clusterSecret outside dev mode; dev mode starts but trusts no peer', { skip }, async () => {
  const broker = { type: 'redis', url: SHARED_REDIS_URL, prefix };
  await assert.rejects(startNodeProcess('nosecret', broker, { insecure: false, allowAnonymous: true, clusterSecret: '' }), /set clusterSecret \(SWITCHBOARD_CLUSTER_SECRET/);
  const dev = await startNodeProcess('nosecret-dev', broker, { clusterSecret: '' });
  try {
    assert.match(dev.output(), /trusts no other node/);
    const r = await fetch(`${dev.httpUrl}/connection/poll?session=abcdefghijklmnopqrstuv.${ownerTag('trust-a')}&ack=0`);
    assert.equal(r.status, 404);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /no clusterSecret/);
  } finally {
    await dev.kill();
  }
});
