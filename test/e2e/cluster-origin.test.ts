/**
 * No sticky sessions for browsers (issue 11, E3): two node processes on Redis behind HAProxy with
 * `balance roundrobin` and no stickiness, the default `allowedOrigins` (same host only; the nodes
 * are not in dev mode). A real Chromium page served from the balancer's origin uses the SDK over
 * SSE and over long polling, publishes and receives; its POSTs that land on the other node are
 * forwarded and accepted (the nodes' forwarding counters move). A page on another origin gets 403,
 * whichever node its requests land on.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { startNodes, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { haveBinary, startHaproxy, type Balancer } from '../helpers/cluster-lb.ts';
import { deletePrefix, requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { browserUnavailable, launch, type Browser } from './browser.ts';

const u = new URL(SHARED_REDIS_URL);
const redisUp = await requireService('Redis', u.hostname, Number(u.port || 6379));
const haproxy = haveBinary('haproxy');
if (!haproxy && process.env.CI === 'true') throw new Error('haproxy is not installed and CI=true: .ci/run must install it (apt-get install haproxy)');
const noBrowser = browserUnavailable();
const skip = !redisUp ? 'no Redis (not CI)' : !haproxy ? 'haproxy not installed (not CI)' : (noBrowser ?? false);
const prefix = `sbit-origin-${process.pid}`;

let nodes: NodeProcess[] = [];
let lb: Balancer | undefined;
let browser: Browser | undefined;
let other: Server | undefined;
let otherOrigin = '';

before(async () => {
  if (skip) return;
  // Not dev mode, so allowedOrigins keeps its default ([] = same host only).
  nodes = await startNodes(['o1', 'o2'], { type: 'redis', url: SHARED_REDIS_URL, prefix }, { insecure: false, allowAnonymous: true, rebalance: false, nodeInfoInterval: 0.5, httpTransports: { pollTimeout: 1 } });
  lb = await startHaproxy(
    nodes.map((n) => n.port),
    'roundrobin',
  );
  browser = await launch();
  // Another origin: a blank page on another port, serving its own copy of the SDK (a module
  // import from the nodes' origin would need CORS headers the SDK file does not send).
  const sdk = await (await fetch(`${nodes[0]!.httpUrl}/sdk/switchboard.js`)).text();
  other = createServer((req, res) => {
    const js = req.url === '/switchboard.js';
    res.writeHead(200, { 'Content-Type': js ? 'text/javascript' : 'text/html' });
    res.end(js ? sdk : '<!doctype html><title>elsewhere</title>');
  });
  await new Promise<void>((r) => other!.listen(0, '127.0.0.1', r));
  otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  // Both nodes see each other in the (signed) registry before the browser starts.
  const end = Date.now() + 10_000;
  for (const n of nodes) {
    while (Date.now() < end) {
      const info = (await (await fetch(`${n.httpUrl}/healthz`)).json()) as { status: string };
      const m = await (await fetch(`${n.httpUrl}/metrics`)).text();
      if (info.status === 'ok' && /switchboard_cluster_nodes(\{[^}]*\})? 2/.test(m)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  await browser?.close();
  other?.close();
  await lb?.stop();
  await Promise.all(nodes.map((n) => n.kill()));
  if (!skip) await deletePrefix(SHARED_REDIS_URL, prefix);
});

async function forwardedTotal(): Promise<number> {
  let sum = 0;
  for (const n of nodes) {
    const m = /^switchboard_forwarded_requests_total(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(`${n.httpUrl}/metrics`)).text());
    sum += Number(m?.[1] ?? 0);
  }
  return sum;
}

/**
 * In the page: two SDK clients on `transport` (forced), one subscribed to `channel`, the other
 * publishing `count` messages; resolves with what the subscriber received. (A string, not a
 * function: tsx would put its `__name` helper into a function's source, which the page lacks.)
 */
const EXCHANGE = `async ({ transport, channel, count }) => {
  const { Client } = await import(location.origin + '/sdk/switchboard.js');
  const opts = { transports: [transport], minDelay: 100, maxDelay: 1000 };
  const pub = new Client(location.origin, opts);
  const sub = new Client(location.origin, opts);
  const got = [];
  const s = sub.subscribe(channel, { onPublication: (p) => void got.push(p.data) });
  await Promise.all([pub.connect(), sub.connect()]);
  const until = async (ok, what) => {
    const end = Date.now() + 20000;
    while (!ok()) {
      if (Date.now() > end) throw new Error('timed out waiting for ' + what + ' (transport ' + pub.transport + '/' + sub.transport + ', got ' + got.length + ')');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(() => s.state === 'subscribed', 'the subscription');
  if (pub.transport !== transport || sub.transport !== transport) throw new Error('not on ' + transport + ': ' + pub.transport + ', ' + sub.transport);
  for (let i = 1; i <= count; i++) await pub.publish(channel, i);
  await until(() => got.length >= count, count + ' publications');
  pub.close();
  sub.close();
  return got;
}`;

