/**
 * Upstream loss repair without I/O (forwarder.ts): a video producer tracks what its publisher
 * skipped (its NackGenerator), and a packet repaired late — the publisher's retransmission — is
 * forwarded into its original place of each consumer's sequence: the consumer's newest sequence
 * number, timestamp and padding slot do not move back, a duplicate or a packet from before the
 * consumer's current start is dropped, and the late packet is in the history for the
 * subscriber's own NACKs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtcpPacket, RtpPacket } from 'werift';
import { Consumer, Producer, type RtpSink } from '../../../src/webrtc/sfu/forwarder.ts';

function rtp(seq: number, key: boolean): RtpPacket {
  const p = Buffer.alloc(40, seq & 0xff);
  p[0] = 0x10;
  p[1] = key ? 0x10 : 0x11;
  return { header: { sequenceNumber: seq & 0xffff, timestamp: (seq * 3000) >>> 0, ssrc: 1, marker: true, extensions: [] }, payload: p } as unknown as RtpPacket;
}

const nack = (ssrc: number, lost: number[]): RtcpPacket => ({ type: 205, feedback: { count: 1, mediaSourceSsrc: ssrc, lost } }) as unknown as RtcpPacket;

function setup() {
  const sent: Buffer[] = [];
  const sink: RtpSink = { overhead: 10, sendRtp: (buf, len) => sent.push(Buffer.from(buf.subarray(0, len))) };
  const p = new Producer('t', 'video', { requestKeyframe: () => {} }, 1);
  const c = new Consumer(sink, 1234, 96, p);
  p.add(c);
  c.activate();
  return { sent, p, c };
}

for (const base of [100, 0xfffd]) {
  test(`a lost packet is NACKed upstream once it is clearly lost, and forwarded late in its place when it comes (sequence base ${base})`, () => {
    const { sent, p, c } = setup();
    const s = (i: number) => (base + i) & 0xffff;
    p.push(rtp(s(0), true));
    p.push(rtp(s(1), false));
    // s(2) is lost on the way from the publisher.
    for (let i = 3; i < 7; i++) p.push(rtp(s(i), false));
    const nacked = p.nack!.poll(performance.now());
    assert.deepEqual(nacked, [s(2)], 'the gap is NACKed (3 newer packets arrived after it)');
    assert.deepEqual(p.nack!.poll(performance.now()), [], 'not again before the retry spacing');
    const out = sent.map((b) => b.readUInt16BE(2));
    assert.equal(out.length, 6);
    assert.equal((out[2]! - out[1]!) & 0xffff, 2, 'the consumer leaves the lost packet\'s place free');

    p.push(rtp(s(2), false));
    assert.equal(p.nack!.recovered, 1, 'the retransmission counts as recovered');
    assert.equal(p.nack!.missingCount, 0);
    assert.equal(sent.length, 7, 'forwarded late');
    const late = sent[6]!;
    assert.equal(late.readUInt16BE(2), (out[1]! + 1) & 0xffff, 'into the free place');
    assert.equal(late.readUInt32BE(4), (sent[1]!.readUInt32BE(4) + 3000) >>> 0, 'with its own timestamp');
    assert.equal(c.late, 1);

    // The next packet continues after the newest, not after the late one.
    p.push(rtp(s(7), false));
    assert.equal(sent[7]!.readUInt16BE(2), (out[5]! + 1) & 0xffff);
    // A padding probe takes the slot after the newest (never a used one).
    c.sendPadding(100);
    assert.equal(sent[8]!.readUInt16BE(2), (out[5]! + 2) & 0xffff);
    // The subscriber's NACK for the late packet's place is answered from the history.
    c.handleRtcp(nack(1234, [late.readUInt16BE(2)]));
    assert.deepEqual(sent[9], late);
    // A duplicate (retransmitted twice) is not forwarded again.
    p.push(rtp(s(2), false));
    p.push(rtp(s(7), false));
    assert.equal(sent.length, 10);
  });
}

test('a late packet from before the consumer started (resume, layer switch) is dropped; a keyframe ends the NACKs of what came before it', () => {
  const { sent, p, c } = setup();
  p.push(rtp(10, true));
  p.push(rtp(11, false));
  c.setPaused(true);
  p.push(rtp(12, false));
  c.setPaused(false);
  // Resumes on the next keyframe (14); 13 is missing upstream.
  p.push(rtp(14, true));
  p.push(rtp(15, false));
  const before = sent.length;
  p.push(rtp(13, false));
  assert.equal(sent.length, before, '13 precedes the keyframe the consumer restarted at');
  assert.equal(p.nack!.recovered, 0, '13 was given up when keyframe 14 arrived');

  // Loss before a keyframe: nothing before the keyframe is asked for any more.
  p.push(rtp(20, false));
  p.push(rtp(22, true));
  assert.deepEqual(p.nack!.poll(performance.now() + 1000), [], 'the gap (16–19, 21) is behind a keyframe');
});

test('an audio producer has no NACK tracking (Opus is not retransmitted)', () => {
  const p = new Producer('a', 'audio', { requestKeyframe: () => {} }, 2);
  assert.equal(p.nack, undefined);
});

test('a repaired packet older than the consumer\'s history is dropped (its slot holds a newer packet), and the producer does not NACK that far back', () => {
  const { sent, p, c } = setup();
  p.push(rtp(1000, true));
  for (let i = 1002; i < 1400; i++) p.push(rtp(i, false));
  const n = sent.length;
  p.push(rtp(1001, false));
  assert.equal(sent.length, n, '1001 is 398 packets behind: dropped');
  assert.equal(c.late, 0);
  assert.deepEqual(p.nack!.poll(performance.now() + 1000), [], '1001 was given up by the producer too');
});
