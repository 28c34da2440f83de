import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RtpDecodeError } from '../../../src/webrtc/sfu/rtp/errors.ts';
import {
  ExtForm,
  RtpView,
  absSendTimeToUs,
  buildRtp,
  parseRtp,
  readAbsSendTime,
  readAudioLevel,
  readSdesId,
  readVoiceActivity,
  rewriteCopy,
  rewriteInto,
  sdesIdEquals,
  setMarker,
  unwrapRtx,
  wrapRtx,
  writeAbsSendTime,
  writeTransportSeq,
} from '../../../src/webrtc/sfu/rtp/rtp-packet.ts';
import { SeqUnwrapper, seqDiff, seqNewer } from '../../../src/webrtc/sfu/rtp/seq.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof RtpDecodeError) return e.code;
    throw e;
  }
  return 'ok';
}

test('parses a Chromium-shaped VP8 packet with a one-byte extension block (hex vector)', () => {
  // V=2 X=1 CC=0, M=1 PT=96, seq 0x1234, ts 0xdeadbeef, ssrc 0x01020304,
  // 0xBEDE, 2 words = 8 bytes: 31 0102 (id 3, L=1: 2 bytes, twcc 0x0102) | 40 71 (id 4, 1 byte,
  // rid "q") | 00 00 00 (padding). Payload: 10 00 9d 01 2a.
  const pkt = hex('90e0 1234 deadbeef 01020304 bede0002 310102 4071 000000 1000 9d012a');
  const v = parseRtp(pkt);
  assert.equal(v.marker, true);
  assert.equal(v.payloadType, 96);
  assert.equal(v.sequenceNumber, 0x1234);
  assert.equal(v.timestamp, 0xdeadbeef);
  assert.equal(v.ssrc, 0x01020304);
  assert.equal(v.extForm, ExtForm.OneByte);
  assert.equal(v.payloadOffset, 24);
  assert.equal(v.payloadLength, 5);
  assert.equal(v.transportSeq(3), 0x0102);
  const r = v.findExtension(4);
  assert.equal(readSdesId(pkt, r, v.extValueLength), 'q');
  assert.ok(sdesIdEquals(pkt, r, v.extValueLength, 'q'));
  assert.ok(!sdesIdEquals(pkt, r, v.extValueLength, 'h'));
  assert.equal(v.findExtension(5), -1);
  assert.equal(v.transportSeq(5), -1);
  assert.deepEqual([...v.payload()], [0x10, 0x00, 0x9d, 0x01, 0x2a]);
});

test('two-byte extension form (0x100X), zero-length elements, CSRCs and padding', () => {
  const pkt = buildRtp({
    payloadType: 111,
    sequenceNumber: 65535,
    timestamp: 1,
    ssrc: 0xffffffff,
    csrcs: [7, 8],
    extensions: [
      [1, Buffer.from([0x8a])],
      [20, Buffer.alloc(0)],
      [200, Buffer.alloc(40, 9)],
    ],
    payload: Buffer.from('opus'),
    padding: 3,
  });
  const v = parseRtp(pkt);
  assert.equal(v.extForm, ExtForm.TwoByte);
  assert.equal(v.csrcCount, 2);
  assert.equal(v.csrc(1), 8);
  assert.equal(v.paddingLength, 3);
  assert.equal(v.payload().toString(), 'opus');
  const a = v.findExtension(1);
  assert.equal(readAudioLevel(pkt, a), 10);
  assert.equal(readVoiceActivity(pkt, a), true);
  assert.ok(v.findExtension(20) > 0);
  assert.equal(v.extValueLength, 0);
  assert.ok(v.findExtension(200) > 0);
  assert.equal(v.extValueLength, 40);
});

