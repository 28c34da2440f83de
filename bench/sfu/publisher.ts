/**
 * The SFU benchmark's publisher: one werift peer sending a synthetic VP8-shaped stream
 * (bench/sfu/peer.ts) of `--rate` packets/s of `--size` bytes to the server at `--server`, until
 * killed. Prints `publishing` once connected.
 *
 *     node --import tsx bench/sfu/publisher.ts --server http://127.0.0.1:PORT [--rate 100] [--size 1100]
 */
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { control, makePayload, peerConfig, VP8_PT, whenConnected } from './peer.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}

async function main(): Promise<void> {
  const server = arg('server', '');
  const rate = Number(arg('rate', '100'));
  const size = Number(arg('size', '1100'));
  const pc = new RTCPeerConnection(peerConfig());
  const track = new MediaStreamTrack({ kind: 'video' });
  pc.addTransceiver(track, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  for (let i = 0; i < 200 && pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 10));
  const { sdp } = await control<{ sdp: string }>(server, '/publish', { sdp: pc.localDescription!.sdp });
  await pc.setRemoteDescription({ type: 'answer', sdp });
  await whenConnected(pc, 15_000);
  process.stdout.write('publishing\n');
  const ssrc = 0x5b0a_0001;
  let n = 0;
  const start = performance.now();
  // Paced by the clock, not by setInterval's drift: each tick sends what is due.
  const tick = (): void => {
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    while (n < due) {
      const header = new RtpHeader({ payloadType: VP8_PT, sequenceNumber: n & 0xffff, timestamp: (n * 900) >>> 0, ssrc, marker: true });
      track.writeRtp(new RtpPacket(header, makePayload(n, size)));
      n++;
    }
  };
  setInterval(tick, 5);
}

main().catch((e: unknown) => {
  process.stderr.write(`sfu bench publisher: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
