import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RtcpPacketConverter, type RtcpTransportLayerFeedback, type TransportWideCC } from 'werift';
import { RtpDecodeError } from '../../../src/webrtc/sfu/rtp/errors.ts';
import {
  buildBye,
  buildFir,
  buildNack,
  buildPli,
  buildRemb,
  buildRr,
  buildSdes,
  buildSr,
  buildTransportCc,
  isRtcp,
  ntpMiddle,
  parseRtcp,
  serializeRtcp,
  type Nack,
  type RtcpPacket,
  type TransportCc,
} from '../../../src/webrtc/sfu/rtp/rtcp.ts';

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

test('hex vectors: SR with one block + SDES CNAME compound; PLI; FIR; REMB', () => {
  const sr = hex(
    '81c8000c 11223344 e1234567 80000000 00015f90 0000000a 00000fa0' + // SR, 1 block, ntp, rtp ts 90000, 10 packets, 4000 octets
      '55667788 19fffffe 0001ffff 00000020 12345678 00010000', // block: 25/256, −2 lost, ext highest 0x1ffff, jitter 32
  );
  const sdes = hex('81ca0003 11223344 0104 61626364 0000'); // CNAME "abcd" + end + pad
  const [a, b] = parseRtcp(Buffer.concat([sr, sdes]));
  assert.equal(a?.type, 'sr');
  if (a?.type !== 'sr') return;
  assert.equal(a.ssrc, 0x11223344);
  assert.equal(a.rtpTimestamp, 90000);
  assert.equal(a.packetCount, 10);
  assert.equal(a.octetCount, 4000);
  assert.deepEqual(a.reports, [{ ssrc: 0x55667788, fractionLost: 25, packetsLost: -2, highestSeq: 0x1ffff, jitter: 32, lsr: 0x12345678, dlsr: 0x10000 }]);
  assert.equal(ntpMiddle(a.ntpSec, a.ntpFrac), 0x45678000);
  assert.deepEqual(b, { type: 'sdes', chunks: [{ ssrc: 0x11223344, cname: 'abcd' }] });
  assert.deepEqual(parseRtcp(hex('81ce0002 00000001 00000002')), [{ type: 'pli', senderSsrc: 1, mediaSsrc: 2 }]);
  assert.deepEqual(parseRtcp(hex('84ce0004 00000001 00000000 0000000a 07000000')), [{ type: 'fir', senderSsrc: 1, entries: [{ ssrc: 10, seqNr: 7 }] }]);
  // REMB: exp 3, mantissa 0x2_0000 → 131072 × 8 = 1,048,576 bit/s, 1 SSRC.
  assert.deepEqual(parseRtcp(hex('8fce0005 00000001 00000000 52454d42 010e0000 0000abcd')), [{ type: 'remb', senderSsrc: 1, bitrate: 1048576, ssrcs: [0xabcd] }]);
  assert.ok(isRtcp(sr));
  assert.ok(!isRtcp(hex('80600001')));
});

test('NACK: PID/BLP expand (RFC 4585 §6.2.1) and build from a list across the wrap', () => {
  // PID 65534, BLP 0b101 → 65534, 65535, 1 (bits 0 and 2: +1 and +3).
  const p = parseRtcp(hex('81cd0003 00000001 00000002 fffe0005'));
  assert.deepEqual(p, [{ type: 'nack', senderSsrc: 1, mediaSsrc: 2, lost: [65534, 65535, 1] }]);
  const lost = [65530, 3, 65535, 65530, 20, 21, 40];
  const back = parseRtcp(buildNack(9, 8, lost))[0] as Nack;
  assert.deepEqual(back.lost, [65530, 65535, 3, 20, 21, 40]);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uniqueArray(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 300 }), (start, offs) => {
      const seqs = offs.map((o) => (start + o) & 0xffff);
      const got = (parseRtcp(buildNack(1, 2, seqs), { maxLength: 4000 })[0] as Nack).lost;
      const want = [...offs].sort((x, y) => x - y).map((o) => (start + o) & 0xffff);
      // buildNack orders relative to the first entry: equal as sets, and ascending from the oldest when the first is the oldest.
      assert.deepEqual([...got].sort((x, y) => x - y), [...want].sort((x, y) => x - y));
    }),
  );
});

