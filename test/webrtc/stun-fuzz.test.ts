// Property tests for the STUN/ChannelData decoders: decode -> encode -> decode is stable, and no
// byte string makes a decoder throw anything but StunDecodeError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AttrType,
  StreamFramer,
  StunDecodeError,
  decodeChannelData,
  decodeErrorCode,
  decodeStunMessage,
  decodeUnknownAttributes,
  decodeXorAddress,
  decodeLifetime,
  decodeEvenPort,
  decodeText,
  encodeStunMessage,
  verifyFingerprint,
  verifyIntegrity,
  type DecodedStunMessage,
} from '../../src/webrtc/stun/index.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

function sameMessage(a: DecodedStunMessage, b: DecodedStunMessage): void {
  assert.equal(a.method, b.method);
  assert.equal(a.cls, b.cls);
  assert.deepEqual(a.transactionId, b.transactionId);
  assert.deepEqual(
    a.attributes.map((x) => [x.type, x.value.toString('hex')]),
    b.attributes.map((x) => [x.type, x.value.toString('hex')]),
  );
}

/** Only StunDecodeError may escape; anything else is a decoder bug. */
function onlyDecodeErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof StunDecodeError)) throw e;
  }
}

const attribute = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 0xffff }).filter((t) => t !== AttrType.messageIntegrity && t !== AttrType.messageIntegritySha256 && t !== AttrType.fingerprint), value: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ type: fc.constant(AttrType.messageIntegrity), value: fc.uint8Array({ minLength: 20, maxLength: 20 }) }),
  fc.record({ type: fc.constant(AttrType.messageIntegritySha256), value: fc.constantFrom(16, 20, 24, 28, 32).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })) }),
  fc.record({ type: fc.constant(AttrType.fingerprint), value: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
);

const message = fc.record({
  method: fc.integer({ min: 0, max: 0xfff }),
  cls: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
  transactionId: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  attributes: fc.array(attribute, { maxLength: 8 }),
});

test('structured messages: encode -> decode -> encode -> decode is stable', () => {
  fc.assert(
    fc.property(message, (m) => {
      const init = {
        method: m.method,
        cls: m.cls,
        transactionId: Buffer.from(m.transactionId),
        attributes: m.attributes.map((a) => ({ type: a.type, value: Buffer.from(a.value) })),
      };
      const raw = encodeStunMessage(init);
      let first: DecodedStunMessage;
      try {
        first = decodeStunMessage(raw);
      } catch (e) {
        // Only "something after FINGERPRINT" may make a well-framed message invalid.
        assert.ok(e instanceof StunDecodeError && /after FINGERPRINT/.test(e.message), String(e));
        return;
      }
      const second = decodeStunMessage(encodeStunMessage(first));
      sameMessage(first, second);
      assert.equal(first.method, m.method);
      assert.equal(first.cls, m.cls);
    }),
    { numRuns: RUNS },
  );
});

test('messages with integrity and fingerprint keep verifying after a round trip', () => {
  fc.assert(
    fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 32 }), (m, key) => {
      const attributes = m.attributes
        .filter((a) => a.type !== AttrType.messageIntegrity && a.type !== AttrType.messageIntegritySha256 && a.type !== AttrType.fingerprint)
        .map((a) => ({ type: a.type, value: Buffer.from(a.value) }));
      const k = Buffer.from(key);
      const raw = encodeStunMessage({ method: m.method, cls: m.cls, transactionId: Buffer.from(m.transactionId), attributes }, { integrityKey: k, fingerprint: true });
      const first = decodeStunMessage(raw);
      assert.ok(verifyIntegrity(first, k));
      assert.ok(verifyFingerprint(first));
      const again = decodeStunMessage(encodeStunMessage(first));
      sameMessage(first, again);
      assert.deepEqual(encodeStunMessage(first), raw);
    }),
    { numRuns: RUNS / 2 },
  );
});

test('random bytes: decode -> encode -> decode when they decode; only StunDecodeError otherwise', () => {
  // Bias towards things that get past the header: a valid header glued to random attribute bytes.
  const headerish = fc.tuple(fc.integer({ min: 0, max: 0x3fff }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 96 })).map(([type, txid, body]) => {
    const b = Buffer.alloc(20 + body.length);
    b.writeUInt16BE(type, 0);
    b.writeUInt16BE(body.length, 2);
    b.writeUInt32BE(0x2112a442, 4);
    Buffer.from(txid).copy(b, 8);
    Buffer.from(body).copy(b, 20);
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 128 }).map((u) => Buffer.from(u)), headerish), (bytes) => {
      let first: DecodedStunMessage | undefined;
      onlyDecodeErrors(() => {
        first = decodeStunMessage(bytes);
      });
      if (!first) return;
      sameMessage(first, decodeStunMessage(encodeStunMessage(first)));
      onlyDecodeErrors(() => verifyFingerprint(first!));
      verifyIntegrity(first, Buffer.from('key'));
      const txid = first.transactionId;
      for (const a of first.attributes) {
        onlyDecodeErrors(() => decodeXorAddress(a.value, txid));
        onlyDecodeErrors(() => decodeErrorCode(a.value));
        onlyDecodeErrors(() => decodeUnknownAttributes(a.value));
        onlyDecodeErrors(() => decodeLifetime(a.value));
        onlyDecodeErrors(() => decodeEvenPort(a.value));
        onlyDecodeErrors(() => decodeText(a.value, 'realm'));
      }
    }),
    { numRuns: RUNS * 2 },
  );
});

test('random bytes into ChannelData decoder and the stream framer: only StunDecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 6 }), (u, cuts) => {
      const bytes = Buffer.from(u);
      onlyDecodeErrors(() => decodeChannelData(bytes));
      const framer = new StreamFramer(256);
      onlyDecodeErrors(() => {
        let at = 0;
        for (const c of [...cuts, bytes.length]) {
          for (const f of framer.push(bytes.subarray(at, at + c))) {
            onlyDecodeErrors(() => ((f[0]! & 0xc0) === 0 ? decodeStunMessage(f) : decodeChannelData(f)));
          }
          at += c;
        }
      });
    }),
    { numRuns: RUNS },
  );
});
