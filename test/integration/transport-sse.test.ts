/**
 * SSE transport over real HTTP: a small EventSource-like client (fetch + a WHATWG event-stream
 * parser) against a real node, with WebSocket clients on the other side for interop.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { disconnect, type Disconnect } from '../../src/protocol/codes.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { installSse } from '../../src/transports/sse/endpoint.ts';
import { EventRing } from '../../src/transports/sse/ring.ts';
import { Upstream, type UpstreamTarget } from '../../src/transports/http/upstream.ts';
import { RawClient } from '../helpers/raw-client.ts';

type Frame = Record<string, any>;
interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
  frames: Frame[];
}

/** Just enough of EventSource: parses the stream, tracks the last event id, POSTs upstream. */
class SseClient {
  readonly events: SseEvent[] = [];
  readonly frames: Frame[] = [];
  comments = 0;
  key = '';
  resumed = false;
  lastEventId = '';
  clientId = '';
  ended = false;
  autoPong = true;
  status = 0;
  headers: Headers | null = null;
  errorBody: any = null;
  private readonly ctrl = new AbortController();
  private waiters: Array<() => void> = [];
  private nextId = 1;

  constructor(readonly base: string) {}

  static async open(base: string, opts: { session?: string; lastEventId?: string | number; viaQuery?: boolean } = {}): Promise<SseClient> {
    const c = new SseClient(base);
    const u = new URL('/connection/sse', base);
    const headers: Record<string, string> = {};
    if (opts.session) u.searchParams.set('session', opts.session);
    if (opts.lastEventId !== undefined) {
      if (opts.viaQuery) u.searchParams.set('lastEventId', String(opts.lastEventId));
      else headers['Last-Event-ID'] = String(opts.lastEventId);
    }
    const res = await fetch(u, { headers, signal: c.ctrl.signal });
    c.status = res.status;
    c.headers = res.headers;
    if (res.status !== 200) {
      c.errorBody = await res.json();
      c.ended = true;
      return c;
    }
    void c.pump(res.body!);
    await c.waitUntil(() => c.key !== '', 'session event');
    return c;
  }