test('coded errors: short, version, CSRC overrun, extension overrun, bad padding, too large', () => {
  const ok = buildRtp({ payloadType: 96, sequenceNumber: 1, timestamp: 2, ssrc: 3, extensions: [[3, Buffer.from([0, 1])]], payload: Buffer.alloc(10) });
  assert.equal(code(() => parseRtp(ok)), 'ok');
  assert.equal(code(() => parseRtp(ok.subarray(0, 11))), 'short');
  const v1 = Buffer.from(ok);
  v1[0] = 0x50;
  assert.equal(code(() => parseRtp(v1)), 'version');
  const cc = Buffer.from(ok.subarray(0, 20));
  cc[0] = 0x8f;
  assert.equal(code(() => parseRtp(cc)), 'short');
  const extLen = Buffer.from(ok);
  extLen.writeUInt16BE(50, 14);
  assert.equal(code(() => parseRtp(extLen)), 'short');
  const elem = Buffer.from(ok);
  elem[16] = 0x3f; // id 3, 16 bytes, in a 4-byte block
  assert.equal(code(() => parseRtp(elem)), 'extension');
  const pad0 = Buffer.from(ok);
  pad0[0]! |= 0x20;
  pad0[pad0.length - 1] = 0;
  assert.equal(code(() => parseRtp(pad0)), 'padding');
  pad0[pad0.length - 1] = 200;
  assert.equal(code(() => parseRtp(pad0)), 'padding');
  assert.equal(code(() => parseRtp(Buffer.alloc(1501, 0x80))), 'tooLarge');
  assert.equal(code(() => parseRtp(Buffer.concat([ok, Buffer.alloc(1500)]), ok.length + 1500, { maxLength: 9000 })), 'ok');
  assert.equal(code(() => parseRtp(ok, ok.length + 1)), 'short');
  // One-byte id 15 stops processing (RFC 8285 §4.2): the rest is not looked at.
  const stop = buildRtp({ payloadType: 96, sequenceNumber: 1, timestamp: 2, ssrc: 3, extensions: [[3, Buffer.from([0, 1, 2])]] });
  stop[16] = 0xff;
  const sv = parseRtp(stop);
  assert.equal(sv.findExtension(3), -1);
});

test('rewrite writes a copy: the source is untouched, the fields are replaced, the rest equal', () => {
  const src = buildRtp({ payloadType: 96, sequenceNumber: 10, timestamp: 1000, ssrc: 1, marker: true, extensions: [[3, Buffer.from([0, 9])]], payload: Buffer.from('hello') });
  const before = Buffer.from(src);
  const out = rewriteCopy(src, src.length, 0xabcdef01, 0xfffe, 0xffffffff, 100, 16);
  assert.deepEqual(src, before);
  assert.equal(out.length, src.length + 16);
  const v = parseRtp(out, src.length);
  assert.equal(v.ssrc, 0xabcdef01);
  assert.equal(v.sequenceNumber, 0xfffe);
  assert.equal(v.timestamp, 0xffffffff);
  assert.equal(v.payloadType, 100);
  assert.equal(v.marker, true);
  assert.equal(v.transportSeq(3), 9);
  assert.equal(v.payload().toString(), 'hello');
  writeTransportSeq(out, v.findExtension(3), 0x4242);
  assert.equal(v.transportSeq(3), 0x4242);
  setMarker(out, false);
  assert.equal(v.marker, false);
  const slab = Buffer.alloc(100);
  assert.throws(() => rewriteInto(src, src.length, slab, 90, 1, 2, 3, 4), RangeError);
  assert.equal(rewriteInto(src, src.length, slab, 10, 1, 2, 3, 4), src.length);
});

test('abs-send-time: 6.18 fixed point', () => {
  const b = Buffer.alloc(3);
  writeAbsSendTime(b, 0, 1_500_000);
  assert.equal(readAbsSendTime(b, 0), 1.5 * 0x40000);
  assert.ok(Math.abs(absSendTimeToUs(readAbsSendTime(b, 0)) - 1_500_000) < 4);
  assert.throws(() => readSdesId(Buffer.from('a b'), 0, 3), RtpDecodeError);
  assert.throws(() => readSdesId(Buffer.from([0, 0]), 0, 2), RtpDecodeError);
  assert.equal(readSdesId(Buffer.from([0x66, 0, 0]), 0, 3), 'f');
});

