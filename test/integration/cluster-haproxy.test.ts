/**
 * deploy/haproxy.cfg in front of three nodes on one Redis: 3,000 WebSocket connections spread
 * within ±10% per node (leastconn); an SDK client publishes through it to one on another node; a
 * node that dies is taken out by the /readyz check and new connections go to the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, type Publication } from '../../src/client/index.ts';
import { requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { haveBinary, nodeConnections, openConnections, startHaproxy } from '../helpers/cluster-lb.ts';
import { balancedCluster } from '../helpers/lb-fixture.ts';

const u = new URL(SHARED_REDIS_URL);
const redisUp = await requireService('Redis', u.hostname, Number(u.port || 6379));
const haproxy = haveBinary('haproxy');
if (!haproxy && process.env.CI === 'true') throw new Error('haproxy is not installed and CI=true: .ci/run must install it (apt-get install haproxy)');
const skip = !redisUp ? 'no Redis (not CI)' : !haproxy ? 'haproxy not installed (not CI)' : false;
const prefix = `sbit-haproxy-${process.pid}`;
const cluster = balancedCluster(['h1', 'h2', 'h3'], prefix, startHaproxy, skip);

test('the shipped haproxy.cfg is valid as is', { skip }, () => {
  const cfg = fileURLToPath(new URL('../../deploy/haproxy.cfg', import.meta.url));
  execFileSync('haproxy', ['-c', '-f', cfg], { stdio: 'pipe' });
});

test('3,000 WebSocket connections through HAProxy spread within ±10% per node', { skip }, async () => {
  const N = 3000;
  cluster.sockets = await openConnections(cluster.lb!.wsUrl, N, 150);
  assert.equal(cluster.sockets.length, N);
  const counts = await Promise.all(cluster.nodes.map((n) => nodeConnections(n.httpUrl)));
  assert.equal(counts.reduce((a, b) => a + b, 0), N, `all connected: ${counts}`);
  for (const c of counts) assert.ok(Math.abs(c - N / 3) <= (N / 3) * 0.1, `per-node counts ${counts.join(', ')} within ±10% of ${N / 3}`);
  process.stdout.write(`# haproxy leastconn spread: ${counts.join(', ')}\n`);
});

test('SDK clients through HAProxy exchange publications across nodes', { skip }, async () => {
  const a = new Client(cluster.lb!.wsUrl, { minDelay: 20, maxDelay: 200 });
  const b = new Client(cluster.lb!.wsUrl, { minDelay: 20, maxDelay: 200 });
  cluster.clients.push(a, b);
  const got: Publication[] = [];
  const sub = b.subscribe('feed:via-lb', { onPublication: (p) => void got.push(p) });
  await Promise.all([a.connect(), b.connect()]);
  const end = Date.now() + 10_000;
  while (sub.state !== 'subscribed' && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  for (let i = 1; i <= 50; i++) await a.publish('feed:via-lb', i);
  while (got.length < 50 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got.map((p) => p.data), Array.from({ length: 50 }, (_, i) => i + 1));
});

test('a dead node fails its /readyz check and new connections go to the others', { skip }, async () => {
  const dead = cluster.nodes[2]!;
  await dead.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 2500)); // fall 2 × inter 1 s
  const before = await Promise.all(cluster.nodes.slice(0, 2).map((n) => nodeConnections(n.httpUrl)));
  const more = await openConnections(cluster.lb!.wsUrl, 200, 50);
  cluster.sockets.push(...more);
  const afterCounts = await Promise.all(cluster.nodes.slice(0, 2).map((n) => nodeConnections(n.httpUrl)));
  assert.equal(afterCounts[0]! + afterCounts[1]! - before[0]! - before[1]!, 200, 'all 200 landed on live nodes');
});
