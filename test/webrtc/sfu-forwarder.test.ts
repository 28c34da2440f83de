/**
 * The forwarding core over real WebRTC transports (werift peers on loopback: ICE, DTLS-SRTP):
 * publisher → Producer → Consumer → subscriber. Checks what the consumer promises: forwarding
 * starts at a keyframe, sequence numbers are continuous from a random start, the SSRC is the
 * consumer's own, the payload arrives intact (our SRTP decrypted by werift's), and a NACK from the
 * subscriber is answered from the consumer's history. Also pins the werift internals the adapter
 * uses (test fails if werift moves them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket, GenericNack, RtcpTransportLayerFeedback } from 'werift';
import { Consumer, isVp8Keyframe, Producer } from '../../src/webrtc/sfu/forwarder.ts';
import { peerConfig, VP8_PT, WeriftPeer } from '../../src/webrtc/sfu/werift-adapter.ts';
import { nativeStatus } from '../../src/webrtc/sfu/srtp/native.ts';

async function gathered(pc: RTCPeerConnection): Promise<void> {
  for (let i = 0; i < 300 && pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 10));
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function vp8(n: number, key: boolean): Buffer {
  const p = Buffer.alloc(200, n & 0xff);
  p[0] = 0x10;
  p[1] = key ? 0x10 : 0x11;
  p.writeUInt32BE(n, 10);
  return p;
}

test('VP8 keyframe detection: S bit, partition 0, P bit, with and without extended descriptors', () => {
  assert.equal(isVp8Keyframe(Buffer.from([0x10, 0x10])), true);
  assert.equal(isVp8Keyframe(Buffer.from([0x10, 0x11])), false, 'P=1: interframe');
  assert.equal(isVp8Keyframe(Buffer.from([0x00, 0x10])), false, 'not the start of a partition');
  assert.equal(isVp8Keyframe(Buffer.from([0x11, 0x10])), false, 'partition 1');
  // X=1, I=1 with a 15-bit picture id (M=1), L=1, T=1: 1 + 1 + 2 + 1 + 1 descriptor bytes.
  assert.equal(isVp8Keyframe(Buffer.from([0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x10])), true);
  assert.equal(isVp8Keyframe(Buffer.from([0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x11])), false);
  assert.equal(isVp8Keyframe(Buffer.from([0x90])), false, 'cut off');
});

test('publisher → Producer → Consumer → subscriber over werift transports: keyframe start, own SSRC, continuous sequence, NACK answered', async () => {
  // Publisher: a plain werift peer sending a synthetic VP8 stream.
  const pubPc = new RTCPeerConnection(peerConfig());
  const track = new MediaStreamTrack({ kind: 'video' });
  pubPc.addTransceiver(track, { direction: 'sendonly' });
  await pubPc.setLocalDescription(await pubPc.createOffer());
  await gathered(pubPc);
  const pubPeer = new WeriftPeer();
  await pubPc.setRemoteDescription({ type: 'answer', sdp: await pubPeer.answer(pubPc.localDescription!.sdp) });
  const producer = new Producer('tr-1', 'video', pubPeer);
  pubPeer.onRtp((rtp) => producer.push(rtp));

  // Subscriber: a plain werift peer answering the consumer's offer.
  const subPeer = new WeriftPeer();
  const { sdp, ssrc } = await subPeer.offerVideo();
  const subPc = new RTCPeerConnection(peerConfig());
  const got: RtpPacket[] = [];
  subPc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((p) => void got.push(p)));
  await subPc.setRemoteDescription({ type: 'offer', sdp });
  await subPc.setLocalDescription(await subPc.createAnswer());
  await gathered(subPc);
  await subPeer.accept(subPc.localDescription!.sdp);
  await Promise.all([pubPeer.ready(), subPeer.ready()]);
  // The internals the adapter relies on (werift 0.24.4).
  const dtls = subPeer.dtlsTransport as unknown as Record<string, unknown>;
  assert.equal(typeof (dtls.dtls as { extractSessionKeys?: unknown }).extractSessionKeys, 'function');
  assert.equal(typeof (dtls.iceTransport as { connection?: { send?: unknown } }).connection?.send, 'function');
  // detachWeriftReceivers replaces the peer connection's router.routeRtp (werift 0.24.4).
  assert.equal(typeof (pubPc as unknown as { router?: { routeRtp?: unknown } }).router?.routeRtp, 'function');
  const detached = new WeriftPeer();
  detached.detachWeriftReceivers();
  detached.close();

  const consumer = new Consumer(subPeer, ssrc, VP8_PT, producer);
  subPeer.onRtcp((p) => consumer.handleRtcp(p));
  consumer.activate();
  producer.add(consumer);
  try {
    // Three interframes first (not forwarded: no keyframe yet), then a keyframe and 30 more.
    let n = 0;
    const send = (key: boolean): void => {
      track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: VP8_PT, sequenceNumber: (65530 + n) & 0xffff, timestamp: n * 3000, ssrc: 777, marker: true }), vp8(n, key)));
      n++;
    };
    await until(() => producer.received > 0 || (send(false), false), 10_000, 'the producer receives');
    const before = n;
    for (let i = 0; i < 3; i++) send(false);
    send(true);
    for (let i = 0; i < 30; i++) {
      send(false);
      await new Promise((r) => setTimeout(r, 5));
    }
    await until(() => got.length >= 31, 10_000, `31 packets at the subscriber (got ${got.length})`);
    assert.equal(subPeer.directUdp, true, 'sends take the direct UDP path of the nominated pair');
    // With the native helper, werift's SRTP at the subscriber accepted what the native path encrypted.
    assert.equal(subPeer.nativeSend, nativeStatus().path === 'native', `send path: ${nativeStatus().reason}`);
    assert.equal(subPeer.sendErrors, 0);
    const first = got[0]!;
    assert.equal(isVp8Keyframe(first.payload), true, 'the first forwarded packet is the keyframe');
    assert.equal(first.payload.readUInt32BE(10), before + 3, 'it is the keyframe the publisher sent');
    for (const [i, p] of got.entries()) {
      assert.equal(p.header.ssrc, ssrc, 'the consumer SSRC');
      assert.equal(p.header.sequenceNumber, (first.header.sequenceNumber + i) & 0xffff, 'continuous sequence numbers');
      assert.equal(p.payload.readUInt32BE(10), before + 3 + i, 'payload intact and in order');
    }
    // NACK two packets: the consumer answers from its history.
    const lost = [got[5]!.header.sequenceNumber, got[6]!.header.sequenceNumber];
    const nack = new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost });
    const tr = subPc.getTransceivers()[0]!;
    await tr.dtlsTransport.sendRtcp([new RtcpTransportLayerFeedback({ feedback: nack })]);
    await until(() => consumer.retransmitted === 2 && got.length >= 33, 10_000, `two retransmissions (retransmitted ${consumer.retransmitted}, got ${got.length})`);
    assert.deepEqual(got.slice(-2).map((p) => p.header.sequenceNumber).sort(), [...lost].sort());
  } finally {
    producer.close();
    assert.equal(consumer.closed, true, 'closing the producer closes its consumers');
    pubPeer.close();
    subPeer.close();
    await Promise.all([pubPc.close(), subPc.close()]);
  }
});
