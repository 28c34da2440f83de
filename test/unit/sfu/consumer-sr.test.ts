/**
 * A consumer's sender report numbers (forwarder.ts Consumer.senderReport): the publisher's last
 * SR (NTP, RTP) mapped through the consumer's own timestamp offset and carried forward to now,
 * with its sent counts; nothing before it forwards or before the publisher reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtpPacket } from 'werift';
import { Consumer, Producer, type RtpSink } from '../../../src/webrtc/sfu/forwarder.ts';

function rtp(seq: number, ts: number, payload: Buffer): RtpPacket {
  return { header: { sequenceNumber: seq, timestamp: ts, ssrc: 1, marker: true, extensions: [] }, payload } as unknown as RtpPacket;
}

test('sender report of a consumer: the publisher\'s clock pair in the consumer\'s timestamps, advanced to now; counts of what it sent', () => {
  const sent: Buffer[] = [];
  const sink: RtpSink = { overhead: 0, sendRtp: (b, len) => sent.push(Buffer.from(b.subarray(0, len))) };
  const p = new Producer('a', 'audio', { requestKeyframe: () => {} }, 1);
  const c = new Consumer(sink, 99, 111, p);
  p.add(c);
  c.activate();
  assert.equal(c.senderReport(performance.now()), undefined, 'nothing forwarded yet');
  p.push(rtp(10, 1_000_000, Buffer.alloc(80, 1)));
  p.push(rtp(11, 1_000_960, Buffer.alloc(70, 1)));
  assert.equal(c.senderReport(performance.now()), undefined, 'no sender report from the publisher yet');
  // The publisher's SR: NTP 1000.5 s ↔ RTP 1_000_960.
  p.onSenderReport(1000, 0x80000000, 1_000_960);
  const at = p.senderReport!.atMs;
  const outTs = sent[1]!.readUInt32BE(4);
  const now = c.senderReport(at)!;
  assert.equal(now.rtp, outTs, 'the SR instant maps to the timestamp the consumer wrote for that RTP time');
  assert.deepEqual([now.ntpHi, now.ntpLo], [1000, 0x80000000]);
  assert.deepEqual([now.packets, now.octets], [2, 150]);
  const later = c.senderReport(at + 750)!;
  assert.equal((later.rtp - outTs) >>> 0, 750 * 48, '750 ms later: 36,000 ticks of 48 kHz');
  assert.deepEqual([later.ntpHi, later.ntpLo], [1001, 0x40000000], 'and 0.75 s later on the NTP clock (wrapping into the seconds)');
  c.close();
  assert.equal(c.senderReport(at), undefined, 'a closed consumer reports nothing');
});