test('RTX wrap/unwrap round trip (RFC 4588 §4: OSN first)', () => {
  const orig = buildRtp({ payloadType: 96, sequenceNumber: 4321, timestamp: 99, ssrc: 5, marker: true, extensions: [[3, Buffer.from([1, 2])]], payload: Buffer.from('frame-data'), padding: 4 });
  const rtx = wrapRtx(parseRtp(orig), 6, 97, 17);
  const rv = parseRtp(rtx);
  assert.equal(rv.ssrc, 6);
  assert.equal(rv.payloadType, 97);
  assert.equal(rv.sequenceNumber, 17);
  assert.equal(rv.paddingLength, 0);
  assert.equal(rv.payload().readUInt16BE(0), 4321);
  const back = parseRtp(unwrapRtx(rv, 5, 96));
  assert.equal(back.sequenceNumber, 4321);
  assert.equal(back.ssrc, 5);
  assert.equal(back.payloadType, 96);
  assert.equal(back.marker, true);
  assert.equal(back.transportSeq(3), 0x0102);
  assert.equal(back.payload().toString(), 'frame-data');
  assert.throws(() => unwrapRtx(parseRtp(buildRtp({ payloadType: 97, sequenceNumber: 1, timestamp: 1, ssrc: 1, payload: Buffer.from([1]) })), 5, 96), RtpDecodeError);
});

const extArb = fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 14 }), fc.uint8Array({ minLength: 1, maxLength: 16 })), { selector: (e) => e[0], maxLength: 6 });
const twoByteArb = fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 40 })), { selector: (e) => e[0], maxLength: 6 });

test('property: build → parse gives back every field and extension (both forms)', () => {
  fc.assert(
    fc.property(
      fc.record({
        payloadType: fc.integer({ min: 0, max: 127 }),
        sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
        timestamp: fc.integer({ min: 0, max: 0xffffffff }),
        ssrc: fc.integer({ min: 0, max: 0xffffffff }),
        marker: fc.boolean(),
        csrcs: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }),
        ext: fc.oneof(extArb, twoByteArb),
        payload: fc.uint8Array({ maxLength: 1000 }),
        padding: fc.integer({ min: 0, max: 255 }),
      }),
      (r) => {
        const extensions = r.ext.map(([id, v]) => [id, Buffer.from(v)] as const);
        const pkt = buildRtp({ ...r, extensions, payload: Buffer.from(r.payload) });
        if (pkt.length > 1500) return;
        const v = new RtpView().parse(pkt);
        assert.equal(v.payloadType, r.payloadType);
        assert.equal(v.sequenceNumber, r.sequenceNumber);
        assert.equal(v.timestamp, r.timestamp);
        assert.equal(v.ssrc, r.ssrc);
        assert.equal(v.marker, r.marker);
        assert.equal(v.csrcCount, r.csrcs.length);
        r.csrcs.forEach((c, i) => assert.equal(v.csrc(i), c));
        for (const [id, val] of extensions) {
          const off = v.findExtension(id);
          assert.ok(off > 0);
          assert.deepEqual(pkt.subarray(off, off + v.extValueLength), val);
        }
        assert.deepEqual(v.payload(), Buffer.from(r.payload));
        assert.equal(v.paddingLength, r.padding);
      },
    ),
    { numRuns: 500 },
  );
});

