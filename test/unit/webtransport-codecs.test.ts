import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CapsuleReader, CapsuleType, encodeCapsule, encodeCloseCapsule } from '../../src/transports/webtransport/capsules.ts';
import { H3Error, H3ErrorCode } from '../../src/transports/webtransport/errors.ts';
import { FrameReader, FrameType, decodeGoaway, encodeFrame, encodeGoaway, type FrameEvent } from '../../src/transports/webtransport/frames.ts';
import { MessageReader, frameMessage } from '../../src/transports/webtransport/framer.ts';
import { huffmanDecode, huffmanEncode } from '../../src/transports/webtransport/huffman.ts';
import { decodeFieldSection, encodeFieldSection } from '../../src/transports/webtransport/qpack.ts';
import { STATIC_TABLE } from '../../src/transports/webtransport/qpack-static.ts';
import { SettingId, decodeSettings, encodeSettingsPayload, peerWebTransport, serverSettings } from '../../src/transports/webtransport/settings.ts';
import { decodeDatagram, encodeDatagram } from '../../src/transports/webtransport/streams.ts';
import { encodeVarint, readVarint } from '../../src/transports/webtransport/varint.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const h3code = (kind: keyof typeof H3ErrorCode) => (err: unknown) => err instanceof H3Error && err.h3code === H3ErrorCode[kind];

test('varint: RFC 9000 §16 and Appendix A.1 examples', () => {
  assert.deepEqual(readVarint(hex('9d7f3e7d')), { value: 494878333, length: 4 });
  assert.deepEqual(readVarint(hex('7bbd')), { value: 15293, length: 2 });
  assert.deepEqual(readVarint(hex('25')), { value: 37, length: 1 });
  // "the two-byte sequence 0x40 0x25 also decodes to 37" (non-minimal forms are legal)
  assert.deepEqual(readVarint(hex('4025')), { value: 37, length: 2 });
  assert.equal(readVarint(hex('c2197c5eff14e8')), null, 'truncated 8-byte varint is incomplete, not an error');
  assert.equal(encodeVarint(494878333).toString('hex'), '9d7f3e7d');
  assert.equal(encodeVarint(15293).toString('hex'), '7bbd');
  assert.equal(encodeVarint(0x2b603742).toString('hex'), 'ab603742', 'ENABLE_WEBTRANSPORT_DRAFT02 fits 4 bytes');
  assert.equal(encodeVarint(0xc671706a).toString('hex'), 'c0000000c671706a');
  assert.throws(() => encodeVarint(-1), RangeError);
  fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (v) => {
    const e = encodeVarint(v);
    assert.deepEqual(readVarint(e), { value: v, length: e.length });
  }));
});

test('Huffman: RFC 7541 Appendix C.4 and C.6 vectors', () => {
  const vectors: Array<[string, string]> = [
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
    ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'],
    ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
    ['302', '6402'],
    ['private', 'aec3 771a 4b'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
    ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
  ];
  for (const [text, enc] of vectors) {
    assert.equal(huffmanDecode(hex(enc), 1000).toString('latin1'), text);
    assert.equal(huffmanEncode(Buffer.from(text)).toString('hex'), hex(enc).toString('hex'));
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    assert.deepEqual([...huffmanDecode(huffmanEncode(bytes), 1000)], [...bytes]);
  }));
});

test('Huffman: §5.2 padding rules and the output bound', () => {
  // 'a' is 00011 (5 bits): padding of 3 one-bits is fine, zero bits are not.
  assert.equal(huffmanDecode(Buffer.from([0b00011111]), 10).toString(), 'a');
  assert.throws(() => huffmanDecode(Buffer.from([0b00011000]), 10), h3code('qpackDecompressionFailed'));
  // A whole byte of padding (8 one-bits after a symbol boundary) is longer than 7 bits.
  assert.throws(() => huffmanDecode(Buffer.from([0b00011111, 0xff]), 10), h3code('qpackDecompressionFailed'));
  // EOS (30 one-bits) encoded explicitly.
  assert.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 10), h3code('qpackDecompressionFailed'));
  assert.throws(() => huffmanDecode(huffmanEncode(Buffer.from('aaaaaaaaaaaa')), 5), h3code('excessiveLoad'));
});

test('QPACK: static table is RFC 9204 Appendix A (99 entries)', () => {
  assert.equal(STATIC_TABLE.length, 99);
  assert.deepEqual(STATIC_TABLE[0], [':authority', '']);
  assert.deepEqual(STATIC_TABLE[15], [':method', 'CONNECT']);
  assert.deepEqual(STATIC_TABLE[25], [':status', '200']);
  assert.deepEqual(STATIC_TABLE[98], ['x-frame-options', 'sameorigin']);
});

