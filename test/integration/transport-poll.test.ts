/**
 * Long-polling transport over real HTTP: a poll client (fetch) that applies each batch seq once,
 * against a real node, with WebSocket clients on the other side for interop.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { BatchQueue } from '../../src/transports/poll/batches.ts';
import { installPolling } from '../../src/transports/poll/endpoint.ts';
import { RawClient } from '../helpers/raw-client.ts';

type Frame = Record<string, any>;
interface Batch {
  seq: number;
  frames: Frame[];
  session?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** 22 random base64url characters, then "." and the owning node's tag. */
const KEY = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/;

/** A polling client: `seq` is the newest batch processed; each batch seq is applied once. */
class PollClient {
  readonly frames: Frame[] = [];
  seq = 0;
  clientId = '';
  autoPong = true;
  duplicates = 0;
  private running = false;
  private ctrl: AbortController | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private waiters: Array<() => void> = [];
  private nextId = 1;
  ended = false;

  constructor(
    readonly base: string,
    readonly key: string,
  ) {}

  static async create(base: string): Promise<PollClient> {
    const r = await fetch(`${base}/connection/poll`);
    assert.equal(r.status, 200);
    const b = (await r.json()) as Batch;
    assert.equal(b.seq, 0);
    assert.deepEqual(b.frames, []);
    return new PollClient(base, b.session!);
  }

  /** Creates a session, starts polling and connects. */
  static async connect(base: string): Promise<PollClient> {
    const c = await PollClient.create(base);
    c.start();
    const ok = await c.request({ t: 'connect' });
    assert.equal(ok.t, 'ok', JSON.stringify(ok));
    c.clientId = ok.client;
    return c;
  }

  url(ack?: number): string {
    return `${this.base}/connection/poll?session=${this.key}${ack === undefined ? '' : `&ack=${ack}`}`;
  }