test('property: parse never throws anything but RtpDecodeError and never reads out of range', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const b = Buffer.from(bytes);
      if (b.length > 0) b[0] = (b[0]! & 0x3f) | 0x80;
      try {
        const v = parseRtp(b);
        assert.ok(v.payloadOffset + v.payloadLength + v.paddingLength === b.length);
        for (let id = 1; id < 16; id++) {
          const off = v.findExtension(id);
          if (off >= 0) assert.ok(off + v.extValueLength <= v.payloadOffset);
        }
      } catch (e) {
        if (!(e instanceof RtpDecodeError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});

test('sequence arithmetic across the wrap', () => {
  assert.equal(seqDiff(2, 65534), 4);
  assert.equal(seqDiff(65534, 2), -4);
  assert.ok(seqNewer(0, 65535));
  assert.ok(!seqNewer(65535, 0));
  assert.ok(!seqNewer(5, 5));
  const u = new SeqUnwrapper();
  const seq = [65530, 65535, 2, 1, 65534, 10, 30000, 60000, 5];
  const out = seq.map((s) => u.unwrap(s));
  assert.deepEqual(
    out.map((x) => x - out[0]!),
    [0, 5, 8, 7, 4, 16, 30006, 60006, 65547],
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 200 }), (start, steps) => {
      const uw = new SeqUnwrapper();
      let truth = start;
      let newest = start;
      const base = uw.unwrap(start) - start;
      for (const s of steps) {
        truth += s;
        newest = Math.max(newest, truth);
        if (newest - truth > 30000 || truth < -60000) return;
        assert.equal(uw.unwrap(truth & 0xffff) - base, truth);
      }
    }),
  );
});

test('rewriteWithExtensions: the subscriber’s extmap ids replace the publisher’s; CSRCs kept, padding dropped', async () => {
  const { ExtensionBlock, rewriteWithExtensions } = await import('../../../src/webrtc/sfu/rtp/index.ts');
  // Publisher: twcc on id 3, rid on id 10 (two-byte form forced by a 0-length element), CSRC, padding.
  const src = buildRtp({ payloadType: 96, sequenceNumber: 5, timestamp: 6, ssrc: 7, marker: true, csrcs: [42], extensions: [[3, Buffer.from([0, 9])], [10, Buffer.from('f')], [11, Buffer.alloc(0)]], payload: Buffer.from('vp8-bytes'), padding: 5 });
  const v = parseRtp(src);
  const ext = new ExtensionBlock();
  ext.clear().setU16(5, 0xbeef); // subscriber's twcc id 5, its own transport sequence
  const mid = v.findExtension(10);
  ext.set(1, src, mid, v.extValueLength); // subscriber's rid id 1
  const dst = Buffer.alloc(200);
  const n = rewriteWithExtensions(v, dst, 7, 100, 200, 300, 101, ext);
  const out = parseRtp(dst.subarray(7, 7 + n));
  assert.equal(out.ssrc, 100);
  assert.equal(out.sequenceNumber, 200);
  assert.equal(out.timestamp, 300);
  assert.equal(out.payloadType, 101);
  assert.equal(out.marker, true);
  assert.equal(out.csrc(0), 42);
  assert.equal(out.extForm, ExtForm.OneByte);
  assert.equal(out.transportSeq(5), 0xbeef);
  assert.equal(out.transportSeq(3), -1);
  assert.equal(readSdesId(out.buf, out.findExtension(1), out.extValueLength), 'f');
  assert.equal(out.paddingLength, 0);
  assert.equal(out.payload().toString(), 'vp8-bytes');
  // No extensions: the X bit is cleared.
  const bare = parseRtp(dst.subarray(0, rewriteWithExtensions(v, dst, 0, 1, 2, 3, 4, ext.clear())));
  assert.equal(bare.extForm, ExtForm.None);
  assert.equal(bare.payload().toString(), 'vp8-bytes');
  assert.throws(() => rewriteWithExtensions(v, Buffer.alloc(10), 0, 1, 2, 3, 4, ext), RangeError);
  assert.throws(() => ext.set(15, src, 0, 1), RangeError);
});
