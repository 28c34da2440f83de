import { test } from 'node:test';
import { createHmac } from 'node:crypto';
import assert from 'node:assert/strict';
import {
  AttrType,
  StunClass,
  StunDecodeError,
  StunMethod,
  decodeStunMessage,
  encodeStunMessage,
  decodeXorAddress,
  encodeXorAddress,
  decodeText,
  decodeErrorCode,
  encodeErrorCode,
  decodeUnknownAttributes,
  encodeUnknownAttributes,
  unknownComprehensionRequired,
  verifyIntegrity,
  verifyFingerprint,
  longTermKey,
  getAttribute,
  messageType,
  splitMessageType,
  newTransactionId,
  type DecodedStunMessage,
} from '../../src/webrtc/stun/index.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 5769 §2.1 sample request (short-term credential, padding bytes are 0x20 on purpose).
const RFC5769_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);
const RFC5769_PASSWORD = Buffer.from('VOkJxbRl1RmTxUk/WvJxBt');

// RFC 5769 §2.2 sample IPv4 response.
const RFC5769_RESPONSE_V4 = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);

// RFC 5769 §2.3 sample IPv6 response.
const RFC5769_RESPONSE_V6 = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);

// RFC 5769 §2.4 sample request with long-term authentication (zero padding).
const RFC5769_LONG_TERM = hex(`
  00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
  00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
  00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
  00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
  00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66`);

function throwsDecode(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof StunDecodeError && (!re || re.test(e.message)));
}

test('message type interleaves method and class bits (RFC 8489 §5)', () => {
  assert.equal(messageType(StunMethod.binding, StunClass.request), 0x0001);
  assert.equal(messageType(StunMethod.binding, StunClass.success), 0x0101);
  assert.equal(messageType(StunMethod.binding, StunClass.error), 0x0111);
  assert.equal(messageType(StunMethod.allocate, StunClass.request), 0x0003);
  assert.equal(messageType(StunMethod.send, StunClass.indication), 0x0016);
  assert.equal(messageType(StunMethod.data, StunClass.indication), 0x0017);
  for (let m = 0; m < 0x1000; m += 37) {
    for (const c of [0, 1, 2, 3] as const) assert.deepEqual(splitMessageType(messageType(m, c)), { method: m, cls: c });
  }
});

test('RFC 5769 §2.1 request: attributes, short-term integrity and fingerprint', () => {
  const msg = decodeStunMessage(RFC5769_REQUEST);
  assert.equal(msg.method, StunMethod.binding);
  assert.equal(msg.cls, StunClass.request);
  assert.equal(msg.transactionId.toString('hex'), 'b7e7a701bc34d686fa87dfae');
  assert.deepEqual(msg.attributes.map((a) => a.type), [0x8022, 0x0024, 0x8029, 0x0006, 0x0008, 0x8028]);
  assert.equal(decodeText(getAttribute(msg, AttrType.software)!.value, 'software'), 'STUN test client');
  assert.equal(decodeText(getAttribute(msg, AttrType.username)!.value, 'username'), 'evtj:h6vY');
  assert.equal(verifyIntegrity(msg, RFC5769_PASSWORD), true);
  assert.equal(verifyIntegrity(msg, Buffer.from('wrong')), false);
  assert.equal(verifyFingerprint(msg), true);
});

test('RFC 5769 §2.2 and §2.3 responses: XOR-MAPPED-ADDRESS IPv4 and IPv6', () => {
  const v4 = decodeStunMessage(RFC5769_RESPONSE_V4);
  assert.equal(v4.cls, StunClass.success);
  assert.deepEqual(decodeXorAddress(getAttribute(v4, AttrType.xorMappedAddress)!.value, v4.transactionId), { family: 4, address: '192.0.2.1', port: 32853 });
  assert.equal(verifyIntegrity(v4, RFC5769_PASSWORD), true);
  assert.equal(verifyFingerprint(v4), true);

  const v6 = decodeStunMessage(RFC5769_RESPONSE_V6);
  assert.deepEqual(decodeXorAddress(getAttribute(v6, AttrType.xorMappedAddress)!.value, v6.transactionId), {
    family: 6,
    address: '2001:db8:1234:5678:11:2233:4455:6677',
    port: 32853,
  });
  assert.equal(verifyIntegrity(v6, RFC5769_PASSWORD), true);
  assert.equal(verifyFingerprint(v6), true);

  // Encoding gives the vector's address bytes back.
  assert.deepEqual(
    encodeXorAddress({ family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }, v6.transactionId),
    getAttribute(v6, AttrType.xorMappedAddress)!.value,
  );
});

