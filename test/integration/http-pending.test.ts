/**
 * Pending HTTP sessions (created by one cheap GET, not yet connected) have their own bound and a
 * short life, and do not count against maxConnections (transports/http/pending.ts,
 * docs/protocol.md "HTTP transports"). Before: 300 session-creating GETs filled maxConnections
 * and every new client got 503 until connectTimeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { installPolling } from '../../src/transports/poll/endpoint.ts';
import { installSse } from '../../src/transports/sse/endpoint.ts';
import { RawClient } from '../helpers/raw-client.ts';

const MAX_CONNECTIONS = 300;

async function createSessions(node: SwitchboardNode, path: string, n: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  // Sequential batches: the point is cheapness per request, not concurrency.
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const ctl = new AbortController();
        const r = await fetch(`${node.httpUrl}${path}`, { signal: ctl.signal });
        // SSE answers with a stream: take the status and hang up (the session stays, pending).
        ctl.abort();
        return r.status;
      }),
    );
    for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  return statuses;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

/** A full SSE session: create, read the key, POST connect, read the reply. */
async function sseConnect(node: SwitchboardNode): Promise<{ status: number; connected: boolean }> {
  const ctl = new AbortController();
  const r = await fetch(`${node.httpUrl}/connection/sse`, { signal: ctl.signal });
  if (r.status !== 200) return { status: r.status, connected: false };
  const reader = r.body!.getReader();
  let text = '';
  const read = async (re: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const m = re.exec(text);
      if (m) return m;
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended: ${text}`);
      text += Buffer.from(value).toString();
    }
  };
  const key = (await read(/"session":"([^"]+)"/))[1]!;
  const post = await fetch(`${node.httpUrl}/connection/sse?session=${encodeURIComponent(key)}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ t: 'connect', id: 1 }) });
  assert.ok(post.status < 300, `connect POST: ${post.status}`);
  await read(/"t":"ok","id":1/);
  ctl.abort();
  return { status: 200, connected: true };
}

test('300 session-creating GETs from one address do not lock out new clients, and expire quickly', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, maxConnections: MAX_CONNECTIONS });
  try {
    installPolling(node, { pendingTimeout: 1 });
    const t0 = Date.now();
    const statuses = await createSessions(node, '/connection/poll', 300);
    const elapsed = Date.now() - t0;
    const created = statuses.get(200) ?? 0;
    console.log(`pending: 300 poll GETs -> ${JSON.stringify(Object.fromEntries(statuses))}; sessions held ${node.sessions.size}`);
    // The per-address rate limit (burst 100, 20/s) refused the rest with 429, not a "connection limit" 503.
    const allowed = 100 + Math.ceil((elapsed / 1000) * 20);
    assert.ok(created <= allowed, `${created} created in ${elapsed} ms; the bucket allows ${allowed}`);
    assert.equal(statuses.get(429) ?? 0, 300 - created, 'the rest were throttled (429)');
    // A new WebSocket client is not locked out.
    const ws = await RawClient.connect(node.wsUrl);
    // The pending ones end within pendingTimeout (+ slack), leaving the WebSocket client.
    const took = await until(() => node.sessions.size === 1, 3000, 'pending sessions expired');
    console.log(`pending: expired ${took} ms after the flood (pendingTimeout 1 s)`);
    assert.equal(ws.closeCode, 0);
    ws.close();
  } finally {
    await node.close();
  }
});

test('with the rate limit off, maxPendingSessions bounds them, apart from maxConnections; WebSocket and SSE clients still get in', async () => {
  // maxConnections (20) below maxPendingSessions (50): pending sessions must not count against it.
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, maxConnections: 20 });
  try {
    installPolling(node, { pendingTimeout: 4, sessionRate: 0, maxPendingSessions: 50 });
    installSse(node, { pendingTimeout: 4, sessionRate: 0, maxPendingSessions: 50 });
    const statuses = await createSessions(node, '/connection/poll', 150);
    const sse = await createSessions(node, '/connection/sse', 150);
    console.log(`pending: rate limit off: poll ${JSON.stringify(Object.fromEntries(statuses))}, sse ${JSON.stringify(Object.fromEntries(sse))}`);
    assert.equal((statuses.get(200) ?? 0) + (sse.get(200) ?? 0), 50, 'at most maxPendingSessions, SSE and polling together');
    assert.equal((statuses.get(503) ?? 0) + (sse.get(503) ?? 0), 250);
    const ws = await RawClient.connect(node.wsUrl);
    // Once they expire, a real SSE client connects (a pending slot is free again).
    await until(() => node.sessions.size === 1, 7000, 'pending sessions expired');
    const s = await sseConnect(node);
    assert.ok(s.connected);
    ws.close();
  } finally {
    await node.close();
  }
});

test('a pending session that never sends connect is closed 3502 after pendingTimeout', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true });
  try {
    installPolling(node, { pendingTimeout: 1 });
    const r = await fetch(`${node.httpUrl}/connection/poll`);
    assert.equal(r.status, 200);
    const body = JSON.stringify(await r.json());
    const key = /"session":"([^"]+)"/.exec(body)?.[1];
    assert.ok(key, body);
    await until(() => node.sessions.size === 0, 3000, 'the pending session closed');
    // The closed session's last poll delivers its disconnect frame (3502), then the key is gone.
    const late = await fetch(`${node.httpUrl}/connection/poll?session=${encodeURIComponent(key)}`);
    assert.equal(late.status, 200);
    assert.match(await late.text(), /"t":"disconnect","code":3502/);
  } finally {
    await node.close();
  }
});
