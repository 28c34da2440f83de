/**
 * A participant of the werift-based SFU room tests: an SDK client with SfuCall over a werift peer
 * connection, a synthetic VP8 camera (50 packets/s, its name in the payload), and what it
 * received by publisher.
 */
import { MediaStream, MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { Client } from '../../src/client/index.ts';
import { SfuCall } from '../../src/client/sfu-call.ts';
import { peerConfig, VP8_PT } from '../../src/webrtc/sfu/werift-adapter.ts';

export async function until(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A participant: an SDK client, a synthetic VP8 camera, and what it received by publisher. */
export class Member {
  readonly client: Client;
  readonly call: SfuCall;
  readonly track = new MediaStreamTrack({ kind: 'video' });
  readonly got = new Map<string, { packets: number; ssrcs: Set<number>; marks: Set<string> }>();
  readonly removed: string[] = [];
  private n = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    url: string,
    readonly name: string,
    room: string,
  ) {
    this.client = new Client(url, { transports: ['websocket'] });
    this.call = new SfuCall(this.client, room, {
      localStream: new MediaStream([this.track]) as never,
      simulcast: false,
      createPeerConnection: () => new RTCPeerConnection(peerConfig()) as never,
    });
    this.call.on('track', ({ info, track }) => {
      const entry = { packets: 0, ssrcs: new Set<number>(), marks: new Set<string>() };
      this.got.set(info.client, entry);
      (track as unknown as MediaStreamTrack).onReceiveRtp.subscribe((p) => {
        entry.packets++;
        entry.ssrcs.add(p.header.ssrc);
        entry.marks.add(p.payload.subarray(20, 24).toString());
      });
    });
    this.call.on('trackremoved', ({ track }) => this.removed.push(track));
  }

  /** Sends 50 packets/s, a keyframe every 10, the member's name in the payload. */
  start(): void {
    this.timer = setInterval(() => {
      const key = this.n % 10 === 0;
      const p = Buffer.alloc(300, 0);
      p[0] = 0x10;
      p[1] = key ? 0x10 : 0x11;
      p.write(this.name.padEnd(4, '_').slice(0, 4), 20);
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