test('RFC 5769 §2.4 long-term credentials: key = MD5(user:realm:pass), encoder reproduces the bytes', () => {
  const msg = decodeStunMessage(RFC5769_LONG_TERM);
  const username = decodeText(getAttribute(msg, AttrType.username)!.value, 'username');
  assert.equal(username, '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9');
  const realm = decodeText(getAttribute(msg, AttrType.realm)!.value, 'realm');
  assert.equal(realm, 'example.org');
  // The RFC's password "The<U+00AD>M<U+00AA>tr<U+2168>" after SASLprep; we take prepared strings.
  const key = longTermKey(username, realm, 'TheMatrIX');
  assert.equal(verifyIntegrity(msg, key), true);
  const reencoded = encodeStunMessage(
    { method: msg.method, cls: msg.cls, transactionId: msg.transactionId, attributes: msg.attributes.filter((a) => a.type !== AttrType.messageIntegrity) },
    { integrityKey: key },
  );
  assert.deepEqual(reencoded, RFC5769_LONG_TERM);
});

test('a flipped bit breaks the fingerprint; a flipped bit before MESSAGE-INTEGRITY breaks it too', () => {
  const bad = Buffer.from(RFC5769_REQUEST);
  bad[bad.length - 1]! ^= 1;
  assert.equal(verifyFingerprint(decodeStunMessage(bad)), false);
  const bad2 = Buffer.from(RFC5769_REQUEST);
  bad2[30]! ^= 0x10; // inside SOFTWARE
  const m2 = decodeStunMessage(bad2);
  assert.equal(verifyIntegrity(m2, RFC5769_PASSWORD), false);
  assert.equal(verifyFingerprint(m2), false);
});

test('MESSAGE-INTEGRITY-SHA256: encode, verify, truncated variant, wrong key', () => {
  const key = longTermKey('user', 'realm', 'pass');
  const txid = newTransactionId();
  const raw = encodeStunMessage(
    { method: StunMethod.allocate, cls: StunClass.request, transactionId: txid, attributes: [{ type: AttrType.username, value: Buffer.from('user') }] },
    { integrityKey: key, integritySha256Key: key, fingerprint: true },
  );
  const msg = decodeStunMessage(raw);
  assert.deepEqual(msg.attributes.map((a) => a.type), [AttrType.username, AttrType.messageIntegrity, AttrType.messageIntegritySha256, AttrType.fingerprint]);
  assert.equal(verifyIntegrity(msg, key), true);
  assert.equal(verifyIntegrity(msg, longTermKey('user', 'realm', 'other')), false);
  assert.equal(verifyFingerprint(msg), true);

  // A 16-byte truncated SHA256 MAC (RFC 8489 §14.6) built by hand.
  const full = encodeStunMessage({ method: StunMethod.binding, cls: StunClass.request, transactionId: txid, attributes: [] }, { integritySha256Key: key });
  const truncated = Buffer.concat([full.subarray(0, 20), full.subarray(20, 24), full.subarray(24, 40)]);
  truncated.writeUInt16BE(20, 2);
  truncated.writeUInt16BE(16, 22);
  // The MAC was computed with length 36; recompute over the truncated header to get a valid one.
  const h = Buffer.from(truncated.subarray(0, 20));
  createHmac('sha256', key).update(h).digest().copy(truncated, 24, 0, 16);
  assert.equal(verifyIntegrity(decodeStunMessage(truncated), key), true);
});

test('attributes after MESSAGE-INTEGRITY are ignored except -SHA256 and FINGERPRINT (RFC 8489 §14.5)', () => {
  const key = Buffer.from('k');
  const base = encodeStunMessage({ method: 1, cls: 0, transactionId: newTransactionId(), attributes: [] }, { integrityKey: key });
  // Append a SOFTWARE attribute after MESSAGE-INTEGRITY.
  const tail = Buffer.from([0x80, 0x22, 0x00, 0x04, 0x61, 0x62, 0x63, 0x64]);
  const raw = Buffer.concat([base, tail]);
  raw.writeUInt16BE(raw.length - 20, 2);
  const msg = decodeStunMessage(raw);
  assert.deepEqual(msg.attributes.map((a) => a.type), [AttrType.messageIntegrity]);
  assert.equal(verifyIntegrity(msg, key), true);
});