test('QPACK: RFC 9204 B.1 literal with static name reference; Chromium-style CONNECT', () => {
  assert.deepEqual(decodeFieldSection(hex('0000 510b 2f69 6e64 6578 2e68 746d 6c')), [[':path', '/index.html']]);
  const connect: Array<[string, string]> = [
    [':method', 'CONNECT'],
    [':protocol', 'webtransport'],
    [':scheme', 'https'],
    [':authority', '127.0.0.1:4433'],
    [':path', '/connection/webtransport?codec=json'],
    ['origin', 'http://127.0.0.1:8000'],
    ['sec-webtransport-http3-draft02', '1'],
  ];
  const enc = encodeFieldSection(connect);
  assert.equal(enc[2], 0xc0 | 15, ':method CONNECT is static index 15');
  assert.deepEqual(decodeFieldSection(enc), connect);
  fc.assert(fc.property(fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 })), { maxLength: 20 }), (fields) => {
    const latin = fields.map(([n, v]) => [Buffer.from(n).toString('latin1'), Buffer.from(v).toString('latin1')] as [string, string]);
    assert.deepEqual(decodeFieldSection(encodeFieldSection(latin)), latin);
  }));
});

test('QPACK: dynamic references and bad input are QPACK_DECOMPRESSION_FAILED', () => {
  assert.throws(() => decodeFieldSection(hex('0200 80')), h3code('qpackDecompressionFailed'), 'Required Insert Count 2');
  assert.throws(() => decodeFieldSection(hex('0000 80')), h3code('qpackDecompressionFailed'), 'T=0 indexed line');
  assert.throws(() => decodeFieldSection(hex('0000 10')), h3code('qpackDecompressionFailed'), 'post-base index');
  assert.throws(() => decodeFieldSection(hex('0000 00')), h3code('qpackDecompressionFailed'), 'post-base name ref');
  assert.throws(() => decodeFieldSection(hex('0000 ff 7f')), h3code('qpackDecompressionFailed'), 'static index past 98');
  assert.throws(() => decodeFieldSection(hex('0000 510b 2f')), h3code('qpackDecompressionFailed'), 'truncated value');
  assert.throws(() => decodeFieldSection(hex('0000 ff ff ff ff ff 0f')), h3code('qpackDecompressionFailed'), 'integer overflow');
  const big = encodeFieldSection([['x-a', 'v'.repeat(5000)], ['x-b', 'v'.repeat(5000)]]);
  assert.throws(() => decodeFieldSection(big, { maxSectionBytes: 8000 }), h3code('excessiveLoad'));
});

test('frames: reader splits, buffers, streams DATA and skips unknown types at any chunking', () => {
  const wire = Buffer.concat([
    encodeFrame(0x21, Buffer.from('grease')), // reserved 0x1f*0+0x21
    encodeFrame(FrameType.headers, Buffer.from([1, 2, 3])),
    encodeFrame(FrameType.data, Buffer.from('hello')),
    encodeFrame(0x1f * 7 + 0x21, Buffer.alloc(300)),
    encodeFrame(FrameType.data, Buffer.alloc(0)),
    encodeGoaway(8),
  ]);
  for (const step of [1, 2, 3, 7, wire.length]) {
    const r = new FrameReader();
    const events: FrameEvent[] = [];
    for (let at = 0; at < wire.length; at += step) events.push(...r.push(wire.subarray(at, at + step)));
    const frames = events.filter((e) => e.kind === 'frame');
    assert.deepEqual(frames.map((f) => f.kind === 'frame' && f.type), [FrameType.headers, FrameType.goaway]);
    const data = Buffer.concat(events.flatMap((e) => (e.kind === 'data' ? [e.chunk] : [])));
    assert.equal(data.toString(), 'hello');
    const goaway = frames[1];
    assert.ok(goaway?.kind === 'frame');
    assert.equal(decodeGoaway(goaway.payload), 8);
    assert.ok(r.atBoundary);
  }
});

test('frames: HTTP/2-only types, oversize frames, bad GOAWAY, WEBTRANSPORT_STREAM signal', () => {
  for (const t of [0x02, 0x06, 0x08, 0x09]) assert.throws(() => new FrameReader().push(encodeFrame(t, Buffer.alloc(0))), h3code('frameUnexpected'));
  assert.throws(() => new FrameReader({ maxFrameBytes: 100 }).push(hex('01 4100')), h3code('excessiveLoad'));
  // The limit is checked from the header alone, before the payload is buffered.
  assert.throws(() => new FrameReader().push(hex('04 bfffffff')), h3code('excessiveLoad'));
  assert.throws(() => decodeGoaway(hex('08 00')), h3code('frameError'));
  const r = new FrameReader({ allowWebTransportSignal: true });
  assert.deepEqual(r.push(hex('40 41 00 68 69')).map((e) => e.kind === 'webtransport' && e.rest.toString('hex')), ['006869']);
  assert.ok(r.raw);
  assert.equal(new FrameReader().push(hex('01 00')).length, 1, 'without the option 0x41 is just an unknown frame type');
  const half = new FrameReader();
  half.push(hex('01 05 00'));
  assert.equal(half.atBoundary, false);
});

