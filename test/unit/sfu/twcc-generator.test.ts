import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RtcpPacketConverter, type RtcpTransportLayerFeedback, type TransportWideCC } from 'werift';
import { twccToFeedback } from '../../../src/webrtc/sfu/bwe/twcc-results.ts';
import type { PacketFeedback } from '../../../src/webrtc/sfu/bwe/types.ts';
import { parseRtcp, type TransportCc } from '../../../src/webrtc/sfu/rtp/rtcp.ts';
import { TwccGenerator } from '../../../src/webrtc/sfu/rtp/twcc-generator.ts';

function decode(bufs: Buffer[]): TransportCc[] {
  return bufs.map((b) => {
    assert.ok(b.length <= 1200);
    const p = parseRtcp(b);
    assert.equal(p.length, 1);
    return p[0] as TransportCc;
  });
}

test('lost packets are reported as not received, the reference time is floored to 64 ms, deltas are relative', () => {
  const g = new TwccGenerator({ senderSsrc: 7 });
  // seq 10 at 1,000,100 µs, 11 lost, 12 at +5 ms, 13 at +5.25 ms.
  g.onPacket(10, 1_000_100);
  g.onPacket(12, 1_005_100);
  g.onPacket(13, 1_005_350);
  const bufs = g.buildFeedback(1_010_000);
  const [fb] = decode(bufs);
  assert.ok(fb);
  assert.equal(fb.senderSsrc, 7);
  assert.equal(fb.baseSeq, 10);
  assert.deepEqual([...fb.status], [1, 0, 1, 1]);
  // 1,000,100 µs = 15 × 64 ms + 40,100 µs → reference 15, first delta round(40100/250) = 160 ticks.
  assert.equal(fb.referenceTime, 15);
  assert.deepEqual([...fb.deltas], [160, 20, 1]);
  assert.equal(fb.fbPktCount, 0);
  const r = twccToFeedback(fb);
  assert.deepEqual(
    r.map((x) => x.transportSeq),
    [10, 11, 12, 13],
  );
  assert.equal(r[1]?.arrivalMs, null);
  assert.equal(r[0]?.arrivalMs, 1000);
  assert.equal(r[3]?.arrivalMs, 1005.25);
  // Nothing new: no feedback. The next one starts after 13 and counts 1.
  assert.deepEqual(g.buildFeedback(1_060_000), []);
  g.onPacket(15, 1_070_000);
  const [next] = decode(g.buildFeedback(1_110_000));
  assert.equal(next?.baseSeq, 14);
  assert.deepEqual([...next!.status], [0, 1]);
  assert.equal(next?.fbPktCount, 1);
  // werift reads the first one the same way.
  const w = (RtcpPacketConverter.deSerialize(bufs[0]!)[0] as RtcpTransportLayerFeedback).feedback as TransportWideCC;
  assert.equal(w.baseSequenceNumber, 10);
  assert.equal(w.packetStatusCount, 4);
  assert.equal(w.referenceTime, 15);
  assert.deepEqual(
    w.recvDeltas.map((d) => d.delta),
    [40_000, 5_000, 250],
  );
});

test('sequence wrap: 65534 → 1 is a 4-packet feedback, not a 65535-packet one; a reordered first packet moves the base', () => {
  const g = new TwccGenerator();
  g.onPacket(65535, 2_000_000);
  g.onPacket(65534, 2_000_500); // reordered, before any feedback
  g.onPacket(1, 2_001_000);
  const [fb] = decode(g.buildFeedback(2_050_000));
  assert.equal(fb?.baseSeq, 65534);
  // 65535 came first (its arrival is earlier than 65534's): the second delta is negative → large (2).
  assert.deepEqual([...fb!.status], [1, 2, 0, 1]);
  const r = twccToFeedback(fb!);
  assert.deepEqual(
    r.map((x) => [x.transportSeq, x.arrivalMs]),
    [
      [65534, 2000.5],
      [65535, 2000],
      [0, null],
      [1, 2001],
    ],
  );
  // After a feedback, an older packet is late: not reported again.
  g.onPacket(0, 2_060_000);
  assert.equal(g.late, 1);
  assert.deepEqual(g.buildFeedback(2_100_000), []);
});