test('TWCC hex vector: run-length, 1-bit and 2-bit vector chunks, small and large deltas', () => {
  // base 0xfffe, 10 statuses, ref time 0x000102, count 7;
  // chunk1: run-length, symbol 1, run 3        = 0 01 0000000000011 = 0x2003
  // chunk2: 1-bit vector 0 1 1 0 ... (3 more)   = 1 0 01100000000000 = 0x9800 → statuses 0,1,1 (only 3 + 3 = 6 so far; rest of vector read until count)
  //   we read 14 symbols but count stops at 10: statuses 3..9 = 0,1,1,0,0,0,0
  // → statuses: 1,1,1,0,1,1,0,0,0,0 → 5 received → 5 deltas; make the last one large with a 2-bit chunk instead:
  const fb = hex('8fcd0007 00000001 00000002 fffe000a 00010207 2003 9800 04 08 0c 10 14 000000');
  const [p] = parseRtcp(fb);
  assert.equal(p?.type, 'twcc');
  const t = p as TransportCc;
  assert.equal(t.baseSeq, 0xfffe);
  assert.equal(t.referenceTime, 0x102);
  assert.equal(t.fbPktCount, 7);
  assert.deepEqual([...t.status], [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual([...t.deltas], [4, 8, 12, 16, 20]);
  // 2-bit vector with a large negative delta: base 5, 3 statuses: 2,0,1 → 1 1 10 00 01 00 00 00 00 = 0xe100
  const two = hex('8fcd0006 00000001 00000002 00050003 00000001 e100 ff38 05 000000');
  const u = parseRtcp(two)[0] as TransportCc;
  assert.deepEqual([...u.status], [2, 0, 1]);
  assert.deepEqual([...u.deltas], [-200, 5]);
  // Reserved symbol 3 and truncated deltas are errors.
  assert.equal(code(() => parseRtcp(hex('8fcd0006 00000001 00000002 00050003 00000001 f100 ff38 05 000000'))), 'field');
  assert.equal(code(() => parseRtcp(hex('8fcd0005 00000001 00000002 00050003 00000001 e100 ff38'))), 'short');
  assert.equal(code(() => parseRtcp(hex('8fcd0005 00000001 00000002 00050003 00000001 6003 0000'))), 'field');
});

test('TWCC build → parse round trip, and werift reads what we build', () => {
  const arb = fc
    .array(fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -0x8000, max: 0x7fff })), { minLength: 1, maxLength: 400 })
    .chain((d) => fc.tuple(fc.constant(d), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffff }), fc.integer({ min: 0, max: 255 })));
  fc.assert(
    fc.property(arb, ([d, baseSeq, referenceTime, fbPktCount]) => {
      const status = d.map((x) => (x === -1 ? 0 : x >= 0 && x <= 255 ? 1 : 2));
      const deltas = d.filter((x) => x !== -1);
      const buf = buildTransportCc({ senderSsrc: 1, mediaSsrc: 2, baseSeq, referenceTime, fbPktCount, status, deltas });
      assert.equal(buf.length % 4, 0);
      const t = parseRtcp(buf, { maxLength: 4000 })[0] as TransportCc;
      assert.deepEqual([...t.status], status);
      assert.deepEqual([...t.deltas], deltas);
      assert.equal(t.baseSeq, baseSeq);
      assert.equal(t.referenceTime, referenceTime);
      assert.equal(t.fbPktCount, fbPktCount);
      const w = (RtcpPacketConverter.deSerialize(buf)[0] as RtcpTransportLayerFeedback).feedback as TransportWideCC;
      assert.equal(w.packetStatusCount, status.length);
      assert.deepEqual(
        w.recvDeltas.map((r) => r.delta),
        deltas.map((x) => x * 250),
      );
    }),
    { numRuns: 300 },
  );
  // The other direction is not checked: werift 0.24.4's TransportWideCC.serialize writes no
  // padding (a 27-byte packet whose length field says 24), which this parser rightly refuses.
});

