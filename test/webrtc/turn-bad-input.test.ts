// Hostile and wrong input against a live server over UDP and TCP: each case is answered as the
// RFCs say (or dropped where they say so), and the server keeps serving a well-behaved client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/util/clock.ts';
import {
  AttrType,
  StunClass,
  StunMethod,
  decodeUnknownAttributes,
  encodeChannelNumber,
  encodeStunMessage,
  encodeXorAddress,
  encodeAddressFamily,
  encodeRequestedTransport,
  encodeLifetime,
  getAttribute,
  newTransactionId,
  verifyIntegrity,
  longTermKey,
  decodeStunMessage,
  FAMILY_IPV6,
  TRANSPORT_TCP,
} from '../../src/webrtc/stun/index.ts';
import { TurnServer, createTurnCredentials } from '../../src/webrtc/turn/index.ts';
import { TestClient, errorCode, udpTransport, type Endpoint } from './helpers.ts';

const clock = new ManualClock(Date.now());
let server: TurnServer;
let ep: Endpoint;

before(async () => {
  server = new TurnServer(
    {
      listeningAddresses: ['127.0.0.1'],
      port: 0,
      realm: 'test.realm',
      users: { alice: 'alicepw', bob: 'bobpw', flood: 'floodpw' },
      authSecret: 'rest-secret',
      nonceLifetime: 30,
      userQuota: 3,
      totalQuota: 20,
      maxMessageBytes: 1000,
      // Loopback stays denied here, to test the default policy.
    },
    { clock },
  );
  const [b] = await server.listen();
  ep = { address: b!.address, port: b!.port };
});

after(async () => {
  TestClient.closeAll();
  await server.close();
});

function peerAttr(txid: Buffer, address: string, port = 5000) {
  return { type: AttrType.xorPeerAddress, value: encodeXorAddress({ family: address.includes(':') ? 6 : 4, address, port }, txid) };
}

/** A Binding round trip proving the server still answers. */
async function stillServing(c?: TestClient): Promise<void> {
  const client = c ?? (await TestClient.udp(ep));
  const res = await client.request(StunMethod.binding, []);
  assert.ok(res, 'server stopped answering Binding');
  assert.equal(res.cls, StunClass.success);
  if (!c) client.close();
}

test('truncated, oversized, garbage and bad-fingerprint datagrams are dropped silently', async () => {
  const c = await TestClient.udp(ep);
  const good = encodeStunMessage({ method: StunMethod.binding, cls: StunClass.request, transactionId: newTransactionId(), attributes: [] }, { fingerprint: true });
  const dropped = server.metrics.droppedMalformed;
  c.send(good.subarray(0, 10)); // truncated header
  c.send(good.subarray(0, good.length - 4)); // length field says more than arrived
  c.send(Buffer.alloc(1200, 0)); // oversized (maxMessageBytes 1000) and not STUN
  c.send(encodeStunMessage({ method: 1, cls: 0, transactionId: newTransactionId(), attributes: [{ type: AttrType.software, value: Buffer.alloc(1100, 0x61) }] })); // valid but oversized
  const badFp = Buffer.from(good);
  badFp[badFp.length - 1]! ^= 0xff;
  c.send(badFp);
  c.send(Buffer.from([0xc0, 1, 2, 3, 4, 5, 6, 7])); // leading bits 11
  c.send(Buffer.from([0x40, 0x00, 0x00])); // truncated ChannelData
  assert.equal(await c.next(300), undefined, 'no answer to malformed input');
  assert.ok(server.metrics.droppedMalformed >= dropped + 6, JSON.stringify(server.metrics));
  await stillServing(c);
  c.close();
});

