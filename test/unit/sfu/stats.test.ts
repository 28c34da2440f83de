import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ntpMiddle32, RateStatistics, ReceiverStatistics, rttFromReportBlock } from '../../../src/webrtc/sfu/stats.ts';

test('rate statistics: 1 s window of 100 ms buckets; old buckets expire', () => {
  const r = new RateStatistics();
  for (let t = 0; t < 1000; t += 10) r.update(125, t); // 100 pkts × 125 B in 1 s = 100 kbps
  assert.equal(r.bitrate(999), 100_000);
  assert.equal(r.packetRate(999), 100);
  assert.equal(r.bitrate(1499), 50_000);
  assert.equal(r.bitrate(5000), 0);
});

test('receiver stats: loss, fraction lost per interval, seq wrap', () => {
  const s = new ReceiverStatistics(0x1234, 90000);
  const seqs = [65530, 65531, 65533, 65534, 65535, 0, 1, 3, 4];
  for (const q of seqs) s.onPacket(q, 0, 0);
  let rb = s.report(0);
  assert.equal(rb.highestSeq, 65536 + 4);
  assert.equal(rb.packetsLost, 2);
  assert.equal(rb.fractionLost, Math.floor((2 * 256) / 11));
  for (let q = 5; q < 15; q++) s.onPacket(q, 0, 0);
  rb = s.report(0);
  assert.equal(rb.fractionLost, 0, 'new interval had no loss');
  assert.equal(rb.packetsLost, 2);
});

test('receiver stats: duplicates count, a big jump is rejected once then resyncs', () => {
  const s = new ReceiverStatistics(1, 90000);
  s.onPacket(100, 0, 0);
  s.onPacket(100, 0, 0);
  assert.equal(s.cumulativeLost, -1);
  assert.equal(s.onPacket(20_000, 0, 0), false);
  assert.equal(s.onPacket(20_001, 0, 0), true);
  assert.equal(s.extendedHighestSeq, 20_001);
});

test('receiver stats: jitter converges to the RFC 3550 estimate of alternating transit', () => {
  const s = new ReceiverStatistics(1, 90000);
  // 20 ms frames, arrival alternates ±5 ms: |D| = 10 ms = 900 ticks each step.
  for (let i = 0; i < 500; i++) s.onPacket(i, i * 1800, i * 20 + (i % 2 === 0 ? 5 : -5));
  assert.ok(Math.abs(s.jitter - 900) < 1, `${s.jitter}`);
  const flat = new ReceiverStatistics(2, 90000);
  for (let i = 0; i < 100; i++) flat.onPacket(i, i * 1800, 1000 + i * 20);
  assert.ok(flat.jitter < 1e-6);
});

test('receiver stats property: expected − lost equals distinct received for any in-order subset', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 65535 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 3000 }), (start, keep) => {
      const s = new ReceiverStatistics(1, 48000);
      let n = 0;
      keep[0] = true;
      let last = 0;
      keep.forEach((k, i) => {
        if (k) {
          s.onPacket((start + i) & 0xffff, 0, 0);
          n++;
          last = i;
        }
      });
      return s.cumulativeLost === last + 1 - n && s.extendedHighestSeq === start + last;
    }),
  );
});

test('RTT from LSR/DLSR', () => {
  const s = new ReceiverStatistics(1, 90000);
  const srSentAt = 1_700_000_000_000;
  const mid = ntpMiddle32(srSentAt);
  s.onSenderReport(0x12340000 | (mid >>> 16), (mid & 0xffff) << 16, 5000);
  const rb = s.report(5250); // the receiver held the SR 250 ms
  assert.equal(rb.lsr, mid);
  // It reaches the sender 80 ms of network time after the SR went out, plus the hold.
  const rtt = rttFromReportBlock(rb.lsr, rb.dlsr, srSentAt + 330);
  assert.ok(rtt !== undefined && Math.abs(rtt - 80) < 1, `${String(rtt)}`);
  assert.equal(rttFromReportBlock(0, 0, srSentAt), undefined);
});
