/**
 * The downlink glue (src/webrtc/sfu/downlink.ts) without I/O: consumers write into a sink that
 * calls `stamp` as the WeriftPeer does before encryption; feedback is built with our own TWCC
 * serializer; the clock is a variable. Checks: transport-wide sequence numbers are stamped on
 * every packet (media, retransmission, padding) and only there; feedback reaches the estimator;
 * layer caps go down at once and up only after the hold; probes are padding-only packets whose
 * sequence numbers never collide with later media.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtpPacket } from 'werift';
import { Downlink } from '../../../src/webrtc/sfu/downlink.ts';
import { Consumer, Producer, TWCC_SEQ_OFFSET } from '../../../src/webrtc/sfu/forwarder.ts';
import { buildTransportCc } from '../../../src/webrtc/sfu/rtp/rtcp.ts';

const EXT = 3;

function rtp(seq: number, ts: number, ssrc: number, payload: Buffer): RtpPacket {
  return { header: { sequenceNumber: seq, timestamp: ts, ssrc, marker: false, extensions: [] }, payload } as unknown as RtpPacket;
}

/** A VP8 payload; keyframes carry a frame size (RFC 6386 §9.1) so layers sort by width. */
function vp8(key: boolean, width = 320): Buffer {
  const p = Buffer.alloc(120, 0);
  p[0] = 0x10;
  if (key) {
    p[1] = 0x10; // frame tag, keyframe
    p[4] = 0x9d;
    p[5] = 0x01;
    p[6] = 0x2a;
    p.writeUInt16LE(width, 7);
    p.writeUInt16LE((width * 9) / 16, 9);
  } else p[1] = 0x11;
  return p;
}

function setup(initialBps: number) {
  let now = 0;
  const d = new Downlink(EXT, { initialBps, upgradeHoldMs: 1000, probeIntervalMs: 1500 }, () => now);
  const sent: Buffer[] = [];
  const sink = {
    overhead: 16,
    twccExtId: EXT,
    sendRtp(buf: Buffer, length: number) {
      d.stamp(buf, 0, length);
      sent.push(Buffer.from(buf.subarray(0, length)));
    },
  };
  const source = { requestKeyframe() {} };
  const layers = [0, 1, 2].map((i) => new Producer(`t/${i}`, 'video', source, 100 + i));
  const rates = [150_000, 500_000, 1_500_000];
  const wall = Date.now();
  layers.forEach((l, i) => {
    l.bitrateSmoothed = rates[i]!;
    l.lastPacketAt = wall;
  });
  const c = new Consumer(sink, 0xabc, 96, layers[0]!);
  c.layers = layers;
  for (const l of layers) l.add(c);
  c.activate();
  return { d, c, layers, sent, wall, clock: { set: (t: number) => (now = t) } };
}

