/**
 * deploy/nginx.conf in front of three nodes on one Redis: the shipped file passes `nginx -t`,
 * 600 WebSocket connections spread within ±10% (least_conn), and an SDK client works through it.
 * nginx is optional in CI (HAProxy is the tested default): without the binary this file skips
 * and says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type Publication } from '../../src/client/index.ts';
import { requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { haveBinary, nginxMain, nodeConnections, openConnections, startNginx } from '../helpers/cluster-lb.ts';
import { balancedCluster } from '../helpers/lb-fixture.ts';

const u = new URL(SHARED_REDIS_URL);
const redisUp = await requireService('Redis', u.hostname, Number(u.port || 6379));
const nginx = haveBinary('nginx');
if (!nginx && process.env.CI === 'true') throw new Error('nginx is not installed and CI=true: .ci/run must install it (apt-get install nginx-light)');
const skip = !nginx ? 'nginx not installed (not CI; apt-get install nginx-light to run this)' : !redisUp ? 'no Redis (not CI)' : false;
const prefix = `sbit-nginx-${process.pid}`;
const cluster = balancedCluster(['x1', 'x2', 'x3'], prefix, startNginx, skip);

test('the shipped nginx.conf, included as is in an http context, passes nginx -t', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-nginx-t-'));
  try {
    const dropIn = fileURLToPath(new URL('../../deploy/nginx.conf', import.meta.url));
    const main = join(dir, 'nginx.conf');
    writeFileSync(main, nginxMain(dir, `    include ${dropIn};\n`).replace(/^daemon off;\n/m, ''));
    execFileSync('nginx', ['-t', '-q', '-c', main, '-p', dir], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('600 WebSocket connections through nginx spread within ±10% per node', { skip }, async () => {
  const N = 600;
  cluster.sockets = await openConnections(cluster.lb!.wsUrl, N, 50);
  const counts = await Promise.all(cluster.nodes.map((n) => nodeConnections(n.httpUrl)));
  assert.equal(counts.reduce((a, b) => a + b, 0), N);
  for (const c of counts) assert.ok(Math.abs(c - N / 3) <= (N / 3) * 0.1, `per-node counts ${counts.join(', ')}`);
});

test('an SDK client publishes and receives through nginx', { skip }, async () => {
  const a = new Client(cluster.lb!.wsUrl, { minDelay: 20, maxDelay: 200 });
  cluster.clients.push(a);
  const got: Publication[] = [];
  const sub = a.subscribe('feed:via-nginx', { onPublication: (p) => void got.push(p) });
  await a.connect();
  const end = Date.now() + 10_000;
  while (sub.state !== 'subscribed' && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  for (let i = 1; i <= 20; i++) await a.publish('feed:via-nginx', i);
  while (got.length < 20 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got.map((p) => p.data), Array.from({ length: 20 }, (_, i) => i + 1));
});