  /** One raw poll. */
  async poll(ack: number | undefined = this.seq, signal?: AbortSignal): Promise<{ status: number; body: any; text: string }> {
    const r = await fetch(this.url(ack), signal ? { signal } : {});
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null, text };
  }

  /** Applies a batch the way a client must: the next seq once, anything older is a duplicate. */
  apply(b: Batch): void {
    if (b.frames.length === 0) return;
    if (b.seq <= this.seq) {
      this.duplicates++;
      return;
    }
    assert.equal(b.seq, this.seq + 1, `batch ${b.seq} after ${this.seq}: a batch was skipped`);
    this.seq = b.seq;
    for (const f of b.frames) {
      this.frames.push(f);
      if (f.t === 'ping' && this.autoPong) this.post([{ t: 'pong' }]).then((r) => r.arrayBuffer(), () => {}).catch(() => {});
      if (f.t === 'disconnect') this.ended = true;
    }
    this.wake();
  }

  start(): void {
    this.running = true;
    this.loopDone = (async () => {
      while (this.running && !this.ended) {
        this.ctrl = new AbortController();
        let r;
        try {
          r = await this.poll(this.seq, this.ctrl.signal);
        } catch {
          break; // aborted
        }
        if (r.status !== 200) {
          this.ended = true;
          break;
        }
        this.apply(r.body);
      }
      this.wake();
    })();
  }

  /** Stops polling (aborting the held poll, like a closed tab). */
  async stop(): Promise<void> {
    this.running = false;
    this.ctrl?.abort();
    await this.loopDone;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async waitFor(pred: (f: Frame) => boolean, what = 'a frame', timeoutMs = 5000): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames ${JSON.stringify(this.frames).slice(0, 400)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  post(body: Frame[] | string, contentType = 'application/json'): Promise<Response> {
    const text = typeof body === 'string' ? body : body.map((f) => JSON.stringify(f)).join('\n');
    return fetch(this.url(), { method: 'POST', headers: { 'Content-Type': contentType }, body: text });
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
}

describe('long-polling transport', () => {
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

  test('new session key, connect/subscribe/publish interop with WebSocket', async () => {
    const p = await PollClient.connect(node.httpUrl);
    assert.match(p.key, KEY);
    assert.notEqual(p.clientId, p.key);
    assert.ok(!p.key.includes(p.clientId));
    assert.equal((await p.request({ t: 'sub', ch: 'chat:poll' })).t, 'ok');
    const ws = await RawClient.connect(node.wsUrl);
    await ws.request({ t: 'sub', ch: 'chat:ws' });
    assert.equal((await ws.request({ t: 'pub', ch: 'chat:poll', data: { from: 'ws' } })).t, 'ok');
    const pub = await p.waitFor((f) => f.t === 'pub' && f.ch === 'chat:poll');
    assert.deepEqual(pub.data, { from: 'ws' });
    assert.equal(pub.info.client, ws.clientId);
    assert.equal((await p.request({ t: 'pub', ch: 'chat:ws', data: 'to ws' })).t, 'ok');
    const got = await ws.waitFor((f) => f.t === 'pub' && f.ch === 'chat:ws');
    assert.equal(got.info.client, p.clientId);
    await p.stop();
    ws.close();
  });

  test('unknown and ended keys: 404 / 410 with JSON errors; the last batch carries the disconnect', async () => {
    for (const key of ['AAAAAAAAAAAAAAAAAAAAAA', 'nope']) {
      const g = await fetch(`${node.httpUrl}/connection/poll?session=${key}&ack=0`);
      assert.equal(g.status, 404);
      assert.equal((await g.json()).error.code, 404);
      const p = await fetch(`${node.httpUrl}/connection/poll?session=${key}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"t":"pong"}' });
      assert.equal(p.status, 404);
    }
    const p = await PollClient.connect(node.httpUrl);
    await p.stop();
    assert.equal(node.disconnect({ client: p.clientId }, { reason: 'bye' }), 1);
    // The session is over, but its last batch waits for the next poll.
    const last = await p.poll();
    assert.equal(last.status, 200);
    p.apply(last.body);
    assert.equal(p.frames.at(-1)!.t, 'disconnect');
    assert.equal(p.frames.at(-1)!.code, 3006);
    // Acknowledging it: 410, with the reason, from now on.
    const gone = await p.poll();
    assert.equal(gone.status, 410);
    assert.equal(gone.body.disconnect.code, 3006);
    assert.equal((await p.poll()).status, 410);
    assert.equal((await p.post([{ t: 'pong' }])).status, 410);
  });

  test('415 keeps the session; malformed is 400 (3501); oversized is 413 (3504)', async () => {
    const a = await PollClient.connect(node.httpUrl);
    const wrong = await a.post('{"t":"pong"}', 'application/x-www-form-urlencoded');
    assert.equal(wrong.status, 415);
    assert.equal((await wrong.json()).error.code, 415);
    assert.equal((await a.request({ t: 'presence', ch: 'chat:k' })).t, 'ok', 'session kept');
    const bad = await a.post('[1,2', 'text/plain');
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).disconnect.code, 3501);
    assert.equal((await a.waitFor((f) => f.t === 'disconnect')).code, 3501);
    await a.stop();

    const b = await PollClient.connect(node.httpUrl);
    const big = await b.post(JSON.stringify({ t: 'pub', id: 9, ch: 'chat:big', data: 'x'.repeat(70_000) }));
    assert.equal(big.status, 413);
    assert.equal((await big.json()).disconnect.code, 3504);
    assert.equal((await b.waitFor((f) => f.t === 'disconnect')).code, 3504);
    await b.stop();
  });

  test('a poll response lost mid-way is redelivered unchanged until acked, then exactly once', async () => {
    const ws = await RawClient.connect(node.wsUrl);
    const p = await PollClient.create(node.httpUrl);
    assert.equal((await p.post([{ t: 'connect', id: 1 }, { t: 'sub', id: 2, ch: 'chat:lost' }])).status, 204);
    await sleep(20);
    const first = await p.poll(0);
    assert.equal(first.body.seq, 1);
    p.apply(first.body);
    assert.deepEqual(p.frames.filter((f) => f.t === 'ok').map((f) => f.id), [1, 2]);
    for (let i = 1; i <= 3; i++) await ws.request({ t: 'pub', ch: 'chat:lost', data: i });
    await sleep(20);
    const lost = await p.poll(1);
    assert.equal(lost.body.seq, 2);
    assert.deepEqual(lost.body.frames.map((f: Frame) => f.data), [1, 2, 3]);
    // The client never saw `lost`: it polls again with ack=1 and gets the same batch, byte for byte.
    const again = await p.poll(1);
    assert.equal(again.text, lost.text);
    // Publications after the batch was cut do not grow it.
    for (let i = 4; i <= 5; i++) await ws.request({ t: 'pub', ch: 'chat:lost', data: i });
    await sleep(20);
    const still = await p.poll(); // no ack parameter at all: nothing new acknowledged
    assert.equal(still.text, lost.text);
    p.apply(again.body);
    p.apply(still.body); // a late duplicate copy is ignored by seq
    assert.equal(p.duplicates, 1);
    const next = await p.poll(2);
    assert.equal(next.body.seq, 3);
    p.apply(next.body);
    assert.deepEqual(p.pubs('chat:lost').map((f) => f.data), [1, 2, 3, 4, 5]);
    // An ack ahead of every batch is refused.
    const ahead = await p.poll(99);
    assert.equal(ahead.status, 400);
    ws.close();
  });

  test('a newer poll ends the held one with an empty batch', async () => {
    installPolling(node, { pollTimeout: 5 });
    try {
      const p = await PollClient.create(node.httpUrl);
      const held = p.poll(0);
      await sleep(50);
      const t0 = Date.now();
      const second = p.poll(0);
      const firstDone = await held;
      assert.equal(firstDone.status, 200);
      assert.deepEqual(firstDone.body, { seq: 0, frames: [] });
      assert.ok(Date.now() - t0 < 1000, 'ended at once');
      await p.post([{ t: 'connect', id: 1 }]);
      const b = await second;
      assert.equal(b.body.seq, 1);
      assert.equal(b.body.frames[0].id, 1);
    } finally {
      installPolling(node, { pollTimeout: 25 });
    }
  });

  test('a held poll times out with an empty batch repeating the acked seq', async () => {
    installPolling(node, { pollTimeout: 0.3 });
    try {
      const p = await PollClient.create(node.httpUrl);
      await p.post([{ t: 'connect', id: 1 }]);
      await sleep(20);
      const b1 = await p.poll(0);
      assert.equal(b1.body.seq, 1);
      const t0 = Date.now();
      const empty = await p.poll(1);
      assert.ok(Date.now() - t0 >= 250, 'held until the timeout');
      assert.deepEqual(empty.body, { seq: 1, frames: [] });
    } finally {
      installPolling(node, { pollTimeout: 25 });
    }
  });

  test('many concurrent polls for one session: order kept, nothing lost or applied twice', async () => {
    const ws = await RawClient.connect(node.wsUrl);
    const p = await PollClient.create(node.httpUrl);
    await p.post([{ t: 'connect', id: 1 }, { t: 'sub', id: 2, ch: 'chat:many' }]);
    const N = 200;
    let done = false;
    let empties = 0;
    let requests = 0;
    const poller = async () => {
      while (!done && requests < 20_000) {
        requests++;
        const r = await p.poll(p.seq);
        assert.equal(r.status, 200);
        if (r.body.frames.length === 0) empties++;
        p.apply(r.body);
        if (p.pubs('chat:many').length >= N) done = true;
      }
    };
    const pollers = Array.from({ length: 8 }, poller);
    await p.waitFor((f) => f.id === 2, 'sub reply');
    const acks = [];
    for (let i = 1; i <= N; i++) {
      acks.push(ws.request({ t: 'pub', ch: 'chat:many', data: i }));
      if (i % 20 === 0) await Promise.all(acks.splice(0));
    }
    await Promise.all(acks);
    await p.waitFor(() => p.pubs('chat:many').length >= N, `${N} pubs`, 10_000);
    done = true;
    // Wake the held pollers so they return.
    await p.post([{ t: 'presence', id: 3, ch: 'chat:many' }]);
    await Promise.all(pollers);
    assert.deepEqual(p.pubs('chat:many').map((f) => f.data), Array.from({ length: N }, (_, i) => i + 1));
    assert.ok(empties > 0, 'superseded polls were answered empty');
    ws.close();
  });

  test('absence timeout ends the session: presence entry gone, key answers 410', async () => {
    installPolling(node, { absenceTimeout: 0.5 });
    try {
      const ws = await RawClient.connect(node.wsUrl);
      await ws.request({ t: 'sub', ch: 'chat:absent' });
      const p = await PollClient.connect(node.httpUrl);
      await p.request({ t: 'sub', ch: 'chat:absent' });
      assert.ok(p.clientId in (await ws.request({ t: 'presence', ch: 'chat:absent' })).presence);
      await sleep(700); // a held poll counts as present
      assert.ok(p.clientId in (await ws.request({ t: 'presence', ch: 'chat:absent' })).presence);
      await p.stop();
      await ws.waitFor((f) => f.t === 'leave' && f.info.client === p.clientId, 3000);
      assert.ok(!(p.clientId in (await ws.request({ t: 'presence', ch: 'chat:absent' })).presence));
      const gone = await p.poll();
      assert.equal(gone.status, 410);
      assert.equal(gone.body.disconnect.reconnect, true);
      ws.close();
    } finally {
      installPolling(node, { absenceTimeout: 30 });
    }
  });

  test('a client that stops polling while frames pile up is a slow consumer (3004)', async () => {
    const ws = await RawClient.connect(node.wsUrl);
    const p = await PollClient.connect(node.httpUrl);
    await p.request({ t: 'sub', ch: 'chat:slow' });
    await p.stop();
    for (let i = 0; i < 10; i++) await ws.request({ t: 'pub', ch: 'chat:slow', data: 'x'.repeat(8000) });
    await sleep(50);
    // What was queued before the limit still arrives, then the disconnect.
    while (!p.ended) {
      const r = await p.poll();
      assert.equal(r.status, 200);
      p.apply(r.body);
    }
    assert.equal(p.frames.at(-1)!.code, 3004);
    assert.equal((await p.poll()).status, 410);
    ws.close();
  });

  test('CORS preflight and origin check', async () => {
    const call = (method: string, origin: string) =>
      new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = httpRequest(`${node.httpUrl}/connection/poll`, { method, headers: { Origin: origin } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        });
        req.on('error', reject);
        req.end();
      });
    const pre = await call('OPTIONS', 'http://ok.example');
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://ok.example');
    const created = await call('GET', 'http://ok.example');
    assert.equal(created.status, 200);
    assert.equal(created.headers['access-control-allow-origin'], 'http://ok.example');
    assert.equal((await call('GET', 'http://evil.example')).status, 403);
    assert.equal((await call('PUT', 'http://ok.example')).status, 405);
  });
});

describe('long-polling heartbeat', () => {
  let node: SwitchboardNode;
  before(async () => {
    node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, pingInterval: 1, pongTimeout: 1 });
  });
  after(() => node.close());

  test('pings arrive in batches; pongs by POST keep the session; a missing pong disconnects with 3005', async () => {
    const good = await PollClient.connect(node.httpUrl);
    const bad = await PollClient.connect(node.httpUrl);
    bad.autoPong = false;
    await bad.waitFor((f) => f.t === 'ping', 'a ping', 3000);
    const d = await bad.waitFor((f) => f.t === 'disconnect', 'the no-pong disconnect', 4000);
    assert.equal(d.code, 3005);
    await good.waitFor(() => good.frames.filter((f) => f.t === 'ping').length >= 2, 'two pings', 4000);
    assert.ok(!good.frames.some((f) => f.t === 'disconnect'));
    await good.stop();
    await bad.stop();
  });
});

describe('BatchQueue', () => {
  const b = (s: string) => Buffer.from(s);
  test('redelivers the unacked batch unchanged, cuts the next only after the ack', () => {
    const q = new BatchQueue();
    assert.equal(q.next(), null);
    q.push([b('1'), b('2')]);
    const b1 = q.next()!;
    assert.equal(b1.body.toString(), '{"seq":1,"frames":[1,2]}');
    q.push([b('3')]);
    assert.equal(q.next(), b1, 'not acked: same batch');
    assert.equal(q.ack(0), true);
    assert.equal(q.next(), b1);
    assert.equal(q.acked, 0);
    assert.equal(q.ack(5), false, 'ack ahead');
    q.ack(1);
    assert.equal(q.acked, 1);
    assert.equal(q.next()!.body.toString(), '{"seq":2,"frames":[3]}');
    assert.equal(q.bytes, '{"seq":2,"frames":[3]}'.length);
    q.ack(2);
    assert.equal(q.empty, true);
    assert.equal(q.next(), null);
  });
});

test('DELETE ?session=KEY ends the session at once: presence gone, later requests 410', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true });
  const base = `${node.httpUrl}/connection/poll`;
  const first = (await (await fetch(base)).json()) as { session: string };
  const key = encodeURIComponent(first.session);
  const post = await fetch(`${base}?session=${key}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"t":"connect","id":1}\n{"t":"sub","id":2,"ch":"room"}' });
  assert.equal(post.status, 204);
  let seq = 0;
  while (true) {
    const b = (await (await fetch(`${base}?session=${key}&ack=${seq}`)).json()) as { seq: number; frames: Array<{ id?: number }> };
    seq = b.seq;
    if (b.frames.some((f) => f.id === 2)) break;
  }
  assert.equal(Object.keys(await node.broker.presence('room')).length, 1);
  const del = await fetch(`${base}?session=${key}`, { method: 'DELETE' });
  assert.equal(del.status, 204);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(Object.keys(await node.broker.presence('room')).length, 0, 'presence removed without waiting for the absence timeout');
  assert.equal(node.connectionCount, 0);
  assert.equal((await fetch(`${base}?session=${key}&ack=${seq}`)).status, 410);
  assert.equal((await fetch(`${base}?session=${key}`, { method: 'DELETE' })).status, 410);
  await node.close();
});