test('stamps transport-wide sequence numbers on media and retransmissions; feedback reaches the estimator', () => {
  const { d, c, layers, sent } = setup(2_000_000);
  layers[2]!.push(rtp(1000, 90_000, 102, vp8(true, 1280)));
  for (let i = 1; i < 10; i++) layers[2]!.push(rtp(1000 + i, 90_000 + i * 3000, 102, vp8(false)));
  assert.equal(c.forwarded, 10);
  assert.equal(sent.length, 10);
  sent.forEach((b, i) => {
    assert.equal(b[0]! & 0x10, 0x10, 'X bit');
    assert.equal(b.readUInt16BE(12), 0xbede, 'one-byte extension profile');
    assert.equal(b[16]! >> 4, EXT, 'our extension id');
    assert.equal(b.readUInt16BE(TWCC_SEQ_OFFSET), i, 'transport-wide sequence numbers in send order');
    assert.equal(b.subarray(20).length, 120, 'payload after the extension');
  });
  // A NACK for the third packet: retransmitted with a new transport-wide number.
  const seq3 = sent[2]!.readUInt16BE(2);
  c.handleRtcp({ type: 205, feedback: { count: 1, mediaSourceSsrc: 0xabc, lost: [seq3] } } as never);
  assert.equal(sent.length, 11);
  assert.equal(sent[10]!.readUInt16BE(2), seq3);
  assert.equal(sent[10]!.readUInt16BE(TWCC_SEQ_OFFSET), 10);
  // Feedback: all 11 received 1 ms apart.
  const fb = buildTransportCc({ senderSsrc: 1, mediaSsrc: 0xabc, baseSeq: 0, referenceTime: 10, fbPktCount: 0, status: new Array(11).fill(1), deltas: new Array(11).fill(4) });
  const packets = d.onRtcp(fb);
  assert.equal(packets[0]?.type, 'twcc');
  assert.equal(d.feedbacks, 1);
  assert.equal(d.onRtcp(Buffer.from([0x80, 0xcd, 0x00])).length, 0, 'a malformed compound is dropped');
  assert.equal(d.badRtcp, 1);
  // A packet without our extension is left alone.
  const plain = Buffer.alloc(40);
  plain[0] = 0x80;
  d.stamp(plain, 0, 40);
  assert.equal(plain.readUInt16BE(TWCC_SEQ_OFFSET), 0);
});

test('layer caps: down at once when the estimate falls short, up only after the grant held 1 s', () => {
  const { d, c, wall, clock } = setup(400_000);
  clock.set(0);
  d.update([c], wall);
  assert.equal(c.bweSpatial, 0, '400 k pays for the 150 k layer only (the 500 k one needs 1.1 × 1.08 ×)');
  assert.equal(c.desiredLayer(wall).id, 't/0');
  // The estimate rises (as a probe result would raise it).
  (d.bwe as unknown as { current: number }).current = 5_000_000;
  clock.set(100);
  d.update([c], wall);
  assert.equal(c.bweSpatial, 0, 'not at once');
  clock.set(1200);
  d.update([c], wall);
  assert.equal(c.bweSpatial, 2, 'after the hold');
  (d.bwe as unknown as { current: number }).current = 700_000;
  clock.set(1300);
  d.update([c], wall);
  assert.equal(c.bweSpatial, 1, 'down at once');
  c.targetSpatial = 0;
  clock.set(1400);
  d.update([c], wall);
  assert.equal(c.bweSpatial, 0, 'the subscriber\'s own cap counts in the allocation');
});

test('probes are padding-only packets; later media never reuses their sequence numbers', () => {
  const { d, c, layers, sent, wall, clock } = setup(300_000);
  clock.set(0);
  d.update([c], wall);
  assert.equal(d.probes, 0, 'no probe before a video consumer forwards');
  layers[0]!.push(rtp(500, 1000, 100, vp8(true, 320)));
  layers[0]!.push(rtp(501, 4000, 100, vp8(false)));
  clock.set(10);
  d.update([c], wall); // starts the controller: initial probes at 3× and 6×
  assert.ok(d.probes >= 1, `probed (${d.probes})`);
  const padding = sent.filter((b) => (b[0]! & 0x20) !== 0);
  assert.ok(padding.length >= 1, 'padding packets sent in the first burst');
  for (const p of padding) {
    assert.equal(p[p.length - 1], p.length - 20, 'the last byte counts all padding (RFC 3550 §5.1)');
    assert.equal(p.readUInt32BE(4), sent[1]!.readUInt32BE(4), 'the last media timestamp');
  }
  layers[0]!.push(rtp(502, 7000, 100, vp8(false)));
  const seqs = sent.map((b) => b.readUInt16BE(2));
  assert.equal(new Set(seqs).size, seqs.length, `no sequence number twice (${seqs.join(',')})`);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1]! + 1) & 0xffff, 'continuous');
  const tseqs = sent.map((b) => b.readUInt16BE(TWCC_SEQ_OFFSET));
  tseqs.forEach((s, i) => assert.equal(s, i));
  d.close();
});