  /** Opens a stream and sends connect; resolves once connected. */
  static async connect(base: string): Promise<SseClient> {
    const c = await SseClient.open(base);
    const r = await c.request({ t: 'connect' });
    assert.equal(r.t, 'ok', JSON.stringify(r));
    c.clientId = r.client;
    return c;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let data: string[] = [];
    let event = '';
    let id: string | undefined;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (id !== undefined) this.lastEventId = id;
            if (data.length > 0) this.dispatch({ id, event: event || 'message', data: data.join('\n'), frames: [] });
            data = [];
            event = '';
            id = undefined;
          } else if (line.startsWith(':')) this.comments++;
          else {
            const colon = line.indexOf(':');
            const field = colon === -1 ? line : line.slice(0, colon);
            let value = colon === -1 ? '' : line.slice(colon + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'data') data.push(value);
            else if (field === 'event') event = value;
            else if (field === 'id') id = value;
          }
          this.wake();
        }
      }
    } catch {
      // aborted
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private dispatch(ev: SseEvent): void {
    if (ev.event === 'session') {
      const s = JSON.parse(ev.data);
      this.key = s.session;
      this.resumed = s.resumed;
    } else {
      ev.frames = ev.data.split('\n').map((l) => JSON.parse(l));
      for (const f of ev.frames) {
        this.frames.push(f);
        if (f.t === 'ping' && this.autoPong) this.post([{ t: 'pong' }]).then((r) => r.arrayBuffer(), () => {}).catch(() => {});
      }
    }
    this.events.push(ev);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async waitUntil(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.ended) throw new Error(`stream ended while waiting for ${what}; frames ${JSON.stringify(this.frames).slice(0, 400)}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames ${JSON.stringify(this.frames).slice(0, 400)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitFor(pred: (f: Frame) => boolean, what = 'a frame', timeoutMs = 5000): Promise<Frame> {
    await this.waitUntil(() => this.frames.some(pred), what, timeoutMs);
    return this.frames.find(pred)!;
  }

  async waitEnded(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > end) throw new Error('stream did not end');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  post(body: Frame[] | string, contentType = 'application/json'): Promise<Response> {
    const text = typeof body === 'string' ? body : body.map((f) => JSON.stringify(f)).join('\n');
    return fetch(new URL(`/connection/sse?session=${this.key}`, this.base), { method: 'POST', headers: { 'Content-Type': contentType }, body: text });
  }

  async request(frame: Frame): Promise<Frame> {
    const id = this.nextId++;
    const r = await this.post([{ ...frame, id }]);
    assert.equal(r.status, 204, await r.text());
    return this.waitFor((f) => (f.t === 'ok' || f.t === 'err') && f.id === id, `reply ${id}`);
  }

  pubs(ch: string): Frame[] {
    return this.frames.filter((f) => f.t === 'pub' && f.ch === ch);
  }

  /** Drops the stream from the client side (network loss, tab suspended). */
  abort(): void {
    this.ctrl.abort();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** 22 random base64url characters, then "." and the owning node's tag. */
const KEY = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/;

describe('SSE transport', () => {
  let node: SwitchboardNode;
  before(async () => {
    node = await startNode({
      port: 0,
      host: '127.0.0.1',
      insecure: true,
      allowedOrigins: ['http://ok.example'],
      maxQueueBytes: 64 * 1024,
      namespaces: {
        chat: { subscribe: 'anonymous', publish: 'anonymous', historySize: 100, recover: true, presence: true, presenceRead: 'anonymous', historyRead: 'anonymous', joinLeave: true },
      },
    });
  });
  after(() => node.close());

  test('stream headers, session key event, and connect/subscribe/publish interop with WebSocket', async () => {
    const sse = await SseClient.open(node.httpUrl);
    assert.equal(sse.headers!.get('content-type'), 'text/event-stream');
    assert.equal(sse.headers!.get('cache-control'), 'no-cache, no-transform');
    assert.equal(sse.headers!.get('x-accel-buffering'), 'no');
    assert.match(sse.key, KEY);
    assert.equal(sse.resumed, false);
    // connect, sub and a pub in one POST body: processed in order.
    const r = await sse.post([{ t: 'connect', id: 1 }, { t: 'sub', id: 2, ch: 'chat:sse' }, { t: 'pub', id: 3, ch: 'chat:sse', data: 'self' }]);
    assert.equal(r.status, 204);
    const ok = await sse.waitFor((f) => f.id === 1);
    sse.clientId = ok.client;
    assert.notEqual(sse.clientId, sse.key, 'the session key is not the client id');
    assert.ok(!sse.key.includes(sse.clientId));
    assert.equal((await sse.waitFor((f) => f.id === 2)).t, 'ok');
    assert.equal((await sse.waitFor((f) => f.t === 'pub' && f.o === 1)).data, 'self');

    const ws = await RawClient.connect(node.wsUrl);
    await ws.request({ t: 'sub', ch: 'chat:ws' });
    assert.equal((await ws.request({ t: 'pub', ch: 'chat:sse', data: { from: 'ws' } })).t, 'ok');
    const pub = await sse.waitFor((f) => f.t === 'pub' && f.o === 2);
    assert.deepEqual(pub.data, { from: 'ws' });
    assert.equal(pub.info.client, ws.clientId);
    assert.equal((await sse.request({ t: 'pub', ch: 'chat:ws', data: 'to ws' })).t, 'ok');
    const got = await ws.waitFor((f) => f.t === 'pub' && f.ch === 'chat:ws');
    assert.equal(got.data, 'to ws');
    assert.equal(got.info.client, sse.clientId);
    // Every message event has a numeric, increasing id.
    const ids = sse.events.filter((e) => e.event === 'message').map((e) => Number(e.id));
    assert.ok(ids.length > 0 && ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1]!)), JSON.stringify(ids));
    ws.close();
    sse.abort();
  });

  test('unknown, malformed and ended session keys: 404 / 410 with JSON errors', async () => {
    const base = node.httpUrl;
    for (const key of ['AAAAAAAAAAAAAAAAAAAAAA', 'not-a-key']) {
      const g = await fetch(`${base}/connection/sse?session=${key}`);
      assert.equal(g.status, 404);
      assert.equal((await g.json()).error.code, 404);
      const p = await fetch(`${base}/connection/sse?session=${key}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"t":"pong"}' });
      assert.equal(p.status, 404);
    }
    const noKey = await fetch(`${base}/connection/sse`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"t":"pong"}' });
    assert.equal(noKey.status, 400);

    // A session the server ends while no stream is open keeps its last events for a reconnect...
    const sse = await SseClient.connect(base);
    sse.abort();
    await sleep(50);
    assert.equal(node.disconnect({ client: sse.clientId }, { reason: 'bye' }), 1);
    const again = await SseClient.open(base, { session: sse.key, lastEventId: sse.lastEventId });
    const d = await again.waitFor((f) => f.t === 'disconnect');
    assert.equal(d.code, 3006);
    await again.waitEnded();
    // ...and is then gone: 410 with the reason, for GET and POST.
    const gone = await fetch(`${base}/connection/sse?session=${sse.key}`);
    assert.equal(gone.status, 410);
    const body = await gone.json();
    assert.equal(body.error.code, 410);
    assert.equal(body.disconnect.code, 3006);
    assert.equal((await sse.post([{ t: 'pong' }])).status, 410);
  });

  test('wrong content type is 415 and keeps the session; malformed body is 400 and closes it with 3501', async () => {
    const sse = await SseClient.connect(node.httpUrl);
    for (const type of ['text/html', 'application/json; charset=latin1']) {
      const r = await sse.post('{"t":"pong"}', type);
      assert.equal(r.status, 415);
      assert.match((await r.json()).error.message, /Content-Type/);
    }
    // text/plain is accepted (no CORS preflight for browsers).
    const ok = await sse.post(`{"t":"sub","id":99,"ch":"chat:plain"}`, 'text/plain;charset=UTF-8');
    assert.equal(ok.status, 204);
    assert.equal((await sse.waitFor((f) => f.id === 99)).t, 'ok');

    const bad = await sse.post('{"t":"pub","id":5,', 'application/json');
    assert.equal(bad.status, 400);
    const body = await bad.json();
    assert.equal(body.disconnect.code, 3501);
    const d = await sse.waitFor((f) => f.t === 'disconnect');
    assert.equal(d.code, 3501);
    await sse.waitEnded();
  });

  test('oversized POST is 413 and closes the session with 3504, declared or chunked', async () => {
    const big = JSON.stringify({ t: 'pub', id: 7, ch: 'chat:big', data: 'x'.repeat(70_000) });
    const a = await SseClient.connect(node.httpUrl);
    const r = await a.post(big);
    assert.equal(r.status, 413);
    assert.equal((await r.json()).disconnect.code, 3504);
    assert.equal((await a.waitFor((f) => f.t === 'disconnect')).code, 3504);
    await a.waitEnded();

    // Chunked (no Content-Length): detected while reading.
    const b = await SseClient.connect(node.httpUrl);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${node.httpUrl}/connection/sse?session=${b.key}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write(big.slice(i * 7100, (i + 1) * 7100));
      req.end();
    });
    assert.equal(status, 413);
    assert.equal((await b.waitFor((f) => f.t === 'disconnect')).code, 3504);
  });

  test('Last-Event-ID resume on the same session: no loss, no duplicates (header and query)', async () => {
    const ws = await RawClient.connect(node.wsUrl);
    let sse = await SseClient.connect(node.httpUrl);
    const key = sse.key;
    await sse.request({ t: 'sub', ch: 'chat:resume' });
    const processed: number[] = [];
    let lastId = '';
    /** What a client does: apply each event once, remember its id. */
    const apply = (c: SseClient) => {
      for (const ev of c.events) {
        if (ev.event !== 'message' || Number(ev.id) <= Number(lastId || 0)) continue;
        for (const f of ev.frames) if (f.t === 'pub') processed.push(f.data);
        lastId = ev.id!;
      }
    };
    for (let i = 1; i <= 5; i++) await ws.request({ t: 'pub', ch: 'chat:resume', data: i });
    await sse.waitUntil(() => sse.pubs('chat:resume').length === 5, '5 pubs');
    apply(sse);
    sse.abort();
    await sleep(50);
    for (let i = 6; i <= 10; i++) await ws.request({ t: 'pub', ch: 'chat:resume', data: i });

    sse = await SseClient.open(node.httpUrl, { session: key, lastEventId: lastId });
    assert.equal(sse.key, key);
    assert.equal(sse.resumed, true);
    await sse.waitUntil(() => sse.pubs('chat:resume').length === 5, 'the 5 missed pubs');
    assert.deepEqual(sse.pubs('chat:resume').map((f) => f.data), [6, 7, 8, 9, 10]);
    // A response lost in flight: the client processed only up to pub 8, then the stream broke.
    const upTo8 = sse.events.find((e) => e.frames.some((f) => f.t === 'pub' && f.data === 8))!;
    for (const ev of sse.events) if (Number(ev.id) <= Number(upTo8.id)) for (const f of ev.frames) if (f.t === 'pub') processed.push(f.data);
    lastId = upTo8.id!;
    sse.abort();
    await sleep(50);
    await ws.request({ t: 'pub', ch: 'chat:resume', data: 11 });
    // An EventSource polyfill passes the id as a query parameter.
    sse = await SseClient.open(node.httpUrl, { session: key, lastEventId: lastId, viaQuery: true });
    await sse.waitUntil(() => sse.pubs('chat:resume').length === 3, 'pubs 9..11');
    apply(sse);
    assert.deepEqual(processed, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // The session is the same one: the subscription still delivers live.
    await ws.request({ t: 'pub', ch: 'chat:resume', data: 12 });
    await sse.waitFor((f) => f.t === 'pub' && f.data === 12);
    // An id ahead of anything sent is refused.
    const ahead = await SseClient.open(node.httpUrl, { session: key, lastEventId: 999_999 });
    assert.equal(ahead.status, 400);
    sse.abort();
    ws.close();
  });

  test('resume too late (events no longer retained) is a clear disconnect 3009', async () => {
    installSse(node, { sseRetainEvents: 3 });
    try {
      const ws = await RawClient.connect(node.wsUrl);
      const sse = await SseClient.connect(node.httpUrl);
      await sse.request({ t: 'sub', ch: 'chat:late' });
      const firstId = sse.lastEventId;
      for (let i = 1; i <= 10; i++) await ws.request({ t: 'pub', ch: 'chat:late', data: i });
      await sse.waitUntil(() => sse.pubs('chat:late').length === 10, '10 pubs');
      sse.abort();
      await sleep(50);
      const again = await SseClient.open(node.httpUrl, { session: sse.key, lastEventId: firstId });
      const d = await again.waitFor((f) => f.t === 'disconnect');
      assert.equal(d.code, 3009);
      assert.equal(d.reconnect, true);
      assert.equal(again.pubs('chat:late').length, 0, 'nothing after a gap');
      await again.waitEnded();
      ws.close();
    } finally {
      installSse(node, { sseRetainEvents: 256 });
    }
  });

  test('events piling up while no stream is open count as the outbound queue: slow consumer (3004)', async () => {
    const ws = await RawClient.connect(node.wsUrl);
    const sse = await SseClient.connect(node.httpUrl);
    await sse.request({ t: 'sub', ch: 'chat:slow' });
    sse.abort();
    await sleep(50);
    for (let i = 0; i < 10; i++) await ws.request({ t: 'pub', ch: 'chat:slow', data: 'x'.repeat(8000) });
    await sleep(50);
    const again = await SseClient.open(node.httpUrl, { session: sse.key, lastEventId: sse.lastEventId });
    const d = await again.waitFor((f) => f.t === 'disconnect');
    assert.equal(d.code, 3004);
    assert.ok(again.pubs('chat:slow').length > 0, 'what was queued before the limit still arrives');
    await again.waitEnded();
    ws.close();
  });

  test('a newer stream for the session replaces (ends) the open one', async () => {
    const a = await SseClient.connect(node.httpUrl);
    const b = await SseClient.open(node.httpUrl, { session: a.key, lastEventId: a.lastEventId });
    await a.waitEnded();
    assert.equal(b.resumed, true);
    assert.equal((await b.request({ t: 'presence', ch: 'chat:x' })).t, 'ok');
    b.abort();
  });

  test('absence timeout ends the session: presence entry gone, key answers 410', async () => {
    installSse(node, { absenceTimeout: 0.5 });
    try {
      const ws = await RawClient.connect(node.wsUrl);
      await ws.request({ t: 'sub', ch: 'chat:absent' });
      const sse = await SseClient.connect(node.httpUrl);
      await sse.request({ t: 'sub', ch: 'chat:absent' });
      const p1 = await ws.request({ t: 'presence', ch: 'chat:absent' });
      assert.ok(sse.clientId in p1.presence);
      sse.abort();
      const leave = await ws.waitFor((f) => f.t === 'leave' && f.info.client === sse.clientId, 3000);
      assert.ok(leave);
      const p2 = await ws.request({ t: 'presence', ch: 'chat:absent' });
      assert.ok(!(sse.clientId in p2.presence));
      const gone = await fetch(`${node.httpUrl}/connection/sse?session=${sse.key}`);
      assert.equal(gone.status, 410);
      assert.equal((await gone.json()).disconnect.reconnect, true);
      ws.close();
    } finally {
      installSse(node, { absenceTimeout: 30 });
    }
  });

  test('idle streams get comment lines', async () => {
    installSse(node, { sseKeepalive: 0.2 });
    try {
      const sse = await SseClient.open(node.httpUrl);
      await sse.waitUntil(() => sse.comments >= 2, 'two comment lines', 3000);
      sse.abort();
    } finally {
      installSse(node, { sseKeepalive: 15 });
    }
  });

  test('CORS: preflight and allowed origins; other origins get 403', async () => {
    const call = (method: string, origin: string, path = '/connection/sse') =>
      new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = httpRequest(`${node.httpUrl}${path}`, { method, headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        });
        req.on('error', reject);
        req.end();
      });
    const pre = await call('OPTIONS', 'http://ok.example');
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://ok.example');
    assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
    assert.match(String(pre.headers['access-control-allow-headers']), /Last-Event-ID/);
    assert.equal((await call('OPTIONS', 'http://evil.example')).status, 403);
    assert.equal((await call('GET', 'http://evil.example')).status, 403);
    const sse = await SseClient.open(node.httpUrl);
    const post = await fetch(`${node.httpUrl}/connection/sse?session=${sse.key}`, { method: 'POST', headers: { Origin: 'http://ok.example', 'Content-Type': 'text/plain' }, body: '{"t":"connect","id":1}' });
    assert.equal(post.status, 204);
    assert.equal(post.headers.get('access-control-allow-origin'), 'http://ok.example');
    sse.abort();
  });
});

