// Relaying and timing with a ManualClock: Send/Data indications and ChannelData both ways to an
// in-process UDP peer, permission and allocation expiry, EVEN-PORT reservations, bandwidth limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { ManualClock } from '../../src/util/clock.ts';
import {
  AttrType,
  StunClass,
  StunMethod,
  decodeChannelData,
  decodeStunMessage,
  decodeXorAddress,
  decodeLifetime,
  encodeChannelData,
  encodeChannelNumber,
  encodeEvenPort,
  encodeLifetime,
  encodeStunMessage,
  encodeXorAddress,
  getAttribute,
  newTransactionId,
  type TransportAddress,
} from '../../src/webrtc/stun/index.ts';
import { TurnServer } from '../../src/webrtc/turn/index.ts';
import { TestClient, errorCode, udpTransport, type Endpoint } from './helpers.ts';

const clock = new ManualClock(Date.now());
let server: TurnServer;
let ep: Endpoint;
let peer: Socket;
let peerPort = 0;
const peerInbox: { msg: Buffer; port: number }[] = [];

before(async () => {
  server = new TurnServer(
    { listeningAddresses: ['127.0.0.1'], port: 0, users: { u: 'p' }, allowLoopbackPeers: true, maxBytesPerSecond: 1000, relayPortMin: 50000, relayPortMax: 59999 },
    { clock },
  );
  const [b] = await server.listen();
  ep = { address: b!.address, port: b!.port };
  peer = createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  peerPort = peer.address().port;
  peer.on('message', (msg, rinfo) => peerInbox.push({ msg, port: rinfo.port }));
});

after(async () => {
  TestClient.closeAll();
  peer.close();
  await server.close();
});

async function peerReceives(ms = 500): Promise<Buffer | undefined> {
  const deadline = Date.now() + ms;
  while (peerInbox.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return peerInbox.shift()?.msg;
}

async function allocate(c: TestClient, extra: { type: number; value: Buffer }[] = []) {
  const res = await c.authed(StunMethod.allocate, [udpTransport, ...extra], 'u', 'p');
  assert.equal(res.cls, StunClass.success, `allocate failed: ${errorCode(res)}`);
  const relay = decodeXorAddress(getAttribute(res, AttrType.xorRelayedAddress)!.value, res.transactionId);
  const mapped = decodeXorAddress(getAttribute(res, AttrType.xorMappedAddress)!.value, res.transactionId);
  return { res, relay, mapped };
}

function sendIndication(c: TestClient, to: TransportAddress, data: Buffer): void {
  const transactionId = newTransactionId();
  c.send(
    encodeStunMessage({
      method: StunMethod.send,
      cls: StunClass.indication,
      transactionId,
      attributes: [
        { type: AttrType.xorPeerAddress, value: encodeXorAddress(to, transactionId) },
        { type: AttrType.data, value: data },
      ],
    }),
  );
}

const peerAddr = (): TransportAddress => ({ family: 4, address: '127.0.0.1', port: peerPort });

test('Send/Data indications need a permission; ChannelData flows both ways once bound', async () => {
  const c = await TestClient.udp(ep);
  const { relay, mapped } = await allocate(c);
  assert.equal(relay.address, '127.0.0.1');
  assert.ok(relay.port >= 50000 && relay.port <= 59999);
  assert.equal(mapped.port, c.local().port);

  sendIndication(c, peerAddr(), Buffer.from('no permission yet'));
  assert.equal(await peerReceives(200), undefined, 'dropped without permission (RFC 8656 §11.3)');

  const perm = await c.request(StunMethod.createPermission, [{ type: AttrType.xorPeerAddress, value: Buffer.alloc(0) }], { auth: true });
  assert.equal(errorCode(perm!), 400, 'malformed XOR-PEER-ADDRESS');
  await permit(c, peerAddr());

  sendIndication(c, peerAddr(), Buffer.from('hello peer'));
  assert.equal((await peerReceives())?.toString(), 'hello peer');
  peer.send(Buffer.from('hello client'), relay.port, relay.address);
  const data = decodeStunMessage((await c.next())!);
  assert.equal(data.method, StunMethod.data);
  assert.equal(data.cls, StunClass.indication);
  assert.equal(getAttribute(data, AttrType.data)!.value.toString(), 'hello client');
  assert.deepEqual(decodeXorAddress(getAttribute(data, AttrType.xorPeerAddress)!.value, data.transactionId), peerAddr());

  await bindChannel(c, 0x4001, peerAddr());
  c.send(encodeChannelData(0x4001, Buffer.from('via channel')));
  assert.equal((await peerReceives())?.toString(), 'via channel');
  peer.send(Buffer.from('back on channel'), relay.port, relay.address);
  const cd = decodeChannelData((await c.next())!);
  assert.equal(cd.channel, 0x4001);
  assert.equal(cd.data.toString(), 'back on channel');

  // Permissions last 300 s (RFC 8656 §9); the channel binding 600 s. After 301 s the permission
  // is gone and data is dropped both ways even though the channel is still bound.
  await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(3600) }], { auth: true });
  clock.advance(301_000);
  const dropsBefore = server.metrics.droppedNoPermission;
  c.send(encodeChannelData(0x4001, Buffer.from('late')));
  peer.send(Buffer.from('late too'), relay.port, relay.address);
  assert.equal(await peerReceives(200), undefined);
  assert.equal(await c.next(200), undefined);
  assert.equal(server.metrics.droppedNoPermission, dropsBefore + 2);
  await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
  c.close();
});