test('unknown comprehension-required attribute: 420 with UNKNOWN-ATTRIBUTES; optional ones ignored', async () => {
  const c = await TestClient.udp(ep);
  const res = await c.request(StunMethod.binding, [
    { type: 0x0003, value: Buffer.alloc(4) }, // CHANGE-REQUEST (RFC 5780), not implemented
    { type: 0x7ffe, value: Buffer.alloc(0) },
    { type: 0xc001, value: Buffer.alloc(2) }, // comprehension-optional: ignored
  ]);
  assert.ok(res);
  assert.equal(errorCode(res), 420);
  assert.deepEqual(decodeUnknownAttributes(getAttribute(res, AttrType.unknownAttributes)!.value), [0x0003, 0x7ffe]);
  // On an authenticated TURN request the 420 comes after authentication and carries integrity.
  const alloc = await c.authed(StunMethod.allocate, [udpTransport, { type: 0x0003, value: Buffer.alloc(4) }], 'alice', 'alicepw');
  assert.equal(errorCode(alloc), 420);
  assert.ok(verifyIntegrity(alloc, c.key!));
  c.close();
});

test('wrong and unknown credentials get 401 with REALM and NONCE; the challenge is counted only on failure', async () => {
  const c = await TestClient.udp(ep);
  const first = await c.request(StunMethod.allocate, [udpTransport]);
  assert.equal(errorCode(first!), 401);
  assert.ok(getAttribute(first!, AttrType.realm) && getAttribute(first!, AttrType.nonce));
  assert.equal(getAttribute(first!, AttrType.messageIntegrity), undefined);
  const failures = server.metrics.authFailures;
  const wrong = await c.authed(StunMethod.allocate, [udpTransport], 'alice', 'nope');
  assert.equal(errorCode(wrong), 401);
  const c2 = await TestClient.udp(ep);
  const unknown = await c2.authed(StunMethod.allocate, [udpTransport], 'mallory', 'x');
  assert.equal(errorCode(unknown), 401);
  // A time-limited username whose expiry has passed.
  const old = createTurnCredentials('rest-secret', 'carol', 60, clock.now() - 3_600_000);
  const c3 = await TestClient.udp(ep);
  assert.equal(errorCode(await c3.authed(StunMethod.allocate, [udpTransport], old.username, old.credential)), 401);
  // ...and a fresh one works.
  c3.key = undefined;
  const fresh = createTurnCredentials('rest-secret', 'carol', 600, clock.now());
  const ok = await c3.authed(StunMethod.allocate, [udpTransport], fresh.username, fresh.credential);
  assert.equal(ok.cls, StunClass.success);
  assert.ok(verifyIntegrity(ok, longTermKey(fresh.username, 'test.realm', fresh.credential)));
  assert.equal(server.metrics.authFailures, failures + 3);
  // Integrity present but USERNAME missing: 400.
  const txid = newTransactionId();
  c2.send(encodeStunMessage({ method: StunMethod.allocate, cls: StunClass.request, transactionId: txid, attributes: [udpTransport] }, { integrityKey: Buffer.from('k') }));
  assert.equal(errorCode((await c2.response(txid))!), 400);
  await c3.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
  for (const x of [c, c2, c3]) x.close();
});

test('a stale nonce gets 438 with a new NONCE, and the retry succeeds', async () => {
  const c = await TestClient.udp(ep);
  const ok = await c.authed(StunMethod.allocate, [udpTransport], 'bob', 'bobpw');
  assert.equal(ok.cls, StunClass.success);
  const oldNonce = c.nonce;
  clock.advance(31_000); // nonceLifetime is 30 s; the allocation (600 s) lives on
  const stale = await c.request(StunMethod.refresh, [], { auth: true });
  assert.equal(errorCode(stale!), 438);
  const newNonce = getAttribute(stale!, AttrType.nonce)!.value.toString();
  assert.notEqual(newNonce, oldNonce);
  const retried = await c.authed(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], 'bob', 'bobpw');
  assert.equal(retried.cls, StunClass.success);
  c.close();
});

test('allocation flood beyond the per-user quota gets 486; other users are unaffected', async () => {
  const clients: TestClient[] = [];
  const codes: (number | undefined)[] = [];
  for (let i = 0; i < 5; i++) {
    const c = await TestClient.udp(ep);
    clients.push(c);
    codes.push(errorCode(await c.authed(StunMethod.allocate, [udpTransport], 'flood', 'floodpw')));
  }
  assert.deepEqual(codes, [undefined, undefined, undefined, 486, 486]);
  const other = await TestClient.udp(ep);
  assert.equal((await other.authed(StunMethod.allocate, [udpTransport], 'alice', 'alicepw')).cls, StunClass.success);
  // Releasing one makes room again.
  assert.equal((await clients[0]!.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true }))!.cls, StunClass.success);
  assert.equal((await clients[4]!.authed(StunMethod.allocate, [udpTransport], 'flood', 'floodpw')).cls, StunClass.success);
  assert.ok(server.metrics.quotaRejections >= 2);
  for (const c of [...clients, other]) {
    await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
    c.close();
  }
});