describe('SSE heartbeat', () => {
  let node: SwitchboardNode;
  before(async () => {
    node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, pingInterval: 1, pongTimeout: 1 });
  });
  after(() => node.close());

  test('pings reach the stream; pongs by POST keep it; a missing pong disconnects with 3005', async () => {
    const good = await SseClient.connect(node.httpUrl);
    const bad = await SseClient.connect(node.httpUrl);
    bad.autoPong = false;
    await bad.waitFor((f) => f.t === 'ping', 'a ping', 3000);
    const d = await bad.waitFor((f) => f.t === 'disconnect', 'the no-pong disconnect', 4000);
    assert.equal(d.code, 3005);
    await bad.waitEnded();
    await good.waitUntil(() => good.frames.filter((f) => f.t === 'ping').length >= 2, 'two pings', 4000);
    assert.ok(!good.frames.some((f) => f.t === 'disconnect'));
    assert.equal(good.ended, false);
    good.abort();
  });
});

describe('EventRing', () => {
  const b = (s: string) => Buffer.from(s);
  test('keeps written events within limits, never drops unwritten ones, resumes by id', () => {
    const ring = new EventRing(() => ({ maxEvents: 3, maxBytes: 1000 }));
    for (let i = 0; i < 5; i++) ring.push([b(`w${i}`)], true);
    assert.equal(ring.length, 3);
    assert.equal(ring.oldestSeq, 3);
    assert.equal(ring.resumeAfter(1), null, 'event 2 was dropped');
    for (let i = 0; i < 5; i++) ring.push([b(`u${i}`)], false);
    assert.equal(ring.length, 8, 'unwritten events are kept');
    assert.equal(ring.unwrittenBytes, 10);
    const replay = ring.resumeAfter(4)!;
    assert.deepEqual(replay.map((e) => e.seq), [5, 6, 7, 8, 9, 10]);
    assert.equal(ring.unwrittenBytes, 0);
    assert.equal(ring.length, 3, 'trimmed back to the limit once written');
    assert.throws(() => ring.resumeAfter(11), RangeError);
    assert.deepEqual(ring.resumeAfter(10), []);
  });

  test('byte limit', () => {
    const ring = new EventRing(() => ({ maxEvents: 100, maxBytes: 10 }));
    for (let i = 0; i < 5; i++) ring.push([b('abcd')], true);
    assert.equal(ring.length, 2);
    assert.equal(ring.lastSeq, 5);
  });
});