async function permit(c: TestClient, to: TransportAddress): Promise<void> {
  const res = await requestWithPeer(c, StunMethod.createPermission, to, []);
  assert.equal(res.cls, StunClass.success, `CreatePermission: ${errorCode(res)}`);
}

async function bindChannel(c: TestClient, channel: number, to: TransportAddress): Promise<void> {
  const res = await requestWithPeer(c, StunMethod.channelBind, to, [{ type: AttrType.channelNumber, value: encodeChannelNumber(channel) }]);
  assert.equal(res.cls, StunClass.success, `ChannelBind: ${errorCode(res)}`);
}

/** XOR-PEER-ADDRESS must be XOR'ed with the request's own transaction id. */
async function requestWithPeer(c: TestClient, method: number, to: TransportAddress, extra: { type: number; value: Buffer }[]) {
  const transactionId = newTransactionId();
  const attributes = [
    { type: AttrType.xorPeerAddress, value: encodeXorAddress(to, transactionId) },
    ...extra,
    { type: AttrType.username, value: Buffer.from(c.username) },
    { type: AttrType.realm, value: Buffer.from(c.realm) },
    { type: AttrType.nonce, value: Buffer.from(c.nonce) },
  ];
  c.send(encodeStunMessage({ method, cls: StunClass.request, transactionId, attributes }, { integrityKey: c.key, fingerprint: true }));
  return (await c.response(transactionId))!;
}

test('allocation lifetime: expires on the clock, Refresh extends it, lifetimes are clamped', async () => {
  const c = await TestClient.udp(ep);
  const { res } = await allocate(c, [{ type: AttrType.lifetime, value: encodeLifetime(60) }]);
  assert.equal(decodeLifetime(getAttribute(res, AttrType.lifetime)!.value), 600, 'less than the default gets the default');
  const r = await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(99999) }], { auth: true });
  assert.equal(decodeLifetime(getAttribute(r!, AttrType.lifetime)!.value), 3600, 'capped at maxLifetime');
  const active = server.metrics.allocationsActive;
  const expired = server.metrics.allocationsExpired;
  clock.advance(3599_000);
  assert.equal(server.metrics.allocationsActive, active);
  clock.advance(2_000);
  assert.equal(server.metrics.allocationsActive, active - 1);
  assert.equal(server.metrics.allocationsExpired, expired + 1);
  // (An hour later the nonce is stale too: authed() takes the 438 and retries.)
  assert.equal(errorCode(await c.authed(StunMethod.refresh, [], 'u', 'p')), 437);
  // The 5-tuple can allocate again.
  await allocate(c);
  await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
  c.close();
});

test('EVEN-PORT with R: even relay port, RESERVATION-TOKEN gives port+1; the reservation expires after 30 s', async () => {
  const a = await TestClient.udp(ep);
  const { res, relay } = await allocate(a, [{ type: AttrType.evenPort, value: encodeEvenPort(true) }]);
  assert.equal(relay.port % 2, 0);
  const token = getAttribute(res, AttrType.reservationToken)!.value;
  assert.equal(token.length, 8);
  const b = await TestClient.udp(ep);
  const second = await allocate(b, [{ type: AttrType.reservationToken, value: Buffer.from(token) }]);
  assert.equal(second.relay.port, relay.port + 1);

  const c = await TestClient.udp(ep);
  const { res: res3 } = await allocate(c, [{ type: AttrType.evenPort, value: encodeEvenPort(true) }]);
  const token3 = Buffer.from(getAttribute(res3, AttrType.reservationToken)!.value);
  clock.advance(31_000);
  const d = await TestClient.udp(ep);
  const late = await d.authed(StunMethod.allocate, [udpTransport, { type: AttrType.reservationToken, value: token3 }], 'u', 'p');
  assert.equal(errorCode(late), 508, 'expired reservation');
  for (const x of [a, b, c]) await x.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
  for (const x of [a, b, c, d]) x.close();
});

test('bandwidth limit: 1000 B/s per allocation drops the excess until the clock refills it', async () => {
  const c = await TestClient.udp(ep);
  await allocate(c);
  await bindChannel(c, 0x4002, peerAddr());
  peerInbox.length = 0;
  for (let i = 0; i < 20; i++) c.send(encodeChannelData(0x4002, Buffer.alloc(100, i)));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(peerInbox.length, 10, 'one second of burst = 1000 bytes = 10 packets');
  clock.advance(500);
  peerInbox.length = 0;
  for (let i = 0; i < 20; i++) c.send(encodeChannelData(0x4002, Buffer.alloc(100, i)));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(peerInbox.length, 5);
  assert.ok(server.metrics.droppedBandwidth >= 25);
  await c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
  c.close();
});
