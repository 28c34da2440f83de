/**
 * Publisher bitrate caps against a publisher that ignores them (issue 12 item 4): werift peers
 * (they neither read REMB nor apply `maxBitrate`) in a room whose namespace caps each
 * participant's video at 400 kbit/s. The SDK is told the cap (`publishlayers` with maxBitrate);
 * a publisher flooding ~2.9 Mbit/s is held back after ~2 s — its video stops reaching the other
 * participant, the SFU counts the capped layer, /metrics shows it — while a publisher within the
 * cap keeps flowing; once the flooder slows down below its cap its video comes back. Chromium,
 * which obeys the cap, is tested in test/e2e/sfu-caps.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaStream, MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { Client } from '../../src/client/index.ts';
import { SfuCall } from '../../src/client/sfu-call.ts';
import { startNode } from '../../src/app/index.ts';
import { createSfu, type SfuNode } from '../../src/webrtc/sfu/index.ts';
import { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { peerConfig, VP8_PT } from '../../src/webrtc/sfu/werift-adapter.ts';

async function until(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

class Member {
  readonly client: Client;
  readonly call: SfuCall;
  readonly track = new MediaStreamTrack({ kind: 'video' });
  /** Packets received from each publisher (by client id). */
  readonly got = new Map<string, number>();
  readonly caps: number[][] = [];
  private n = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(url: string, room: string) {
    this.client = new Client(url, { transports: ['websocket'] });
    this.call = new SfuCall(this.client, room, { localStream: new MediaStream([this.track]) as never, simulcast: false, createPeerConnection: () => new RTCPeerConnection(peerConfig()) as never });
    this.call.on('track', ({ info, track }) => {
      this.got.set(info.client, 0);
      (track as unknown as MediaStreamTrack).onReceiveRtp.subscribe(() => this.got.set(info.client, this.got.get(info.client)! + 1));
    });
    this.call.on('publishlayers', ({ layers }) => this.caps.push(layers.map((l) => l.maxBitrate ?? -1)));
  }

  /** `perTick` packets of `bytes` every 10 ms (a keyframe every 20 packets). */
  send(perTick: number, bytes: number): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        const key = this.n % 20 === 0;
        const p = Buffer.alloc(bytes, 0);
        p[0] = 0x10;
        p[1] = key ? 0x10 : 0x11;
        this.track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: VP8_PT, sequenceNumber: this.n & 0xffff, timestamp: (this.n * 900) >>> 0, marker: true }), p));
        this.n++;
      }
    }, 10);
  }

  stop(): void {
    clearInterval(this.timer);
    this.call.leave();
    this.client.close();
  }
}

for (const [mode, make] of [
  ['on the main thread', () => new SfuRouterService()],
  ['in a worker thread', () => createSfu({ workers: 1 })],
] as const) {
  test(`a publisher far over its room's bitrate cap is not forwarded until it is back under; one within the cap is unaffected (${mode})`, { timeout: 90_000 }, async () => {
    const sfu: SfuNode = make();
    const node = await startNode({
      port: 0,
      host: '127.0.0.1',
      allowAnonymous: true,
      namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous', sfuMaxPublishBitrate: 400_000 } },
      sfu,
    });
    const flooder = new Member(node.wsUrl, 'sfu:capped');
    const calm = new Member(node.wsUrl, 'sfu:capped');
    try {
      // The flooder sends 3 × 1,200 bytes every 10 ms (~2.9 Mbit/s); the calm one 1 × 300 (~240 kbit/s).
      flooder.send(3, 1200);
      calm.send(1, 300);
      await flooder.call.join();
      await calm.call.join();
      await until(() => flooder.caps.length > 0 && calm.caps.length > 0, 10_000, () => 'publishlayers with the cap');
      assert.deepEqual(flooder.caps[0], [400_000], 'the SDK is told its one layer\'s maxBitrate');
      const fromFlooder = () => calm.got.get(flooder.client.id!) ?? 0;
      const fromCalm = () => flooder.got.get(calm.client.id!) ?? 0;
      await until(() => fromFlooder() > 50 && fromCalm() > 50, 30_000, () => `flowing (${fromFlooder()}, ${fromCalm()})`);
      // Held back after the 2 s over the cap (rates are measured every 500 ms).
      await until(() => sfu.stats().layersCapped === 1, 15_000, () => `capped: ${JSON.stringify(sfu.stats())}`);
      await new Promise((r) => setTimeout(r, 500));
      const a = fromFlooder();
      const b = fromCalm();
      await new Promise((r) => setTimeout(r, 2000));
      assert.ok(fromFlooder() - a <= 5, `the flooder's video no longer reaches the other (${a} → ${fromFlooder()})`);
      assert.ok(fromCalm() - b > 50, `the calm publisher keeps flowing (${b} → ${fromCalm()})`);
      const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
      assert.match(metrics, /^switchboard_sfu_layers_capped\{[^}]*\} 1$/m);

      // Back within the cap (1 × 300 bytes every 10 ms): forwarded again.
      flooder.send(1, 300);
      await until(() => sfu.stats().layersCapped === 0, 15_000, () => `freed: ${JSON.stringify(sfu.stats())}`);
      const c = fromFlooder();
      await until(() => fromFlooder() > c + 50, 10_000, () => `the flooder flows again (${c} → ${fromFlooder()})`);
    } finally {
      flooder.stop();
      calm.stop();
      await node.close();
    }
  });
}