test('SETTINGS: round trip, duplicates, HTTP/2 settings, bad values, GREASE ignored', () => {
  const s = decodeSettings(encodeSettingsPayload(serverSettings(16384)));
  assert.equal(s.get(SettingId.enableWebTransportDraft02), 1);
  assert.equal(s.get(SettingId.h3Datagram), 1);
  assert.equal(s.get(SettingId.enableConnectProtocol), 1);
  assert.equal(s.get(SettingId.qpackMaxTableCapacity), 0);
  assert.deepEqual(peerWebTransport(s), { draft02: true, maxSessions: 0, datagrams: true, connectProtocol: true });
  const newer = decodeSettings(encodeSettingsPayload([[SettingId.wtMaxSessions, 4], [0x1f * 3 + 0x21, 99]]));
  assert.equal(peerWebTransport(newer).maxSessions, 4);
  assert.throws(() => decodeSettings(encodeSettingsPayload([[0x33, 1], [0x33, 1]])), h3code('settingsError'));
  for (const id of [2, 3, 4, 5]) assert.throws(() => decodeSettings(encodeSettingsPayload([[id, 0]])), h3code('settingsError'));
  assert.throws(() => decodeSettings(encodeSettingsPayload([[0x33, 2]])), h3code('settingsError'));
  assert.throws(() => decodeSettings(hex('33')), h3code('frameError'));
});

test('capsules: CLOSE and DRAIN decoded, unknown and GREASE skipped, limits', () => {
  const wire = Buffer.concat([
    encodeCapsule(0x29 * 0x1f + 0x17, Buffer.alloc(2000)), // an unknown capsule larger than the limit: skipped, not buffered
    encodeCapsule(CapsuleType.drainWebTransportSession, Buffer.alloc(0)),
    encodeCloseCapsule(3004, 'slow consumer'),
  ]);
  for (const step of [1, 5, wire.length]) {
    const r = new CapsuleReader(1024);
    const got = [];
    for (let at = 0; at < wire.length; at += step) got.push(...r.push(wire.subarray(at, at + step)));
    assert.deepEqual(got, [{ type: 'drain' }, { type: 'close', code: 3004, reason: 'slow consumer' }]);
    assert.ok(r.atBoundary);
  }
  assert.throws(() => new CapsuleReader().push(encodeCapsule(CapsuleType.closeWebTransportSession, Buffer.from([0, 0]))), h3code('messageError'));
  assert.throws(() => new CapsuleReader().push(encodeCapsule(CapsuleType.closeWebTransportSession, Buffer.from([0, 0, 0, 0, 0xc3, 0x28]))), h3code('messageError'));
  assert.throws(() => new CapsuleReader().push(encodeCapsule(CapsuleType.drainWebTransportSession, Buffer.from([1]))), h3code('messageError'));
  assert.throws(() => new CapsuleReader(100).push(hex('6843 4100')), h3code('messageError'));
  assert.equal(encodeCloseCapsule(1, 'é'.repeat(600)).length <= 2 + 2 + 4 + 1024, true);
});

test('datagrams: quarter stream ID prefix', () => {
  assert.equal(encodeDatagram(8, Buffer.from('x')).toString('hex'), '0278');
  assert.deepEqual(decodeDatagram(hex('0278')).map(String), ['8', 'x']);
  assert.throws(() => encodeDatagram(2, Buffer.alloc(0)), RangeError);
  assert.throws(() => decodeDatagram(hex('40')), H3Error);
});

test('message framer: length prefix, any chunking, size limit before buffering', () => {
  const msgs = [Buffer.from('{"t":"ping"}'), Buffer.alloc(0), Buffer.alloc(70000, 1)];
  const wire = Buffer.concat(msgs.map(frameMessage));
  for (const step of [1, 100, wire.length]) {
    const r = new MessageReader(1 << 20);
    const got: Buffer[] = [];
    for (let at = 0; at < wire.length; at += step) got.push(...r.push(wire.subarray(at, at + step)));
    assert.deepEqual(got, msgs);
  }
  assert.throws(() => new MessageReader(1000).push(hex('8000ffff')), (e: unknown) => e instanceof Error && /limit 1000/.test(e.message));
});
