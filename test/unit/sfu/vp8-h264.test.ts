import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RtpDecodeError } from '../../../src/webrtc/sfu/rtp/errors.ts';
import { H264Info, h264PacketInfo, isH264Keyframe, packetizationModeOf } from '../../../src/webrtc/sfu/rtp/h264.ts';
import { isVp8Keyframe as forwarderIsKeyframe } from '../../../src/webrtc/sfu/forwarder.ts';
import { Vp8Descriptor, Vp8Munger, isVp8Keyframe, parseVp8Descriptor } from '../../../src/webrtc/sfu/rtp/vp8.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('VP8 descriptor hex vectors (RFC 7741 §4.2): Chromium-style X|I(M)|L|T, 7-bit, minimal', () => {
  // 90: X=1 S=1 PID 0; e0: I L T; 81 23: 15-bit picture ID 0x0123; 05: TL0PICIDX; 40: TID 1 Y 0; then 9c (P=0 → keyframe).
  const d = parseVp8Descriptor(hex('90 e0 8123 05 40 9c 01 2a'));
  assert.equal(d.start, true);
  assert.equal(d.partitionId, 0);
  assert.equal(d.pictureId, 0x123);
  assert.equal(d.pictureIdBits, 15);
  assert.equal(d.pictureIdOffset, 2);
  assert.equal(d.tl0PicIdx, 5);
  assert.equal(d.tl0PicIdxOffset, 4);
  assert.equal(d.tid, 1);
  assert.equal(d.keyIdx, -1);
  assert.equal(d.length, 6);
  assert.equal(d.keyframe, true);
  // 7-bit picture ID, K only: b0 = 0x80|0x20 (N) ; x = 0x90 (I, K); pid 0x33; tk 0x1f (KEYIDX 31); payload 0x01 (P=1).
  const e = parseVp8Descriptor(hex('a0 90 33 1f 01'));
  assert.equal(e.nonReference, true);
  assert.equal(e.start, false);
  assert.equal(e.pictureId, 0x33);
  assert.equal(e.pictureIdBits, 7);
  assert.equal(e.keyIdx, 31);
  assert.equal(e.tid, -1);
  assert.equal(e.keyframe, false);
  const m = parseVp8Descriptor(hex('10 00'));
  assert.equal(m.length, 1);
  assert.equal(m.keyframe, true);
  assert.equal(parseVp8Descriptor(hex('10 01')).keyframe, false); // P = 1: interframe
  assert.equal(parseVp8Descriptor(hex('11 00')).keyframe, false); // PID 1
  assert.equal(parseVp8Descriptor(hex('00 00')).keyframe, false); // S = 0
  for (const bad of ['', '80', '90 80', '90 80 81', '90 40', '90 20', '90 e0 8123 05 40', '10']) {
    assert.throws(() => parseVp8Descriptor(hex(bad)), RtpDecodeError, bad);
    assert.equal(isVp8Keyframe(hex(bad)), false);
  }
});

test('property: isVp8Keyframe agrees with the forwarder.ts version on arbitrary payloads', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 10 }), (a) => {
      const b = Buffer.from(a);
      assert.equal(isVp8Keyframe(b), forwarderIsKeyframe(b));
    }),
    { numRuns: 5000 },
  );
});

/** A VP8 payload with a 15-bit picture ID, TL0PICIDX and TID. */
function vp8(pid: number, tl0: number, tid: number, key: boolean, bits: 7 | 15 = 15): Buffer {
  const pidBytes = bits === 15 ? [0x80 | (pid >> 8), pid & 0xff] : [pid & 0x7f];
  return Buffer.from([0x90, 0xe0, ...pidBytes, tl0, tid << 6, key ? 0x00 : 0x01, 0xaa]);
}

test('munger: picture ID and TL0PICIDX continue across a layer switch, width kept, source untouched', () => {
  const m = new Vp8Munger();
  const d = new Vp8Descriptor();
  const out: Array<[number, number]> = [];
  const send = (p: Buffer, switching = false) => {
    d.parse(p, 0, p.length);
    const copy = Buffer.from(p);
    m.rewrite(copy, 0, d, switching);
    const o = parseVp8Descriptor(copy);
    assert.equal(o.pictureIdBits, d.pictureIdBits);
    assert.equal(copy.length, p.length);
    out.push([o.pictureId, o.tl0PicIdx]);
  };
  // Layer q: pictures 32766, 32767, 0 (wrap) with tl0 254, 255, 0.
  send(vp8(32766, 254, 0, true));
  send(vp8(32767, 255, 0, false));
  send(vp8(0, 0, 0, false));
  // Switch to layer f (its own counters: picture 9000, tl0 77) on a keyframe.
  const src = vp8(9000, 77, 0, true);
  const before = Buffer.from(src);
  send(src, true);
  assert.deepEqual(src, before);
  send(vp8(9001, 77, 1, false));
  send(vp8(9002, 78, 0, false));
  assert.deepEqual(out, [
    [32766, 254],
    [32767, 255],
    [0, 0],
    [1, 1],
    [2, 1],
    [3, 2],
  ]);
  // Switch to a layer with a 7-bit picture ID: the field stays 1 byte, the low 7 bits continue.
  send(vp8(100, 3, 0, true, 7), true);
  assert.deepEqual(out.at(-1), [4, 3]);
  assert.equal(m.lastPictureId, 4);
  assert.equal(m.lastTl0PicIdx, 3);
});