test('ChannelBind and CreatePermission to denied peers: 403; wrong family: 443; malformed: 400', async () => {
  const c = await TestClient.udp(ep);
  assert.equal((await c.authed(StunMethod.allocate, [udpTransport], 'alice', 'alicepw')).cls, StunClass.success);
  const ask = async (method: number, build: (txid: Buffer) => { type: number; value: Buffer }[]) => {
    // Build attributes against the transaction id the request will carry.
    const txid = newTransactionId();
    const attrs = [
      ...build(txid),
      { type: AttrType.username, value: Buffer.from(c.username) },
      { type: AttrType.realm, value: Buffer.from(c.realm) },
      { type: AttrType.nonce, value: Buffer.from(c.nonce) },
    ];
    c.send(encodeStunMessage({ method, cls: StunClass.request, transactionId: txid, attributes: attrs }, { integrityKey: c.key, fingerprint: true }));
    const res = (await c.response(txid))!;
    assert.ok(verifyIntegrity(res, c.key!), 'authenticated responses carry MESSAGE-INTEGRITY');
    return errorCode(res);
  };
  const chan = { type: AttrType.channelNumber, value: encodeChannelNumber(0x4001) };
  for (const denied of ['127.0.0.1', '10.1.2.3', '192.168.1.1', '172.20.0.1', '169.254.1.1', '100.64.0.1', '0.0.0.0', '224.0.0.1']) {
    assert.equal(await ask(StunMethod.channelBind, (t) => [chan, peerAttr(t, denied)]), 403, denied);
    assert.equal(await ask(StunMethod.createPermission, (t) => [peerAttr(t, denied)]), 403, denied);
  }
  // All-or-nothing: one denied peer among allowed ones fails the whole request.
  assert.equal(await ask(StunMethod.createPermission, (t) => [peerAttr(t, '8.8.8.8'), peerAttr(t, '10.0.0.1')]), 403);
  assert.equal(await ask(StunMethod.createPermission, (t) => [peerAttr(t, '2001:db8::1')]), 443);
  assert.equal(await ask(StunMethod.channelBind, (t) => [{ type: AttrType.channelNumber, value: encodeChannelNumber(0x3fff) }, peerAttr(t, '8.8.8.8')]), 400);
  assert.equal(await ask(StunMethod.channelBind, () => [chan]), 400);
  assert.equal(await ask(StunMethod.createPermission, () => []), 400);
  // A public peer is fine; rebinding the channel to another peer is 400 (RFC 8656 §11.2).
  assert.equal(await ask(StunMethod.channelBind, (t) => [chan, peerAttr(t, '8.8.8.8')]), undefined);
  assert.equal(await ask(StunMethod.channelBind, (t) => [chan, peerAttr(t, '8.8.8.8')]), undefined);
  assert.equal(await ask(StunMethod.channelBind, (t) => [chan, peerAttr(t, '8.8.4.4')]), 400);
  assert.equal(await ask(StunMethod.channelBind, (t) => [{ type: AttrType.channelNumber, value: encodeChannelNumber(0x4002) }, peerAttr(t, '8.8.8.8')]), 400);
  // Second Allocate on the same 5-tuple: 437.
  assert.equal(await ask(StunMethod.allocate, () => [udpTransport]), 437);
  assert.ok(server.metrics.peerDenied >= 16);
  await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
  // Without an allocation: 437.
  assert.equal(errorCode((await c.request(StunMethod.refresh, [], { auth: true }))!), 437);
  c.close();
});