test('a gap of more than 8.19 s between arrivals and a large packet count split the feedback', () => {
  const g = new TwccGenerator();
  g.onPacket(1, 1_000_000);
  g.onPacket(2, 11_000_000);
  const fbs = decode(g.buildFeedback(11_050_000));
  assert.equal(fbs.length, 2);
  assert.deepEqual(
    fbs.map((f) => [f.baseSeq, f.status.length, f.fbPktCount]),
    [
      [1, 1, 0],
      [2, 1, 1],
    ],
  );
  assert.deepEqual(
    fbs.flatMap((f) => twccToFeedback(f)).map((x) => x.arrivalMs),
    [1000, 11000],
  );
  // 3000 packets, each 300 ms after the previous in odd/even jitter (large deltas): > 1200 bytes.
  const h = new TwccGenerator();
  for (let i = 0; i < 3000; i++) h.onPacket(i, 5_000_000 + i * 1000 + (i % 2 ? 0 : 90_000));
  const parts = decode(h.buildFeedback(9_000_000));
  assert.ok(parts.length >= 4, `${parts.length} packets`);
  let seq = 0;
  for (const p of parts) {
    assert.equal(p.baseSeq, seq);
    seq += p.status.length;
  }
  assert.equal(seq, 3000);
  assert.deepEqual(
    parts.map((p) => p.fbPktCount),
    parts.map((_, i) => i),
  );
});

test('the feedback packet count wraps mod 256', () => {
  const g = new TwccGenerator();
  const counts: number[] = [];
  for (let i = 0; i < 300; i++) {
    g.onPacket(i, i * 50_000);
    for (const f of decode(g.buildFeedback(i * 50_000 + 1))) counts.push(f.fbPktCount);
  }
  assert.equal(counts.length, 300);
  assert.deepEqual(counts.slice(254, 258), [254, 255, 0, 1]);
});

test('property: every sequence number is reported once, received ones within 125 µs, across wraps and reordering', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.array(fc.record({ lost: fc.boolean(), gapUs: fc.integer({ min: 0, max: 40_000 }), jitterUs: fc.integer({ min: 0, max: 30_000 }), flush: fc.integer({ min: 0, max: 9 }) }), { minLength: 1, maxLength: 600 }),
      fc.integer({ min: 0, max: 1e12 }),
      (start, pkts, t0) => {
        const g = new TwccGenerator();
        let t = t0;
        const events: Array<{ seq: number; at: number; flushAfter: boolean }> = [];
        pkts.forEach((p, i) => {
          t += p.gapUs;
          if (!p.lost || i === 0) events.push({ seq: (start + i) & 0xffff, at: t + p.jitterUs, flushAfter: p.flush === 0 });
        });
        // Arrival order = arrival time order (jitter reorders).
        events.sort((a, b) => a.at - b.at);
        const truth = new Map<number, number>();
        const reported = new Map<number, number | null>();
        const take = (bufs: Buffer[]) => {
          for (const f of decode(bufs))
            for (const r of twccToFeedback(f) as PacketFeedback[]) {
              assert.ok(!reported.has(r.transportSeq), `seq ${r.transportSeq} reported twice`);
              reported.set(r.transportSeq, r.arrivalMs);
            }
        };
        for (const e of events) {
          g.onPacket(e.seq, e.at);
          truth.set(e.seq, e.at);
          if (e.flushAfter) take(g.buildFeedback(e.at));
        }
        take(g.buildFeedback(t + 1e6));
        // A packet arriving after its sequence number was passed by a feedback is late: reported
        // lost or not at all. Every other one is reported with its arrival time.
        let missing = 0;
        for (const [seq, at] of truth) {
          const got = reported.get(seq);
          if (got === null || got === undefined) {
            missing++;
            continue;
          }
          // (t0 ≤ 10^12 µs stays below the 24-bit reference time's wrap at 2^24 × 64 ms ≈ 12.4 days.)
          assert.ok(Math.abs(got - at / 1000) <= 0.125 + 1e-6, `seq ${seq}: ${got} vs ${at / 1000}`);
        }
        assert.ok(missing <= g.late, `${missing} arrived packets not reported, ${g.late} late`);
        // Lost ones in between are reported as lost (null), never as received.
        for (const [seq, v] of reported) if (!truth.has(seq)) assert.equal(v, null);
      },
    ),
    { numRuns: 200 },
  );
});
