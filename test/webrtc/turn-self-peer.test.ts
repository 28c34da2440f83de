// Issue 11 D2: the relay never reaches the TURN server's own listening endpoints, even with
// loopback (and private) peers allowed. Before the fix a Send indication carrying a Binding (or
// an Allocate) to the listening port made the relay socket a client of its own server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import {
  AttrType,
  StunClass,
  StunMethod,
  encodeChannelNumber,
  encodeStunMessage,
  encodeXorAddress,
  newTransactionId,
  type TransportAddress,
} from '../../src/webrtc/stun/index.ts';
import { TurnServer } from '../../src/webrtc/turn/index.ts';
import { TestClient, errorCode, udpTransport } from './helpers.ts';

after(() => TestClient.closeAll());

/** A request carrying XOR-PEER-ADDRESS (XOR'ed with its own transaction id) and credentials. */
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

const chan = (n: number) => ({ type: AttrType.channelNumber, value: encodeChannelNumber(n) });

test('CreatePermission, ChannelBind and Send to the server\'s own listening port are refused with loopback peers allowed', async () => {
  const server = new TurnServer({ listeningAddresses: ['127.0.0.1'], port: 0, users: { u: 'p' }, allowLoopbackPeers: true });
  const [b] = await server.listen();
  const self: TransportAddress = { family: 4, address: '127.0.0.1', port: b!.port };
  const peer: Socket = createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  try {
    const c = await TestClient.udp({ address: '127.0.0.1', port: b!.port });
    const alloc = await c.authed(StunMethod.allocate, [udpTransport], 'u', 'p');
    assert.equal(alloc.cls, StunClass.success);

    assert.equal(errorCode(await withPeer(c, StunMethod.createPermission, self)), 403, 'CreatePermission to the listening port');
    assert.equal(errorCode(await withPeer(c, StunMethod.channelBind, self, [chan(0x4000)])), 403, 'ChannelBind to the listening port');
    // Loopback peers on other ports still work (the option is honoured).
    const other: TransportAddress = { family: 4, address: '127.0.0.1', port: peer.address().port };
    assert.equal((await withPeer(c, StunMethod.createPermission, other)).cls, StunClass.success);
    assert.equal((await withPeer(c, StunMethod.channelBind, other, [chan(0x4001)])).cls, StunClass.success);

    // The permission for 127.0.0.1 (IP-only, RFC 8656 §9) now covers the listening port; a Send
    // there must still be dropped. The payload is a Binding request: relayed, the server would
    // answer the relay socket, which would pass the answer back as a Data indication.
    const bindingsBefore = server.metrics.bindingRequests;
    const deniedBefore = server.metrics.peerDenied;
    sendIndication(c, self, encodeStunMessage({ method: StunMethod.binding, cls: StunClass.request, transactionId: newTransactionId(), attributes: [] }));
    assert.equal(await c.next(300), undefined, 'no Data indication: nothing reached the listening port');
    assert.equal(server.metrics.bindingRequests, bindingsBefore, 'the server never saw the relayed Binding');
    assert.equal(server.metrics.peerDenied, deniedBefore + 1);
    c.close();
  } finally {
    peer.close();
    await server.close();
  }
});

test('a wildcard listener refuses every local interface address and all of 127/8 on its port', async () => {
  const server = new TurnServer({ listeningAddresses: ['0.0.0.0'], port: 0, users: { u: 'p' }, allowLoopbackPeers: true, allowPrivatePeers: true, relayAddresses: ['127.0.0.1'] });
  const [b] = await server.listen();
  try {
    const c = await TestClient.udp({ address: '127.0.0.1', port: b!.port });
    assert.equal((await c.authed(StunMethod.allocate, [udpTransport], 'u', 'p')).cls, StunClass.success);
    const locals = ['127.0.0.1', '127.0.0.2', '127.255.255.254'];
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4') locals.push(i.address);
    for (const address of locals) {
      assert.equal(errorCode(await withPeer(c, StunMethod.createPermission, { family: 4, address, port: b!.port })), 403, address);
      // The same address on another port is an ordinary (allowed) peer.
      assert.equal((await withPeer(c, StunMethod.createPermission, { family: 4, address, port: b!.port === 65535 ? 1 : b!.port + 1 })).cls, StunClass.success, address);
    }
    c.close();
  } finally {
    await server.close();
  }
});
