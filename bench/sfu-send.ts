/**
 * The SFU's send side per forwarded packet, in one process, without ICE/DTLS set-up (a loaded
 * machine makes bench/sfu.ts's werift peers fail to connect): one Producer fans each 1,100-byte
 * VP8 packet out to K Consumers whose sinks encrypt and send to K real UDP sockets on loopback
 * (read by a child process), the way WeriftPeer does:
 * - `native`: SrtpContext with the native helper + the UDP batch (sendmmsg), the default path;
 * - `js`: SrtpContext on node:crypto + dgram.send (SWITCHBOARD_SFU_NATIVE=0's path);
 * - `werift-srtp`: werift's SrtpSession.encrypt + dgram.send per consumer — what werift-naive
 *   pays at least per packet (its track.writeRtp adds RTP re-serialisation and promises on top).
 *
 *     npx tsx bench/sfu-send.ts [--consumers 60] [--packets 3000] [--rounds 3]
 *
 * CPU µs per forwarded packet = this process's CPU time (user + system, process.cpuUsage) over
 * the fan-out loop / (packets × consumers); the rounds alternate the systems to spread the noise.
 * It is not bench/sfu.ts: no decryption of the publisher's stream, no RTCP, no werift receive path.
 */
import { fork } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RtpHeader, RtpPacket, SrtpSession } from 'werift';
import { Consumer, Producer, type RtpSink } from '../src/webrtc/sfu/forwarder.ts';
import { SRTP_AES128_CM_HMAC_SHA1_80, SrtpContext } from '../src/webrtc/sfu/srtp/srtp.ts';
import { nativeStatus } from '../src/webrtc/sfu/srtp/native.ts';
import { udpBatch } from '../src/webrtc/sfu/udp-batch.ts';

