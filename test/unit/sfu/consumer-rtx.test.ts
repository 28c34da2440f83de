/**
 * A consumer's retransmissions (forwarder.ts) without I/O: without RTX a NACKed packet is sent
 * again as it was; with RTX (RFC 4588) it goes on the RTX SSRC and payload type with its own
 * sequence numbers, the original sequence number first, and unwraps (rtp/ unwrapRtx) to exactly
 * the packet sent first — the transport-cc extension kept for the sink to stamp; a padding-only
 * probe becomes an RTX packet carrying only the original sequence number.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtcpPacket, RtpPacket } from 'werift';
import { Consumer, Producer, type RtpSink } from '../../../src/webrtc/sfu/forwarder.ts';
import { RtpView, unwrapRtx } from '../../../src/webrtc/sfu/rtp/rtp-packet.ts';

function rtp(seq: number, payload: Buffer): RtpPacket {
  return { header: { sequenceNumber: seq, timestamp: seq * 3000, ssrc: 1, marker: true, extensions: [] }, payload } as unknown as RtpPacket;
}

function keyframe(n: number): Buffer {
  const p = Buffer.alloc(50, n);
  p[0] = 0x10;
  p[1] = 0x10;
  return p;
}

const nack = (ssrc: number, lost: number[]): RtcpPacket => ({ type: 205, feedback: { count: 1, mediaSourceSsrc: ssrc, lost } }) as unknown as RtcpPacket;

function setup(twccExtId = 0) {
  const sent: Buffer[] = [];
  const sink: RtpSink = { overhead: 10, twccExtId, sendRtp: (buf, len) => sent.push(Buffer.from(buf.subarray(0, len))) };
  const p = new Producer('t', 'video', { requestKeyframe: () => {} }, 1);
  const c = new Consumer(sink, 1234, 96, p);
  p.add(c);
  c.activate();
  return { sent, p, c };
}

test('without RTX a NACKed packet is repeated as it was', () => {
  const { sent, p, c } = setup();
  for (let i = 0; i < 5; i++) p.push(rtp(100 + i, keyframe(i)));
  const seq2 = sent[2]!.readUInt16BE(2);
  c.handleRtcp(nack(1234, [seq2]));
  assert.equal(sent.length, 6);
  assert.deepEqual(sent[5], sent[2]);
  assert.equal(c.retransmitted, 1);
  assert.equal(c.rtxSent, 0);
});

for (const ext of [0, 3]) {
  test(`with RTX (transport-cc extension ${ext ? 'on' : 'off'}) the retransmission is an RFC 4588 packet that unwraps to the original`, () => {
    const { sent, p, c } = setup(ext);
    c.rtx = { ssrc: 0xabcdef01, payloadType: 97 };
    for (let i = 0; i < 5; i++) p.push(rtp(100 + i, keyframe(i)));
    const seqs = sent.map((b) => b.readUInt16BE(2));
    c.handleRtcp(nack(1234, [seqs[1]!, seqs[3]!, 0xffff & (seqs[4]! + 100)]));
    assert.equal(sent.length, 7, 'two retransmissions, nothing for a sequence number never sent');
    const [r1, r3] = [sent[5]!, sent[6]!];
    for (const [r, orig] of [
      [r1, sent[1]!],
      [r3, sent[3]!],
    ] as const) {
      assert.equal(r.readUInt32BE(8), 0xabcdef01, 'RTX SSRC');
      assert.equal(r[1]! & 0x7f, 97, 'RTX payload type');
      assert.equal(r[1]! & 0x80, orig[1]! & 0x80, 'marker kept');
      const view = new RtpView().parse(r, r.length);
      assert.deepEqual(unwrapRtx(view, 1234, 96), orig, 'unwraps to the packet first sent');
    }
    assert.equal((r3.readUInt16BE(2) - r1.readUInt16BE(2)) & 0xffff, 1, 'RTX sequence numbers of their own, consecutive');
    assert.equal(c.rtxSent, 2);
    assert.equal(c.retransmitted, 2);
  });
}

test('a NACKed padding probe goes on RTX with only its original sequence number', () => {
  const { sent, p, c } = setup(3);
  c.rtx = { ssrc: 77, payloadType: 97 };
  p.push(rtp(1, keyframe(1)));
  assert.ok(c.sendPadding(200) > 0);
  const pad = sent[1]!;
  assert.equal(pad[0]! & 0x20, 0x20, 'the probe is padding');
  c.handleRtcp(nack(1234, [pad.readUInt16BE(2)]));
  const r = sent[2]!;
  assert.equal(r[0]! & 0x20, 0, 'no padding on the RTX copy');
  assert.equal(r.length, 12 + 8 + 2, 'header, transport-cc extension, OSN');
  assert.equal(r.readUInt16BE(20), pad.readUInt16BE(2));
});