test('property: across any sequence of switches the output picture IDs never go backwards and step by the input steps', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ start: fc.integer({ min: 0, max: 0x7fff }), frames: fc.integer({ min: 1, max: 30 }) }), { minLength: 1, maxLength: 8 }), (layers) => {
      const m = new Vp8Munger();
      const d = new Vp8Descriptor();
      let expect = -1;
      for (const L of layers) {
        for (let f = 0; f < L.frames; f++) {
          const p = vp8((L.start + f) & 0x7fff, 0, 0, f === 0);
          d.parse(p, 0, p.length);
          m.rewrite(p, 0, d, f === 0);
          const got = parseVp8Descriptor(p).pictureId;
          if (expect >= 0) assert.equal(got, (expect + 1) & 0x7fff);
          expect = got;
        }
      }
    }),
  );
});

test('H264: single NAL, STAP-A with SPS/PPS/IDR, FU-A start/middle, modes', () => {
  const idr = hex('65 88 84');
  assert.equal(h264PacketInfo(idr, 0, idr.length), H264Info.nalStart | H264Info.idr | H264Info.keyframe);
  assert.equal(isH264Keyframe(hex('41 9a')), false); // non-IDR slice
  assert.equal(isH264Keyframe(hex('67 42 00 1f'), 0, 4, 0), true); // SPS alone, mode 0 fine
  // STAP-A: SPS (4 bytes) + PPS (2 bytes).
  const stap = hex('78 0004 6742001f 0002 68ce');
  assert.equal(h264PacketInfo(stap, 0, stap.length), H264Info.nalStart | H264Info.sps | H264Info.pps | H264Info.keyframe);
  assert.equal(isH264Keyframe(hex('78 0002 41aa')), false);
  // FU-A: indicator 7c (NRI 3, type 28), header 85 (S, type 5) / 05 (middle) / 45 (end).
  assert.equal(isH264Keyframe(hex('7c 85 aa')), true);
  assert.equal(h264PacketInfo(hex('7c 05 aa'), 0, 3), H264Info.idr);
  assert.equal(isH264Keyframe(hex('7c 45 aa')), false);
  assert.equal(isH264Keyframe(hex('7c 81 aa')), false); // FU-A start of a non-IDR slice
  const code = (b: Buffer, mode: 0 | 1 = 1) => {
    try {
      h264PacketInfo(b, 0, b.length, mode);
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof RtpDecodeError);
      return e.code;
    }
  };
  assert.equal(code(stap, 0), 'codec');
  assert.equal(code(hex('7c 85 aa'), 0), 'codec');
  assert.equal(code(hex('78 0009 6742')), 'short');
  assert.equal(code(hex('78 0000')), 'short');
  assert.equal(code(hex('78')), 'short');
  assert.equal(code(hex('78 00')), 'short');
  assert.equal(code(hex('7c 85')), 'short');
  assert.equal(code(hex('7c c5 aa')), 'codec'); // S and E
  assert.equal(code(hex('e5 00')), 'codec'); // F bit
  assert.equal(code(hex('79 00')), 'codec'); // STAP-B
  assert.equal(code(hex('7d 00 00')), 'codec'); // FU-B
  assert.equal(code(hex('60')), 'codec'); // type 0
  assert.equal(code(Buffer.alloc(0)), 'short');
  assert.equal(packetizationModeOf('profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1'), 1);
  assert.equal(packetizationModeOf('profile-level-id=42e01f'), 0);
  assert.equal(packetizationModeOf('packetization-mode=2'), null);
});

test('property: H264 and VP8 parsers throw only RtpDecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.constantFrom<0 | 1>(0, 1), (a, mode) => {
      const b = Buffer.from(a);
      for (const fn of [() => h264PacketInfo(b, 0, b.length, mode), () => parseVp8Descriptor(b)]) {
        try {
          fn();
        } catch (e) {
          if (!(e instanceof RtpDecodeError)) throw e;
        }
      }
    }),
    { numRuns: 3000 },
  );
});

test('munger: pictures of a dropped temporal layer leave no picture ID gap (skip), packets of one picture share an ID', () => {
  const m = new Vp8Munger();
  const d = new Vp8Descriptor();
  const tids = [0, 2, 1, 2, 0, 2, 1, 2, 0];
  const out: number[] = [];
  tids.forEach((tid, f) => {
    for (let part = 0; part < 2; part++) {
      // Two packets per picture; picture IDs from 32760 so the 15-bit wrap is crossed.
      const p = vp8((32760 + f) & 0x7fff, 10 + Math.floor(f / 4), tid, f === 0 && part === 0);
      d.parse(p, 0, p.length);
      if (tid === 2) {
        m.skip(d);
        continue;
      }
      m.rewrite(p, 0, d);
      out.push(parseVp8Descriptor(p).pictureId);
    }
  });
  assert.deepEqual(out, [32760, 32760, 32761, 32761, 32762, 32762, 32763, 32763, 32764, 32764]);
  // A switch after skips still continues from the last one written.
  const k = vp8(500, 1, 0, true);
  d.parse(k, 0, k.length);
  m.rewrite(k, 0, d, true);
  assert.equal(parseVp8Descriptor(k).pictureId, 32765);
});