if (process.argv[2] === '--receiver') {
  // The child: K sockets that count what arrives; answers with their ports, then with counts.
  const k = Number(process.argv[3]);
  const socks: Socket[] = [];
  let got = 0;
  for (let i = 0; i < k; i++) {
    const s = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
    s.on('message', () => void got++);
    s.bind(0, '127.0.0.1');
    socks.push(s);
  }
  await Promise.all(socks.map((s) => once(s, 'listening')));
  process.send!({ ports: socks.map((s) => (s.address() as { port: number }).port) });
  process.on('message', (m: { t: string }) => {
    if (m.t === 'count') process.send!({ got });
    else process.exit(0);
  });
} else {
  const arg = (n: string, d: number): number => {
    const i = process.argv.indexOf(`--${n}`);
    return i >= 0 ? Number(process.argv[i + 1]) : d;
  };
  const K = arg('consumers', 60);
  const P = arg('packets', 3000);
  const R = arg('rounds', 3);
  const child = fork(fileURLToPath(import.meta.url), ['--receiver', String(K)], { execArgv: ['--import', 'tsx'] });
  const [{ ports }] = (await once(child, 'message')) as [{ ports: number[] }];
  const key = randomBytes(16);
  const salt = randomBytes(14);

  /** One socket per consumer (as each WeriftPeer has its own ICE socket). */
  const sockets = await Promise.all(
    ports.map(async () => {
      const s = createSocket('udp4');
      s.bind(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    }),
  );

  function sinks(system: string): RtpSink[] {
    const batch = udpBatch();
    return ports.map((port, i) => {
      const sock = sockets[i]!;
      if (system === 'werift-srtp') {
        const w = new SrtpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt }, profile: SRTP_AES128_CM_HMAC_SHA1_80 });
        return {
          overhead: 10,
          sendRtp(buf: Buffer, length: number) {
            const h = RtpHeader.deSerialize(buf);
            sock.send(w.encrypt(buf.subarray(h.serializeSize, length), h), port, '127.0.0.1');
          },
        };
      }
      const srtp = new SrtpContext(SRTP_AES128_CM_HMAC_SHA1_80, key, salt, 64, system === 'native');
      if (system === 'native') {
        const t = batch!.target(sock, '127.0.0.1', port, {})!;
        return {
          overhead: srtp.rtpOverhead,
          sendRtp() {
            throw new Error('unused');
          },
          sendRtpFrom(src: Buffer, off: number, length: number) {
            const at = batch!.reserve(length + srtp.rtpOverhead);
            src.copy(batch!.arena, at, off, off + length);
            batch!.commit(t, at, srtp.protectRtpAt(batch!.arena, at, length));
          },
        };
      }
      return {
        overhead: srtp.rtpOverhead,
        sendRtp(buf: Buffer, length: number) {
          const n = srtp.protectRtp(buf, length, buf);
          sock.send(buf.subarray(0, n), port, '127.0.0.1');
        },
      };
    });
  }

  const payload = (n: number): Buffer => {
    const p = Buffer.alloc(1100 - 12, 0x5a);
    p[0] = 0x10;
    p[1] = n === 0 ? 0x10 : 0x11;
    if (n === 0) {
      p[4] = 0x9d;
      p[5] = 0x01;
      p[6] = 0x2a;
    }
    return p;
  };

  async function run(system: string): Promise<{ us: number; delivered: number }> {
    const prod = new Producer('bench', 'video', { requestKeyframe() {} }, 1234);
    for (const [i, sink] of sinks(system).entries()) {
      const c = new Consumer(sink, 1000 + i, 96, prod);
      c.activate();
      prod.add(c);
    }
    child.send({ t: 'count' });
    const [{ got: before }] = (await once(child, 'message')) as [{ got: number }];
    const pkts = Array.from({ length: P }, (_, n) => new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: n & 0xffff, timestamp: n * 900, ssrc: 1234, marker: true }), payload(n)));
    let cpu = 0;
    // 100 packets per macrotask, as a socket's reads would arrive; CPU counted inside the loop only.
    for (let n = 0; n < P; n += 100) {
      const c0 = process.cpuUsage();
      for (let j = n; j < Math.min(P, n + 100); j++) prod.push(pkts[j]!);
      await new Promise((r) => setImmediate(r));
      const c1 = process.cpuUsage(c0);
      cpu += c1.user + c1.system;
      await new Promise((r) => setTimeout(r, 5)); // let the receiver drain
    }
    await new Promise((r) => setTimeout(r, 300));
    child.send({ t: 'count' });
    const [{ got: after }] = (await once(child, 'message')) as [{ got: number }];
    prod.close();
    return { us: cpu / (P * K), delivered: (after - before) / (P * K) };
  }

  const systems = nativeStatus().path === 'native' ? ['native', 'js', 'werift-srtp'] : ['js', 'werift-srtp'];
  const res = new Map<string, number[]>();
  const del = new Map<string, number[]>();
  for (let r = 0; r < R; r++) {
    for (const s of systems) {
      const { us, delivered } = await run(s);
      res.set(s, [...(res.get(s) ?? []), us]);
      del.set(s, [...(del.get(s) ?? []), delivered]);
    }
  }
  process.stdout.write(`native helper: ${nativeStatus().path}; ${K} consumers, ${P} packets of 1,100 bytes, ${R} rounds (CPU µs per forwarded packet, each round)\n`);
  process.stdout.write('| system | CPU µs/packet (median) | rounds | delivered % |\n|---|--:|---|--:|\n');
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  for (const s of systems) {
    const a = res.get(s)!;
    process.stdout.write(`| ${s} | ${med(a).toFixed(2)} | ${a.map((x) => x.toFixed(2)).join(', ')} | ${(Math.min(...del.get(s)!) * 100).toFixed(1)} |\n`);
  }
  const n = res.get('native');
  const w = res.get('werift-srtp')!;
  const j = res.get('js')!;
  process.stdout.write(`\nwerift-srtp / js: ${(med(w) / med(j)).toFixed(2)}×${n ? `; werift-srtp / native: ${(med(w) / med(n)).toFixed(2)}×; js / native: ${(med(j) / med(n)).toFixed(2)}×` : ''}\n`);
  child.send({ t: 'exit' });
  for (const s of sockets) s.close();
  process.exit(0);
}
