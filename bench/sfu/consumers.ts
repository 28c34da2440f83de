/**
 * The SFU benchmark's consumers: `--count` werift peers in this process, each subscribed to the
 * server's stream, counting packets and publisher → consumer latency (bench/sfu/peer.ts). Talks to
 * bench/sfu.ts over IPC: sends `{type: 'ready'}` once every peer is connected; on `{type: 'start'}`
 * zeroes its counters, on `{type: 'stop'}` answers `{type: 'result', received, latenciesUs}`.
 *
 *     node --import tsx bench/sfu/consumers.ts --server http://127.0.0.1:PORT --count 25
 */
import { RTCPeerConnection } from 'werift';
import { ageNs, control, peerConfig, whenConnected } from './peer.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}

async function main(): Promise<void> {
  const server = arg('server', '');
  const count = Number(arg('count', '10'));
  let received = 0;
  let measuring = false;
  // Latencies in µs of the measured window (bounded: at most 2 M samples are kept).
  const lat = new Float64Array(2_000_000);
  let nLat = 0;
  const pcs: RTCPeerConnection[] = [];
  const attempt = async (): Promise<void> => {
    const pc = new RTCPeerConnection(peerConfig());
    pcs.push(pc);
    pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        if (!measuring) return;
        received++;
        const ns = ageNs(rtp.payload);
        if (ns >= 0n && nLat < lat.length) lat[nLat++] = Number(ns) / 1000;
      });
    });
    const { id, sdp } = await control<{ id: string; sdp: string }>(server, '/subscribe', {});
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    for (let i = 0; i < 200 && pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 10));
    await control(server, '/answer', { id, sdp: pc.localDescription!.sdp });
    try {
      await whenConnected(pc, 20_000);
    } catch (e) {
      pcs.splice(pcs.indexOf(pc), 1);
      void pc.close();
      throw e;
    }
  };
  // On a loaded machine werift's ICE sometimes gives up on a pair ("connection failed"): a
  // consumer that did not connect is replaced by a new one (the server's side of it never counts).
  const one = async (): Promise<void> => {
    for (let tries = 1; ; tries++) {
      try {
        await attempt();
        return;
      } catch (e) {
        if (tries === 3) throw e;
        process.stderr.write(`sfu bench consumers: ${(e as Error).message}; connecting a new one\n`);
      }
    }
  };
  // A few at a time: werift's DTLS handshakes are CPU-heavy.
  for (let i = 0; i < count; i += 2) await Promise.all(Array.from({ length: Math.min(2, count - i) }, one));
  process.on('message', (m: { type?: string }) => {
    if (m.type === 'start') {
      received = 0;
      nLat = 0;
      measuring = true;
    } else if (m.type === 'stop') {
      measuring = false;
      process.send!({ type: 'result', received, latenciesUs: Array.from(lat.subarray(0, nLat)) });
    } else if (m.type === 'exit') {
      for (const pc of pcs) void pc.close();
      setTimeout(() => process.exit(0), 200);
    }
  });
  process.send!({ type: 'ready' });
}

main().catch((e: unknown) => {
  process.stderr.write(`sfu bench consumers: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
