/**
 * The Client's timing and reconnect policy against a scripted in-process transport and a
 * ManualClock: no sockets, no sleeping. (Real-server behaviour is in test/integration/client-*.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/util/clock.ts';
import { jsonCodec } from '../../src/protocol/codec.ts';
import { Client, type ClientTransport, type DisconnectedEvent, type TransportEvents, type TransportFactory } from '../../src/client/index.ts';

interface FakeConn {
  sent: Array<Record<string, unknown>>;
  events: TransportEvents;
  closed: { code: number; reason: string } | undefined;
  push(frame: unknown): void;
}

/** A transport factory whose connections the test drives by hand. */
function fakeTransport() {
  const conns: FakeConn[] = [];
  const factory: TransportFactory = {
    name: 'fake',
    async create(_ctx, events): Promise<ClientTransport> {
      const conn: FakeConn = {
        sent: [],
        events,
        closed: undefined,
        push: (f) => events.message(JSON.stringify(f)),
      };
      conns.push(conn);
      return {
        name: 'fake',
        send(data) {
          for (const f of jsonCodec.decode(data)) conn.sent.push(f as Record<string, unknown>);
          return true;
        },
        close(code = 1000, reason = '') {
          conn.closed ??= { code, reason };
        },
      };
    },
  };
  return { factory, conns };
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

async function connected(fake: ReturnType<typeof fakeTransport>, i: number, reply: Record<string, unknown> = {}): Promise<FakeConn> {
  await flush();
  const conn = fake.conns[i]!;
  const connect = conn.sent.find((f) => f.t === 'connect')!;
  conn.push({ t: 'ok', id: connect.id, client: `c${i}`, node: 'n', user: '', ping: 25, pong: 10, ...reply });
  await flush();
  return conn;
}

function setup(extra: Record<string, unknown> = {}) {
  const clock = new ManualClock(0);
  const fake = fakeTransport();
  const c = new Client('ws://fake', Object.freeze({ transports: [fake.factory], clock, random: () => 0.5, minDelay: 1000, maxDelay: 16000, ...extra }));
  const disconnects: DisconnectedEvent[] = [];
  c.on('disconnected', (e) => disconnects.push(e));
  return { clock, fake, c, disconnects };
}

test('reconnect waits max(full-jitter backoff, server delay); backoff grows per failed attempt', async () => {
  const { clock, fake, c, disconnects } = setup();
  void c.connect();
  const conn = await connected(fake, 0);
  assert.equal(c.state, 'connected');
  conn.push({ t: 'disconnect', code: 3001, reason: 'node shutting down', reconnect: true, delay: 4000 });
  assert.equal(c.state, 'connecting');
  assert.deepEqual(disconnects, [{ code: 3001, reason: 'node shutting down', reconnect: true }]);
  assert.equal(conn.closed?.code, 3001);
  clock.advance(3999);
  await flush();
  assert.equal(fake.conns.length, 1, 'not before the server-advised delay (jitter alone would be 500)');
  clock.advance(1);
  await flush();
  assert.equal(fake.conns.length, 2);
  // The attempt fails (transport closes before the connect reply): backoff attempt 1 → 0.5 × 2000.
  fake.conns[1]!.events.close({ code: 1006, reason: '' });
  await flush(); // negotiation is async: the failed attempt settles before the backoff starts
  clock.advance(999);
  await flush();
  assert.equal(fake.conns.length, 2);
  clock.advance(1);
  await flush();
  assert.equal(fake.conns.length, 3);
  await connected(fake, 2);
  assert.equal(c.state, 'connected');
  c.close();
  assert.equal(clock.pending, 0, 'close() leaves no timer behind');
});

test('terminal disconnect codes (3500–3999) do not reconnect', async () => {
  const { clock, fake, c, disconnects } = setup();
  const p = c.connect();
  const conn = await connected(fake, 0);
  await p;
  conn.push({ t: 'disconnect', code: 3503, reason: 'disconnected by server', reconnect: false });
  assert.equal(c.state, 'disconnected');
  assert.equal(disconnects[0]!.reconnect, false);
  clock.advance(60_000);
  await flush();
  assert.equal(fake.conns.length, 1);
  c.close();
});

test('heartbeat: nothing received for ping + pong seconds → close and reconnect; any frame resets it', async () => {
  const { clock, fake, c, disconnects } = setup();
  void c.connect();
  const conn = await connected(fake, 0, { ping: 2, pong: 1 });
  clock.advance(2500);
  conn.push({ t: 'ping' });
  await flush();
  assert.deepEqual(conn.sent.at(-1), { t: 'pong' });
  clock.advance(2999);
  assert.equal(c.state, 'connected', 'the ping at 2.5 s reset the watchdog');
  clock.advance(1);
  assert.equal(c.state, 'connecting');
  assert.equal(disconnects[0]!.reason, 'no ping from server');
  assert.ok(conn.closed, 'the dead transport was closed');
  c.close();
});

test('a publish whose ack was lost is resent with the same idempotency key after reconnecting', async () => {
  const { clock, fake, c } = setup();
  void c.connect();
  const conn0 = await connected(fake, 0);
  const p = c.publish('ch', { n: 1 });
  await flush();
  const pub0 = conn0.sent.find((f) => f.t === 'pub')!;
  assert.equal(typeof pub0.key, 'string');
  conn0.events.close({ code: 1006, reason: 'network' });
  assert.equal(c.offlineQueueSize, 1, 'back in the queue');
  clock.advance(1000);
  const conn1 = await connected(fake, 1);
  const pub1 = conn1.sent.find((f) => f.t === 'pub')!;
  assert.equal(pub1.key, pub0.key);
  conn1.push({ t: 'ok', id: pub1.id, epoch: 'e', offset: 7 });
  assert.deepEqual(await p, { epoch: 'e', offset: 7 });
  c.close();
});

test('token ttl: refreshed in place `refreshBefore` ahead; the refresh command carries the new token', async () => {
  let n = 0;
  const { clock, fake, c } = setup({ getToken: async () => `tok${++n}`, refreshBefore: 5000 });
  void c.connect();
  await flush();
  assert.equal(fake.conns[0]!.sent[0]!.token, 'tok1');
  const conn = await connected(fake, 0, { ttl: 60, ping: 0 }); // ping 0: no heartbeat watchdog here
  clock.advance(54_999);
  await flush();
  assert.equal(n, 1);
  clock.advance(1);
  await flush();
  assert.equal(n, 2);
  const refresh = conn.sent.find((f) => f.t === 'refresh')!;
  assert.equal(refresh.token, 'tok2');
  conn.push({ t: 'ok', id: refresh.id, ttl: 60 });
  await flush();
  clock.advance(55_000);
  await flush();
  assert.equal(n, 3, 'the next refresh is scheduled from the new ttl');
  c.close();
});

test('pubs are deduplicated by offset, jumps reported, and those arriving before the sub reply are held', async () => {
  const { fake, c } = setup();
  void c.connect();
  const conn = await connected(fake, 0);
  const got: number[] = [];
  const gaps: unknown[] = [];
  c.subscribe('ch', { onPublication: (p) => got.push(p.offset), onGap: (g) => gaps.push(g) });
  await flush();
  const sub = conn.sent.find((f) => f.t === 'sub')!;
  // One message: the reply, then publications (one duplicate, one jump).
  conn.events.message(
    [
      { t: 'pub', ch: 'ch', e: 'e', o: 11, data: 0 },
      { t: 'ok', id: sub.id, epoch: 'e', offset: 10, recoverable: true },
      { t: 'pub', ch: 'ch', e: 'e', o: 11, data: 0 },
      { t: 'pub', ch: 'ch', e: 'e', o: 12, data: 0 },
      { t: 'pub', ch: 'ch', e: 'e', o: 15, data: 0 },
    ]
      .map((f) => JSON.stringify(f))
      .join('\n'),
  );
  assert.deepEqual(got, [11, 12, 15]);
  assert.deepEqual(gaps, [{ channel: 'ch', recovered: false, reason: 'jump', epoch: 'e', from: 13, to: 14 }]);
  c.close();
});

test('a hole before an unreliable pub (u: true, a lost datagram) is a gap like a gap push; a late one is dropped; resubscribe recovers from past it', async () => {
  const { fake, c } = setup();
  void c.connect();
  const conn = await connected(fake, 0);
  const got: number[] = [];
  const gaps: unknown[] = [];
  c.subscribe('ch', { onPublication: (p) => got.push(p.offset), onGap: (g) => gaps.push(g) });
  await flush();
  const sub = conn.sent.find((f) => f.t === 'sub')!;
  conn.push({ t: 'ok', id: sub.id, epoch: 'e', offset: 0, recoverable: true });
  for (const o of [1, 2, 5, 4, 6]) conn.push({ t: 'pub', ch: 'ch', e: 'e', o, data: 0, u: true });
  // A reliable jump on the same subscription is still a jump.
  conn.push({ t: 'pub', ch: 'ch', e: 'e', o: 9, data: 0 });
  await flush();
  assert.deepEqual(got, [1, 2, 5, 6, 9], 'the late 4 is dropped: delivery stays in order');
  assert.deepEqual(gaps, [
    { channel: 'ch', recovered: false, reason: 'gap', epoch: 'e', from: 3, to: 4 },
    { channel: 'ch', recovered: false, reason: 'jump', epoch: 'e', from: 7, to: 8 },
  ]);
  // The position is past the holes: a resubscribe asks recovery from 9, not from the lost ones.
  conn.push({ t: 'unsub', ch: 'ch', code: 3009, reason: 'insufficient state', resubscribe: true });
  await flush();
  const again = conn.sent.filter((f) => f.t === 'sub').at(-1)!;
  assert.deepEqual(again.recover, { epoch: 'e', offset: 9 });
  c.close();
});
