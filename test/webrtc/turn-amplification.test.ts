// Issue 11 D3: unauthenticated answers over UDP are as small as RFC 8489/8656 allow and are
// rate-limited per source address, so the server is a poor reflector for spoofed-source floods.
// A raw UDP client measures bytes out / bytes in for each kind of unauthenticated request; the
// factors are printed (`amplification ...` lines) and bounded here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { ManualClock } from '../../src/util/clock.ts';
import {
  AttrType,
  StunClass,
  StunMethod,
  decodeStunMessage,
  encodeStunMessage,
  getAttribute,
  newTransactionId,
  type StunAttribute,
} from '../../src/webrtc/stun/index.ts';
import { TurnServer } from '../../src/webrtc/turn/index.ts';
import { SourceLimiter } from '../../src/webrtc/turn/source-limiter.ts';
import { TestClient, udpTransport } from './helpers.ts';

const sockets: Socket[] = [];
after(() => {
  sockets.forEach((s) => s.close());
  TestClient.closeAll();
});

async function rawClient(): Promise<{ ask: (b: Buffer, ms?: number) => Promise<Buffer | undefined>; socket: Socket }> {
  const s = createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const inbox: Buffer[] = [];
  s.on('message', (m) => inbox.push(m));
  return {
    socket: s,
    async ask(b, ms = 300) {
      return new Promise((resolve) => {
        s.send(b, port, '127.0.0.1');
        const deadline = Date.now() + ms;
        const poll = () => {
          if (inbox.length > 0) return resolve(inbox.shift());
          if (Date.now() > deadline) return resolve(undefined);
          setTimeout(poll, 2);
        };
        poll();
      });
    },
  };
}

let port = 0;
const request = (method: number, attributes: StunAttribute[], fingerprint = false) =>
  encodeStunMessage({ method, cls: StunClass.request, transactionId: newTransactionId(), attributes }, { fingerprint });

test('unauthenticated answers: no SOFTWARE, empty-reason challenges, short NONCE; amplification measured', async () => {
  const server = new TurnServer({ listeningAddresses: ['127.0.0.1'], port: 0, udp: true, tcp: false, users: { u: 'p' } });
  port = (await server.listen())[0]!.port;
  try {
    const c = await rawClient();
    const cases: Array<{ name: string; req: Buffer; max: number }> = [
      { name: 'bare Allocate (no attributes) -> 401', req: request(StunMethod.allocate, []), max: 3.2 },
      { name: 'Allocate REQUESTED-TRANSPORT -> 401', req: request(StunMethod.allocate, [udpTransport]), max: 2.3 },
      { name: 'Allocate REQUESTED-TRANSPORT FINGERPRINT -> 401', req: request(StunMethod.allocate, [udpTransport], true), max: 2.0 },
      { name: 'bare Refresh -> 401', req: request(StunMethod.refresh, []), max: 3.2 },
      { name: 'Binding -> 200', req: request(StunMethod.binding, []), max: 1.6 },
      { name: 'Binding FINGERPRINT -> 200', req: request(StunMethod.binding, [], true), max: 1.43 },
      { name: 'unknown method 0x00f -> 400', req: request(0x00f, []), max: 1.4 },
    ];
    for (const k of cases) {
      const res = await c.ask(k.req);
      assert.ok(res, `${k.name}: answered`);
      const factor = res.length / k.req.length;
      console.log(`amplification ${k.name}: ${k.req.length} B in, ${res.length} B out, x${factor.toFixed(2)}`);
      const m = decodeStunMessage(res);
      assert.equal(getAttribute(m, AttrType.software), undefined, `${k.name}: no SOFTWARE on an unauthenticated answer`);
      assert.ok(factor <= k.max, `${k.name}: x${factor.toFixed(2)} <= x${k.max}`);
    }
  } finally {
    await server.close();
  }
});

test('unauthenticated answers are rate-limited per source address; authenticated requests are not', async () => {
  const clock = new ManualClock(Date.now());
  const server = new TurnServer({ listeningAddresses: ['127.0.0.1'], port: 0, tcp: false, users: { u: 'p' }, unauthenticatedRate: 10 }, { clock });
  port = (await server.listen())[0]!.port;
  try {
    // A client that authenticated before the flood (its one 401 takes one token).
    const legit = await TestClient.udp({ address: '127.0.0.1', port });
    assert.equal((await legit.authed(StunMethod.allocate, [udpTransport], 'u', 'p')).cls, StunClass.success);

    const flooder = await rawClient();
    let answered = 0;
    for (let i = 0; i < 30; i++) if (await flooder.ask(request(StunMethod.allocate, [udpTransport]), 50)) answered++;
    assert.equal(answered, 9, 'the rest of the burst (one second of the rate), then silence');
    assert.equal(server.metrics.droppedUnauthenticatedRate, 21);
    assert.equal(await flooder.ask(request(StunMethod.binding, [])), undefined, 'Binding answers count too');
    // Integrity-checked requests from the same address are answered: only unauthenticated answers are limited.
    const refresh = await legit.request(StunMethod.refresh, [], { auth: true });
    assert.equal(refresh?.cls, StunClass.success);
    // The bucket refills from the clock.
    clock.advance(500);
    let refilled = 0;
    for (let i = 0; i < 10; i++) if (await flooder.ask(request(StunMethod.binding, []), 50)) refilled++;
    assert.equal(refilled, 5, 'half a second refills half the rate');
    legit.close();
  } finally {
    await server.close();
  }
});

test('SourceLimiter: one bucket per source, bounded memory (LRU eviction)', () => {
  const clock = new ManualClock(0);
  const l = new SourceLimiter(clock, 2, 3);
  assert.deepEqual([l.take('a'), l.take('a'), l.take('a')], [true, true, false]);
  assert.equal(l.take('b'), true, 'another source has its own bucket');
  l.take('c');
  l.take('d'); // evicts the least recently used: 'a'
  assert.equal(l.size, 3);
  assert.equal(l.take('a'), true, 'an evicted source starts again with a full bucket');
  assert.equal(new SourceLimiter(clock, 0).take('x'), true, '0 = unlimited');
});
