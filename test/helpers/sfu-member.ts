/**
 * A participant of an SFU room in Node: an SDK client over WebSocket with SfuCall on werift peer
 * connections, publishing a synthetic VP8 stream whose keyframes carry a real VP8 frame header
 * (RFC 6386 §9.1), so the SFU learns its frame size. Counts the RTP packets it receives.
 */
import { MediaStream, MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { Client } from '../../src/client/index.ts';
import { SfuCall } from '../../src/client/sfu-call.ts';
import { peerConfig, VP8_PT } from '../../src/webrtc/sfu/werift-adapter.ts';

/** A participant: an SDK client and a synthetic VP8 camera of `width`×`height` (50 packets/s). */
export class SyntheticMember {
  readonly client: Client;
  readonly call: SfuCall;
  readonly track = new MediaStreamTrack({ kind: 'video' });
  received = 0;
  private n = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    url: string,
    room: string,
    readonly width: number,
    readonly height: number,
  ) {
    this.client = new Client(url, { transports: ['websocket'] });
    this.call = new SfuCall(this.client, room, {
      localStream: new MediaStream([this.track]) as never,
      simulcast: false,
      createPeerConnection: () => new RTCPeerConnection(peerConfig()) as never,
    });
    this.call.on('track', ({ track }) => (track as unknown as MediaStreamTrack).onReceiveRtp.subscribe(() => this.received++));
  }

  start(): void {
    this.timer = setInterval(() => {
      const key = this.n % 10 === 0;
      const p = Buffer.alloc(400, 0);
      // VP8 payload descriptor (S=1, partition 0), then the frame tag: bit 0 clear = keyframe
      // (RFC 6386 §9.1), start code 9d 01 2a, 14-bit width and height.
      p[0] = 0x10;
      p[1] = key ? 0x10 : 0x11;
      if (key) {
        p.set([0x9d, 0x01, 0x2a], 4);
        p.writeUInt16LE(this.width, 7);
        p.writeUInt16LE(this.height, 9);
      }
      this.track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: VP8_PT, sequenceNumber: this.n & 0xffff, timestamp: this.n * 1800, marker: true }), p));
      this.n++;
    }, 20);
  }

  stop(): void {
    clearInterval(this.timer);
    this.call.leave();
    this.client.close();
  }
}