function exchange(page: Page, transport: string, channel: string, count: number): Promise<unknown[]> {
  return page.evaluate(`(${EXCHANGE})(${JSON.stringify({ transport, channel, count })})`) as Promise<unknown[]>;
}

for (const transport of ['sse', 'poll']) {
  test(`a same-origin page behind round-robin HAProxy publishes and receives over ${transport}; POSTs to the other node are forwarded and accepted`, { skip }, async () => {
    const { page, context } = await browser!.page();
    const refused: string[] = [];
    page.on('response', (r) => {
      if (r.status() === 403) refused.push(`${r.request().method()} ${r.url()}`);
    });
    try {
      const before = await forwardedTotal();
      await page.goto(`http://127.0.0.1:${lb!.port}/healthz`);
      const got = await exchange(page, transport, `feed:origin-${transport}`, 20);
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i + 1));
      assert.deepEqual(refused, [], 'no request was refused');
      const forwarded = (await forwardedTotal()) - before;
      assert.ok(forwarded >= 1, `requests were forwarded between the nodes (${forwarded})`);
      process.stdout.write(`# ${transport}: ${forwarded} requests forwarded\n`);
    } finally {
      await context.close();
    }
  });
}

test('a page on another origin is refused with 403 on whichever node its requests land', { skip }, async () => {
  // A session held by one node, opened without a browser (no Origin).
  const first = (await (await fetch(`${nodes[0]!.httpUrl}/connection/poll`)).json()) as { session: string };
  const key = encodeURIComponent(first.session);
  const { page, context } = await browser!.page();
  try {
    await page.goto(`${otherOrigin}/`);
    const target = `http://127.0.0.1:${lb!.port}/connection/poll?session=${key}`;
    const before = await forwardedTotal();
    // text/plain POSTs need no preflight, so they do reach the nodes: 4 in a row, and round-robin
    // sends some to the node that does not hold the session.
    const outcomes = (await page.evaluate(`(async (url) => {
      const out = [];
      for (let i = 0; i < 4; i++) {
        try {
          const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"t":"connect","id":' + (i + 1) + '}' });
          out.push(String(r.status));
        } catch (e) {
          out.push('blocked: ' + e.message);
        }
      }
      return out;
    })(${JSON.stringify(target)})`)) as string[];
    // The browser hides the refused answers from the page (they carry no CORS headers) ...
    assert.ok(outcomes.every((o) => o.startsWith('blocked')), outcomes.join(', '));
    // ... and the nodes refused them where they landed: nothing was forwarded, and the session
    // never saw a `connect` (a held poll on its node comes back empty after pollTimeout).
    assert.equal((await forwardedTotal()) - before, 0, 'refused where they landed, never forwarded');
    const poll = (await (await fetch(`${nodes[0]!.httpUrl}/connection/poll?session=${key}&ack=0`)).json()) as { frames: unknown[] };
    assert.deepEqual(poll.frames, [], 'no cross-origin POST reached the session');
    // Positive control: the same POST without a browser's Origin, through the balancer, twice
    // (so one lands on each node), is accepted and answered.
    for (let i = 11; i <= 12; i++) {
      const r = await fetch(target, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: `{"t":"connect","id":${i}}` });
      assert.equal(r.status, 204, await r.text());
    }
    const answered = (await (await fetch(`${nodes[0]!.httpUrl}/connection/poll?session=${key}&ack=0`)).json()) as { frames: Array<{ id?: number }> };
    assert.ok(answered.frames.some((f) => f.id === 11), JSON.stringify(answered.frames).slice(0, 300));
    // The SDK from that origin cannot connect either.
    const sdk = await page.evaluate(`(async (base) => {
      const { Client } = await import('/switchboard.js');
      const c = new Client(base, { transports: ['poll'], minDelay: 100, maxDelay: 200 });
      const r = await Promise.race([c.connect().then(() => 'connected', (e) => 'failed: ' + e.message), new Promise((r) => setTimeout(() => r('not connected after 3 s'), 3000))]);
      c.close();
      return r;
    })(${JSON.stringify(`http://127.0.0.1:${lb!.port}`)})`);
    assert.notEqual(sdk, 'connected');
  } finally {
    await context.close();
  }
});