describe('Upstream (POST queue shared by SSE and polling)', () => {
  test('bodies are delivered one at a time in arrival order; none is read while paused; 429 past the queue bound', async () => {
    const delivered: string[] = [];
    const target: UpstreamTarget & { ended: Disconnect | null } = {
      ended: null,
      deliver: (body) => {
        delivered.push(body.toString());
        return null;
      },
      tooLarge: () => disconnect('messageTooLarge'),
    };
    const up = new Upstream(target, () => ({ maxBytes: 100, maxQueued: 2 }));
    const server = createServer((req, res) => up.post(req, res, {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const post = (body: string) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }).then((r) => r.status);
    try {
      assert.equal(await post('a'), 204);
      up.pause();
      const b = post('b');
      const c = post('c');
      await sleep(100);
      assert.deepEqual(delivered, ['a'], 'nothing read while paused');
      assert.equal(await post('d'), 429, 'queue bound');
      up.resume();
      assert.deepEqual([await b, await c], [204, 204]);
      assert.deepEqual(delivered, ['a', 'b', 'c']);
      assert.equal(await post('x'.repeat(101)), 413);
      // The session ends while POSTs wait: they are answered 410 without being read.
      up.pause();
      const e = post('e');
      await sleep(50);
      target.ended = disconnect('shutdown');
      up.drain();
      assert.equal(await e, 410);
      assert.deepEqual(delivered, ['a', 'b', 'c']);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
