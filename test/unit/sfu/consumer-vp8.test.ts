/**
 * The consumer's VP8 rewriting (forwarder.ts + rtp/vp8.ts Vp8Munger) without I/O: two simulcast
 * layers whose encoders count picture IDs and TL0PICIDX from unrelated bases; a consumer that
 * switches from one to the other (on a keyframe), and pauses and resumes, must send picture IDs
 * that go up by one per picture and TL0PICIDX that never jump back, in its own copies only
 * (the producer's packet is not touched, so another consumer sees the original values).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtpPacket } from 'werift';
import { Consumer, Producer, type RtpSink } from '../../../src/webrtc/sfu/forwarder.ts';
import { parseVp8Descriptor } from '../../../src/webrtc/sfu/rtp/vp8.ts';

/** A VP8 payload with X, I (15-bit picture ID) and L (TL0PICIDX); keyframes carry a frame size. */
function vp8(pictureId: number, tl0: number, key: boolean, width: number): Buffer {
  const p = Buffer.alloc(40, 0);
  p[0] = 0x90; // X, S, PID 0
  p[1] = 0xc0; // I, L
  p[2] = 0x80 | (pictureId >> 8);
  p[3] = pictureId & 0xff;
  p[4] = tl0;
  if (key) {
    p[5] = 0x10; // frame tag: keyframe (P = 0)
    p[8] = 0x9d;
    p[9] = 0x01;
    p[10] = 0x2a;
    p.writeUInt16LE(width, 11);
    p.writeUInt16LE((width * 9) / 16, 13);
  } else p[5] = 0x11;
  return p;
}

function rtp(seq: number, ts: number, ssrc: number, payload: Buffer): RtpPacket {
  return { header: { sequenceNumber: seq, timestamp: ts, ssrc, marker: true, extensions: [] }, payload } as unknown as RtpPacket;
}

test('picture IDs and TL0PICIDX stay continuous across a layer switch and a pause, per consumer copy', () => {
  const out: { pid: number; tl0: number }[] = [];
  const sink: RtpSink = {
    overhead: 0,
    sendRtp: (buf, len) => {
      const d = parseVp8Descriptor(buf, 12, len - 12);
      out.push({ pid: d.pictureId, tl0: d.tl0PicIdx });
    },
  };
  const source = { requestKeyframe: () => {} };
  const low = new Producer('t/q', 'video', source, 1);
  const high = new Producer('t/f', 'video', source, 2);
  const c = new Consumer(sink, 9, 96, low);
  c.layers = [low, high];
  low.add(c);
  high.add(c);
  c.activate();
  // Both layers live; the consumer wants the low one first.
  c.targetSpatial = 0;
  let lowPid = 30_000;
  let highPid = 100;
  let lowTl0 = 250;
  let highTl0 = 7;
  let seqL = 1;
  let seqH = 5000;
  const frame = (key: boolean): void => {
    const lp = vp8(lowPid, lowTl0, key, 320);
    low.push(rtp(seqL++, seqL * 3000, 1, lp));
    high.push(rtp(seqH++, seqH * 3000, 2, vp8(highPid, highTl0, key, 1280)));
    assert.equal(parseVp8Descriptor(lp).pictureId, lowPid, "the producer's packet is not rewritten");
    lowPid = (lowPid + 1) & 0x7fff;
    highPid = (highPid + 1) & 0x7fff;
    lowTl0 = (lowTl0 + 1) & 0xff;
    highTl0 = (highTl0 + 1) & 0xff;
  };
  frame(true);
  for (let i = 0; i < 5; i++) frame(false);
  assert.equal(out.length, 6);
  c.targetSpatial = 1;
  frame(false); // no keyframe of the high layer yet: the low layer goes on, the switch waits
  assert.equal(out.length, 7);
  frame(true);
  for (let i = 0; i < 5; i++) frame(false);
  c.setPaused(true);
  for (let i = 0; i < 3; i++) frame(false);
  c.setPaused(false);
  frame(false);
  frame(true);
  frame(false);
  assert.equal(c.switches, 1);
  // 7 low; the low then the high keyframe (the switch); 5 high; after the resume the high keyframe and one more.
  assert.equal(out.length, 7 + 2 + 5 + 2);
  for (let i = 1; i < out.length; i++) {
    assert.equal(out[i]!.pid, (out[i - 1]!.pid + 1) & 0x7fff, `picture ID continuous at ${i}: ${JSON.stringify(out)}`);
    assert.equal(out[i]!.tl0, (out[i - 1]!.tl0 + 1) & 0xff, `TL0PICIDX continuous at ${i}`);
  }
  assert.equal(out[0]!.pid, 30_000, 'the first picture keeps its ID');
  assert.ok(low.badVp8 === 0 && high.badVp8 === 0);
});

test('a video packet whose descriptor does not parse is forwarded unchanged and counted', () => {
  const sent: Buffer[] = [];
  const sink: RtpSink = { overhead: 0, sendRtp: (buf, len) => sent.push(Buffer.from(buf.subarray(0, len))) };
  const p = new Producer('t', 'video', { requestKeyframe: () => {} }, 1);
  const c = new Consumer(sink, 9, 96, p);
  p.add(c);
  c.activate();
  p.push(rtp(1, 1, 1, vp8(5, 1, true, 320)));
  // X set with I set but the 15-bit picture ID cut off.
  p.push(rtp(2, 2, 1, Buffer.from([0x80, 0x80, 0x81])));
  assert.equal(p.badVp8, 1);
  assert.equal(sent.length, 2);
  assert.deepEqual([...sent[1]!.subarray(12)], [0x80, 0x80, 0x81]);
});