test('compound round trip of every kind; unknown types and formats are skipped', () => {
  const pkts: RtcpPacket[] = [
    { type: 'rr', ssrc: 1, reports: [{ ssrc: 2, fractionLost: 3, packetsLost: 4, highestSeq: 5, jitter: 6, lsr: 7, dlsr: 8 }] },
    { type: 'sr', ssrc: 1, ntpSec: 2, ntpFrac: 3, rtpTimestamp: 4, packetCount: 5, octetCount: 6, reports: [] },
    { type: 'sdes', chunks: [{ ssrc: 1, cname: 'user@host' }, { ssrc: 2, cname: '' }] },
    { type: 'bye', ssrcs: [1, 2], reason: 'bye now' },
    { type: 'bye', ssrcs: [3] },
    { type: 'nack', senderSsrc: 1, mediaSsrc: 2, lost: [10, 11, 30] },
    { type: 'pli', senderSsrc: 1, mediaSsrc: 2 },
    { type: 'fir', senderSsrc: 1, entries: [{ ssrc: 5, seqNr: 255 }] },
    { type: 'remb', senderSsrc: 1, bitrate: 2_500_000 & ~0x7, ssrcs: [1, 2, 3] },
  ];
  const compound = serializeRtcp(pkts);
  const app = hex('80cc0003 00000001 41424344 00000000'); // APP
  const xr = hex('80cf0001 00000001'); // XR
  const otherFb = hex('83cd0002 00000001 00000002'); // RTPFB FMT 3 (TMMBR-ish), skipped
  const afbOther = hex('8fce0003 00000001 00000000 41424344'); // AFB not REMB
  const got = parseRtcp(Buffer.concat([compound, app, xr, otherFb, afbOther]));
  assert.deepEqual(got, pkts);
  assert.deepEqual(parseRtcp(buildRemb(1, 123_456_789, [])), [{ type: 'remb', senderSsrc: 1, bitrate: Math.floor(123_456_789 / 512) * 512, ssrcs: [] }]);
  assert.equal(buildPli(1, 2).length, 12);
  assert.equal(buildFir(1, []).length, 12);
  assert.ok(buildSr({ ssrc: 1, ntpSec: 0, ntpFrac: 0, rtpTimestamp: 0, packetCount: 0, octetCount: 0, reports: [] }));
  assert.ok(buildRr({ ssrc: 1, reports: [] }));
  assert.ok(buildSdes([]));
  assert.ok(buildBye([]));
  assert.throws(() => buildNack(1, 2, []), RangeError);
});

test('length, version and padding validation', () => {
  assert.equal(code(() => parseRtcp(hex('81c9'))), 'short');
  assert.equal(code(() => parseRtcp(hex('41c90001 00000001'))), 'version');
  assert.equal(code(() => parseRtcp(hex('81c90007 00000001'))), 'length');
  assert.equal(code(() => parseRtcp(hex('81c90001 00000001 81'))), 'short'); // trailing partial header
  assert.equal(code(() => parseRtcp(hex('82c90001 00000001'))), 'short'); // RR says 2 blocks, has none
  assert.equal(code(() => parseRtcp(hex('a0c90001 00000000'))), 'padding'); // padding count 0
  assert.equal(code(() => parseRtcp(hex('a0c90002 00000001 00000009'))), 'padding'); // 9 > body
  assert.deepEqual(parseRtcp(hex('a0c90002 00000001 00000004')), [{ type: 'rr', ssrc: 1, reports: [] }]);
  assert.equal(code(() => parseRtcp(hex('81cd0002 00000001 00000002'))), 'ok'); // empty NACK: no FCI
  assert.equal(code(() => parseRtcp(hex('84ce0003 00000001 00000000 0000000a'))), 'length'); // FIR FCI 4 bytes
  assert.equal(code(() => parseRtcp(hex('81ca0002 00000001 0109 6161'))), 'short'); // SDES item overruns
  assert.equal(code(() => parseRtcp(Buffer.alloc(1504, 0x80))), 'tooLarge');
});

test('property: parseRtcp throws only RtpDecodeError on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 200, max: 207 }), fc.integer({ min: 0, max: 31 }), (bytes, pt, fmt) => {
      const b = Buffer.from(bytes);
      if (b.length >= 4) {
        b[0] = 0x80 | fmt;
        b[1] = pt;
        b.writeUInt16BE(Math.max(0, (b.length >> 2) - 1), 2);
      }
      try {
        parseRtcp(b);
      } catch (e) {
        if (!(e instanceof RtpDecodeError)) throw e;
      }
    }),
    { numRuns: 3000 },
  );
});