test('Allocate checks: missing REQUESTED-TRANSPORT 400, TCP 442, unsupported family 440, bad token 508, wrong user 441', async () => {
  const c = await TestClient.udp(ep);
  assert.equal(errorCode(await c.authed(StunMethod.allocate, [], 'alice', 'alicepw')), 400);
  assert.equal(errorCode((await c.request(StunMethod.allocate, [{ type: AttrType.requestedTransport, value: encodeRequestedTransport(TRANSPORT_TCP) }], { auth: true }))!), 442);
  assert.equal(errorCode((await c.request(StunMethod.allocate, [udpTransport, { type: AttrType.requestedAddressFamily, value: encodeAddressFamily(FAMILY_IPV6) }], { auth: true }))!), 440);
  assert.equal(errorCode((await c.request(StunMethod.allocate, [udpTransport, { type: AttrType.requestedAddressFamily, value: encodeAddressFamily(9) }], { auth: true }))!), 440);
  assert.equal(errorCode((await c.request(StunMethod.allocate, [udpTransport, { type: AttrType.reservationToken, value: Buffer.alloc(8, 1) }], { auth: true }))!), 508);
  assert.equal(errorCode((await c.request(StunMethod.allocate, [udpTransport, { type: AttrType.lifetime, value: Buffer.alloc(3) }], { auth: true }))!), 400);
  assert.equal((await c.request(StunMethod.allocate, [udpTransport], { auth: true }))!.cls, StunClass.success);
  // Same 5-tuple, other valid user: 441 Wrong Credentials.
  c.key = undefined;
  assert.equal(errorCode(await c.authed(StunMethod.refresh, [], 'bob', 'bobpw')), 441);
  c.key = undefined;
  await c.authed(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], 'alice', 'alicepw');
  // A method the server does not know: 400.
  assert.equal(errorCode((await c.request(0x0fe, []))!), 400);
  c.close();
});

test('TCP: garbage closes only that connection; a good TCP client keeps working', async () => {
  const bad = await TestClient.tcp(ep);
  bad.send(Buffer.from([0xff, 0xff, 0x00, 0x00, 0x01, 0x02]));
  assert.equal(await bad.next(500), undefined);
  assert.ok(bad.closed(), 'connection with a non-STUN stream is closed');
  const good = await TestClient.tcp(ep);
  await stillServing(good);
  const alloc = await good.authed(StunMethod.allocate, [udpTransport], 'alice', 'alicepw');
  assert.equal(alloc.cls, StunClass.success);
  const active = server.metrics.allocationsActive;
  good.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(server.metrics.allocationsActive, active - 1, 'closing the TCP connection deletes its allocation');
  // A ChannelData frame for an unbound channel on a fresh connection is dropped, nothing answered.
  const other = await TestClient.tcp(ep);
  other.send(Buffer.from([0x40, 0x01, 0x00, 0x01, 0x61, 0, 0, 0]));
  assert.equal(await other.next(200), undefined);
  await stillServing(other);
  other.close();
  await stillServing();
});

test('retransmitted Allocate gets the same response (RFC 8656 §7.2)', async () => {
  const c = await TestClient.udp(ep);
  await c.authed(StunMethod.binding, [], 'alice', 'alicepw');
  const first = await c.authed(StunMethod.allocate, [udpTransport], 'alice', 'alicepw');
  // Re-send the exact request bytes of a new Allocate with a fixed transaction id twice.
  await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
  const txid = newTransactionId();
  const raw = encodeStunMessage(
    {
      method: StunMethod.allocate,
      cls: StunClass.request,
      transactionId: txid,
      attributes: [udpTransport, { type: AttrType.username, value: Buffer.from('alice') }, { type: AttrType.realm, value: Buffer.from(c.realm) }, { type: AttrType.nonce, value: Buffer.from(c.nonce) }],
    },
    { integrityKey: c.key },
  );
  c.send(raw);
  const r1 = await c.response(txid);
  c.send(raw);
  const r2 = await c.response(txid);
  assert.equal(first.cls, StunClass.success);
  assert.ok(r1 && r2);
  assert.deepEqual(r1.raw, r2.raw);
  assert.equal(decodeStunMessage(r1.raw).cls, StunClass.success);
  await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
  c.close();
});