test('decoder rejects truncated and malformed messages with StunDecodeError', () => {
  for (let n = 0; n < RFC5769_REQUEST.length; n++) throwsDecode(() => decodeStunMessage(RFC5769_REQUEST.subarray(0, n)));
  const cookie = Buffer.from(RFC5769_REQUEST);
  cookie[4] = 0;
  throwsDecode(() => decodeStunMessage(cookie), /magic cookie/);
  const lead = Buffer.from(RFC5769_REQUEST);
  lead[0] = 0x80;
  throwsDecode(() => decodeStunMessage(lead), /leading bits/);
  const odd = Buffer.from(RFC5769_REQUEST.subarray(0, 22));
  odd.writeUInt16BE(2, 2);
  throwsDecode(() => decodeStunMessage(odd), /multiple of 4/);
  const longer = Buffer.concat([RFC5769_REQUEST, Buffer.alloc(4)]);
  throwsDecode(() => decodeStunMessage(longer), /length field/);
  // An attribute whose length runs past the end.
  const past = hex('0001 0008 2112a442 000000000000000000000000 0006 0010 61626364');
  throwsDecode(() => decodeStunMessage(past), /past the message end/);
  // Attribute after FINGERPRINT.
  const afterFp = hex('0001 0010 2112a442 000000000000000000000000 8028 0004 00000000 8022 0000 00000000'.slice(0, -8));
  afterFp.writeUInt16BE(afterFp.length - 20, 2);
  throwsDecode(() => decodeStunMessage(afterFp), /after FINGERPRINT/);
  // MESSAGE-INTEGRITY of the wrong size.
  const shortMi = hex('0001 0008 2112a442 000000000000000000000000 0008 0004 00000000');
  throwsDecode(() => decodeStunMessage(shortMi), /MESSAGE-INTEGRITY length/);
  const badSha = hex('0001 0010 2112a442 000000000000000000000000 001c 000c 000000000000000000000000');
  throwsDecode(() => decodeStunMessage(badSha), /SHA256 length/);
});

test('typed attribute decoders check their lengths', () => {
  const txid = newTransactionId();
  throwsDecode(() => decodeXorAddress(Buffer.alloc(3), txid));
  throwsDecode(() => decodeXorAddress(Buffer.from([0, 3, 0, 0, 0, 0, 0, 0]), txid), /family/);
  throwsDecode(() => decodeXorAddress(Buffer.from([0, 1, 0, 0, 0, 0, 0, 0, 0]), txid), /8 bytes/);
  throwsDecode(() => decodeXorAddress(Buffer.alloc(8).fill(2, 1, 2), txid), /20 bytes/);
  throwsDecode(() => decodeErrorCode(Buffer.alloc(3)));
  throwsDecode(() => decodeErrorCode(Buffer.from([0, 0, 2, 0])), /out of range/);
  throwsDecode(() => decodeErrorCode(Buffer.from([0, 0, 4, 100])), /out of range/);
  throwsDecode(() => decodeUnknownAttributes(Buffer.alloc(3)), /odd/);
  throwsDecode(() => decodeText(Buffer.alloc(514), 'username'), /too long/);
});

test('ERROR-CODE and UNKNOWN-ATTRIBUTES round trip', () => {
  assert.deepEqual(decodeErrorCode(encodeErrorCode(420, 'Unknown Attribute')), { code: 420, reason: 'Unknown Attribute' });
  assert.deepEqual(encodeErrorCode(438, 'Stale Nonce').subarray(0, 4), Buffer.from([0, 0, 4, 38]));
  assert.deepEqual(decodeUnknownAttributes(encodeUnknownAttributes([0x1234, 0x0003])), [0x1234, 0x0003]);
  const msg = decodeStunMessage(
    encodeStunMessage({
      method: 1,
      cls: 0,
      transactionId: newTransactionId(),
      attributes: [
        { type: 0x0003, value: Buffer.alloc(4) },
        { type: 0x7fff, value: Buffer.alloc(0) },
        { type: 0x0003, value: Buffer.alloc(4) },
        { type: 0x8fff, value: Buffer.alloc(1) },
        { type: AttrType.username, value: Buffer.from('u') },
      ],
    }),
  );
  assert.deepEqual(unknownComprehensionRequired(msg, new Set([AttrType.username])), [0x0003, 0x7fff]);
});

test('XOR address round trip for assorted IPv4 and IPv6 forms', () => {
  const txid = newTransactionId();
  for (const address of ['0.0.0.0', '255.255.255.255', '127.0.0.1', '::', '::1', 'fe80::1', '2001:db8::', '1:2:3:4:5:6:7:8', '::ffff:1.2.3.4', '1::2:0:0:3']) {
    const fam = address.includes(':') ? 6 : 4;
    const got = decodeXorAddress(encodeXorAddress({ family: fam, address, port: 65535 }, txid), txid);
    assert.equal(got.port, 65535);
    assert.equal(got.family, fam);
  }
  assert.equal(decodeXorAddress(encodeXorAddress({ family: 6, address: '::ffff:1.2.3.4', port: 1 }, txid), txid).address, '::ffff:102:304');
  assert.equal(decodeXorAddress(encodeXorAddress({ family: 6, address: '1:0:0:2:0:0:0:3', port: 1 }, txid), txid).address, '1:0:0:2::3');
});

export function sameMessage(a: DecodedStunMessage, b: DecodedStunMessage): void {
  assert.equal(a.method, b.method);
  assert.equal(a.cls, b.cls);
  assert.deepEqual(a.transactionId, b.transactionId);
  assert.deepEqual(
    a.attributes.map((x) => [x.type, x.value.toString('hex')]),
    b.attributes.map((x) => [x.type, x.value.toString('hex')]),
  );
}
