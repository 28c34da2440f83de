/**
 * deploy/haproxy.cfg in front of three nodes on one Redis: 3,000 WebSocket connections spread
 * within ±10% per node (leastconn); an SDK client publishes through it to one on another node; a
 * node that dies is taken out by the /healthz check and new connections go to the others.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WebSocket } from 'ws';
import { Client, type Publication } from '../../src/client/index.ts';
import { deletePrefix, requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { startNodes, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { haveBinary, nodeConnections, openConnections, startHaproxy, type Balancer } from '../helpers/cluster-lb.ts';

const u = new URL(SHARED_REDIS_URL);
const redisUp = await requireService('Redis', u.hostname, Number(u.port || 6379));
const haproxy = haveBinary('haproxy');
if (!haproxy && process.env.CI === 'true') throw new Error('haproxy is not installed and CI=true: .ci/run must install it (apt-get install haproxy)');
const skip = !redisUp ? 'no Redis (not CI)' : !haproxy ? 'haproxy not installed (not CI)' : false;
const prefix = `sbit-haproxy-${process.pid}`;
let nodes: NodeProcess[] = [];
let lb: Balancer | undefined;
let sockets: WebSocket[] = [];
const clients: Client[] = [];

before(async () => {
  if (skip) return;
  nodes = await startNodes(['h1', 'h2', 'h3'], { type: 'redis', url: SHARED_REDIS_URL, prefix }, { rebalance: false });
  lb = await startHaproxy(nodes.map((n) => n.port));
});
after(async () => {
  for (const s of sockets) s.terminate();
  for (const c of clients) c.close();
  await lb?.stop();
  await Promise.all(nodes.map((n) => n.kill()));
  if (!skip) await deletePrefix(SHARED_REDIS_URL, prefix);
});

test('the shipped haproxy.cfg is valid as is', { skip }, () => {
  const cfg = fileURLToPath(new URL('../../deploy/haproxy.cfg', import.meta.url));
  execFileSync('haproxy', ['-c', '-f', cfg], { stdio: 'pipe' });
});

test('3,000 WebSocket connections through HAProxy spread within ±10% per node', { skip }, async () => {
  const N = 3000;
  sockets = await openConnections(lb!.wsUrl, N, 150);
  assert.equal(sockets.length, N);
  const counts = await Promise.all(nodes.map((n) => nodeConnections(n.httpUrl)));
  assert.equal(counts.reduce((a, b) => a + b, 0), N, `all connected: ${counts}`);
  for (const c of counts) assert.ok(Math.abs(c - N / 3) <= (N / 3) * 0.1, `per-node counts ${counts.join(', ')} within ±10% of ${N / 3}`);
  process.stdout.write(`# haproxy leastconn spread: ${counts.join(', ')}\n`);
});

test('SDK clients through HAProxy exchange publications across nodes', { skip }, async () => {
  const a = new Client(lb!.wsUrl, { minDelay: 20, maxDelay: 200 });
  const b = new Client(lb!.wsUrl, { minDelay: 20, maxDelay: 200 });
  clients.push(a, b);
  const got: Publication[] = [];
  const sub = b.subscribe('feed:via-lb', { onPublication: (p) => void got.push(p) });
  await Promise.all([a.connect(), b.connect()]);
  const end = Date.now() + 10_000;
  while (sub.state !== 'subscribed' && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  for (let i = 1; i <= 50; i++) await a.publish('feed:via-lb', i);
  while (got.length < 50 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got.map((p) => p.data), Array.from({ length: 50 }, (_, i) => i + 1));
});

test('a dead node fails its /healthz check and new connections go to the others', { skip }, async () => {
  const dead = nodes[2]!;
  await dead.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 2500)); // fall 2 × inter 1 s
  const before = await Promise.all(nodes.slice(0, 2).map((n) => nodeConnections(n.httpUrl)));
  const more = await openConnections(lb!.wsUrl, 200, 50);
  sockets.push(...more);
  const afterCounts = await Promise.all(nodes.slice(0, 2).map((n) => nodeConnections(n.httpUrl)));
  assert.equal(afterCounts[0]! + afterCounts[1]! - before[0]! - before[1]!, 200, 'all 200 landed on live nodes');
});
