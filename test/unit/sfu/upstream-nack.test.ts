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

/** A publisher's padding-only packet (RTP P bit, no payload left after the padding). */
function paddingOnly(seq: number): RtpPacket {
  return { header: { sequenceNumber: seq & 0xffff, timestamp: (seq * 3000) >>> 0, ssrc: 1, marker: false, padding: true, extensions: [] }, payload: Buffer.alloc(0) } as unknown as RtpPacket;
}

test('a packet repaired after our padding probes lands in its own place, before the probes (they took later sequence numbers)', () => {
  const { sent, p, c } = setup();
  p.push(rtp(10, true));
  p.push(rtp(11, false));
  // 12 lost upstream; 13 arrives, then we probe twice, then 14.
  p.push(rtp(13, false));
  c.sendPadding(100);
  c.sendPadding(100);
  p.push(rtp(14, false));
  const seqs = sent.map((b) => b.readUInt16BE(2));
  const base = seqs[0]!;
  assert.deepEqual(seqs.map((s) => (s - base) & 0xffff), [0, 1, 3, 4, 5, 6], '12\'s place (2) stays free; the probes take 4 and 5');
  p.push(rtp(12, false));
  assert.equal(sent.length, 7, 'the repair is forwarded');
  assert.equal((sent[6]!.readUInt16BE(2) - base) & 0xffff, 2, 'into 12\'s place, not onto a probe\'s');
  assert.equal(c.late, 1);
});

for (const base of [500, 0xfffe]) {
  test(`a publisher's padding-only packets are not forwarded and leave no gap at the subscriber; a repair from before them still lands in its place (base ${base})`, () => {
    const { sent, p, c } = setup();
    const s = (i: number) => (base + i) & 0xffff;
    p.push(rtp(s(0), true));
    p.push(rtp(s(1), false));
    // s(2) lost upstream, s(3) arrives, then three padding-only probes, then media again.
    p.push(rtp(s(3), false));
    p.push(paddingOnly(s(4)));
    p.push(paddingOnly(s(5)));
    p.push(paddingOnly(s(6)));
    p.push(rtp(s(7), false));
    p.push(rtp(s(8), false));
    assert.equal(p.paddingOnly, 3);
    assert.equal(c.skipped, 3);
    assert.equal(p.badVp8, 0, 'an empty payload is not a bad VP8 descriptor');
    const out = sent.map((b) => b.readUInt16BE(2));
    const o = out[0]!;
    assert.deepEqual(out.map((x) => (x - o) & 0xffff), [0, 1, 3, 4, 5], 'no packet without payload goes out, and s(7) follows s(3) directly');
    assert.ok(sent.every((b) => b.length > 12), 'every packet sent carries payload');
    assert.deepEqual(p.nack!.poll(performance.now() + 1000), [s(2)], 'only the real gap is NACKed upstream, not the probes');
    p.push(rtp(s(2), false));
    assert.equal((sent[5]!.readUInt16BE(2) - o) & 0xffff, 2, 'the repair goes into its own place');
    // A late padding-only packet (reordered) is simply dropped.
    p.push(paddingOnly(s(5)));
    assert.equal(sent.length, 6);
    p.push(rtp(s(9), false));
    assert.equal((sent[6]!.readUInt16BE(2) - o) & 0xffff, 6);
  });
}

test('a late packet older than the offset changes the consumer still remembers is dropped, never sent onto a used place', () => {
  const { sent, p, c } = setup();
  p.push(rtp(10, true));
  // 11 is lost; then many media packets, each followed by a probe: more offset changes than kept.
  for (let i = 12; i < 12 + 200; i++) {
    p.push(rtp(i, false));
    c.sendPadding(50);
  }
  const used = new Set(sent.map((b) => b.readUInt16BE(2)));
  const n = sent.length;
  p.push(rtp(11, false));
  if (sent.length > n) assert.ok(!used.has(sent[n]!.readUInt16BE(2)), 'a late packet never reuses a sequence number');
  assert.equal(sent.length, n, 'dropped: its offset is no longer known');
  // A recent one is still placed right.
  p.push(rtp(213, false));
  p.push(rtp(215, false));
  const before = sent.length;
  p.push(rtp(214, false));
  assert.equal(sent.length, before + 1);
  const got = sent[before]!.readUInt16BE(2);
  assert.ok(!used.has(got), 'not a used sequence number');
  assert.equal((sent[before - 1]!.readUInt16BE(2) - got) & 0xffff, 1, 'right before 215');
});
