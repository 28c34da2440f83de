// Issue 11 C2: TURN over TCP writes are bounded. A TCP client that stops reading while a UDP peer
// floods its allocation must not grow the server: relayed data (Data indications and ChannelData)
// is dropped at `tcpBufferBytes`, a STUN response that would not fit closes the connection, and the
// server keeps answering others meanwhile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import {
  AttrType,
  StunClass,
  StunMethod,
  decodeXorAddress,
  encodeChannelNumber,
  encodeStunMessage,
  encodeXorAddress,
  getAttribute,
  newTransactionId,
  type TransportAddress,
} from '../../src/webrtc/stun/index.ts';
import { TurnServer, defaultTurnOptions } from '../../src/webrtc/turn/index.ts';
import { TestClient, errorCode, udpTransport, type Endpoint } from './helpers.ts';

const LIMIT = 32 * 1024;
let server: TurnServer;
let ep: Endpoint;
const peers: Socket[] = [];

before(async () => {
  server = new TurnServer({ listeningAddresses: ['127.0.0.1'], port: 0, users: { u: 'p' }, allowLoopbackPeers: true, tcpBufferBytes: LIMIT, maxBytesPerSecond: 0 });
  const [b] = await server.listen();
  ep = { address: b!.address, port: b!.port };
});

after(async () => {
  TestClient.closeAll();
  for (const p of peers) p.close();
  await server.close();
});

async function udpPeer(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  peers.push(s);
  return s;
}

async function withPeer(c: TestClient, method: number, to: TransportAddress, extra: { type: number; value: Buffer }[] = []) {
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

const binding = () => encodeStunMessage({ method: StunMethod.binding, cls: StunClass.request, transactionId: newTransactionId(), attributes: [] });

test('defaults: a per-connection TCP buffer limit and a per-allocation bandwidth limit are on', () => {
  const d = defaultTurnOptions();
  assert.equal(d.tcpBufferBytes, 256 * 1024);
  assert.ok(d.maxBytesPerSecond > 0, 'allocations have a bandwidth limit by default');
});

test('a TCP client that stops reading: relayed data is dropped at the limit, a response past it closes the connection', async () => {
  const c = await TestClient.tcp(ep);
  const res = await c.authed(StunMethod.allocate, [udpTransport], 'u', 'p');
  assert.equal(res.cls, StunClass.success, `allocate: ${errorCode(res)}`);
  const relay = decodeXorAddress(getAttribute(res, AttrType.xorRelayedAddress)!.value, res.transactionId);
  // Peer A reaches the client as Data indications, peer B as ChannelData.
  const a = await udpPeer();
  const b = await udpPeer();
  const addr = (s: Socket): TransportAddress => ({ family: 4, address: '127.0.0.1', port: s.address().port });
  assert.equal((await withPeer(c, StunMethod.createPermission, addr(a))).cls, StunClass.success);
  assert.equal((await withPeer(c, StunMethod.channelBind, addr(b), [{ type: AttrType.channelNumber, value: encodeChannelNumber(0x4000) }])).cls, StunClass.success);

  c.pause();
  const probe = await TestClient.udp(ep);
  const payload = Buffer.alloc(1200, 0x5a);
  const dropsBefore = server.metrics.droppedBackpressure;
  let maxBuffered = 0;
  let relayed = 0;
  const deadline = Date.now() + 15_000;
  // Flood until the kernel buffers are full and the server has dropped plenty at the limit.
  while (server.metrics.droppedBackpressure - dropsBefore < 2000 && Date.now() < deadline) {
    for (let i = 0; i < 100; i++) {
      a.send(payload, relay.port, relay.address);
      b.send(payload, relay.port, relay.address);
    }
    relayed += 200;
    await new Promise((r) => setImmediate(r));
    for (const t of server.tcpBuffers()) maxBuffered = Math.max(maxBuffered, t.bufferedBytes);
  }
  const dropped = server.metrics.droppedBackpressure - dropsBefore;
  assert.ok(dropped >= 2000, `data dropped at the limit (${dropped} of ${relayed} sent)`);
  assert.ok(maxBuffered <= LIMIT, `buffered ${maxBuffered} <= ${LIMIT}`);
  assert.ok(maxBuffered > LIMIT - 2 * 1300, `the buffer did fill up to the limit (${maxBuffered})`);
  // Responsive meanwhile (2 s allows for a loaded CI machine; a server stuck writing would not answer at all).
  probe.send(binding());
  assert.ok(await probe.next(2000), 'a Binding over UDP is answered during the flood');

  // Control past the limit: the client keeps sending requests but reads nothing; the responses
  // fill the little room left, then the server closes the connection (and the allocation).
  const before = server.metrics.tcpOverflowCloses;
  for (let i = 0; i < 2000; i++) c.send(binding());
  const until = Date.now() + 5000;
  while (server.metrics.tcpOverflowCloses === before && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.equal(server.metrics.tcpOverflowCloses, before + 1, 'closed once for overflow');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.tcpBuffers().length, 0, 'the connection is gone');
  assert.equal(server.metrics.allocationsActive, 0, 'and its allocation with it (RFC 8656 §3.1)');
  probe.close();
  c.close();
});
