/**
 * The system under test of the SFU benchmark, in its own process (pinned to a core by bench/sfu.ts):
 *
 *     node --import tsx bench/sfu/server.ts --system werift-naive|switchboard
 *
 * prints `listening PORT` and serves a small JSON control API on 127.0.0.1:PORT:
 *   POST /publish   {sdp}      → {sdp}        the publisher's offer → the server's answer
 *   POST /subscribe {}         → {id, sdp}    a new consumer: the server's offer
 *   POST /answer    {id, sdp}  → {}           the consumer's answer
 *   POST /stats     {reset?}   → {cpuUs, rss, lagP50Ms, lagP99Ms, lagMaxMs, consumers}
 *
 * `werift-naive` is the anchor the issue measured: one werift RTCPeerConnection per peer and the
 * publisher track's packets written to every consumer track (`track.writeRtp`), werift's own
 * media plane doing the rest. `switchboard` drives our SfuService (src/protocol/sfu-contract.ts)
 * through the same control API, when the media plane is present in this checkout.
 * `switchboard-service` runs the whole SfuService a node runs (the publisher and the consumers are
 * participants of one room: signaling ops, feedback, reports, dynacast), `switchboard-workers` the
 * same in one worker thread — then this process's main loop only signals, as a node's messaging
 * loop would, and its lag is the one the issue bounds (≤ 20 ms p99). Started with
 * SWITCHBOARD_SFU_NATIVE=0 (bench/sfu.ts `switchboard-js`) any of them takes the JavaScript send path.
 *
 * The event-loop delay is sampled on this process's main loop, the one the messaging server
 * would share (`lagP99Ms`): what the issue calls the messaging loop's lag.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MediaStreamTrack, RTCPeerConnection } from 'werift';
import { peerConfig } from './peer.ts';

interface System {
  publish(sdp: string): Promise<string>;
  subscribe(): Promise<{ id: string; sdp: string }>;
  answer(id: string, sdp: string): Promise<void>;
  consumers(): number;
  /** Which send path the consumers take (switchboard: "native" or "js" and counts). */
  mediaPath?(): string;
}

/** Waits until werift has gathered its candidates into the local description. */
async function gathered(pc: RTCPeerConnection): Promise<void> {
  for (let i = 0; i < 200 && pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 10));
}

/** werift as a naive SFU: every received packet written to every consumer's track. */
function weriftNaive(): System {
  const tracks: MediaStreamTrack[] = [];
  const pending = new Map<string, RTCPeerConnection>();
  let next = 0;
  return {
    async publish(sdp) {
      const pc = new RTCPeerConnection(peerConfig());
      pc.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          for (const t of tracks) t.writeRtp(rtp);
        });
      });
      await pc.setRemoteDescription({ type: 'offer', sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      return pc.localDescription!.sdp;
    },
    async subscribe() {
      const pc = new RTCPeerConnection(peerConfig());
      const track = new MediaStreamTrack({ kind: 'video' });
      pc.addTransceiver(track, { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const id = String(next++);
      pending.set(id, pc);
      pc.connectionStateChange.subscribe((s) => {
        if (s === 'connected') tracks.push(track);
      });
      return { id, sdp: pc.localDescription!.sdp };
    },
    async answer(id, sdp) {
      const pc = pending.get(id);
      if (!pc) throw new Error(`unknown consumer ${id}`);
      pending.delete(id);
      await pc.setRemoteDescription({ type: 'answer', sdp });
    },
    consumers: () => tracks.length,
  };
}

/** Our SFU through its contract, loaded only when the media plane exists in this checkout. */
async function switchboard(): Promise<System> {
  const path = '../../src/webrtc/sfu/bench-adapter.ts';
  let mod: { createBenchSystem?: () => Promise<System> };
  try {
    mod = (await import(path)) as typeof mod;
  } catch (e) {
    throw new Error(`the switchboard SFU is not available in this checkout (${path}: ${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof mod.createBenchSystem !== 'function') throw new Error(`${path} exports no createBenchSystem()`);
  return mod.createBenchSystem();
}

/** The whole SfuService (signaling ops, feedback, reports) on this thread or in one worker thread. */
async function service(workers: number): Promise<System> {
  const mod = (await import('../../src/webrtc/sfu/bench-service.ts')) as { createServiceBenchSystem(workers: number): System };
  return mod.createServiceBenchSystem(workers);
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 256 * 1024) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {});
      } catch (e) {
        reject(e as Error);
      }
    });
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--system');
  const name = i >= 0 ? process.argv[i + 1] : 'werift-naive';
  const system =
    name === 'werift-naive'
      ? weriftNaive()
      : name === 'switchboard'
        ? await switchboard()
        : name === 'switchboard-service' || name === 'switchboard-workers'
          ? await service(name === 'switchboard-workers' ? 1 : 0)
          : undefined;
  if (!system) throw new Error(`unknown --system ${name}`);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    let out: unknown;
    if (req.url === '/publish') out = { sdp: await system.publish(String(body.sdp)) };
    else if (req.url === '/subscribe') out = await system.subscribe();
    else if (req.url === '/answer') out = (await system.answer(String(body.id), String(body.sdp)), {});
    else if (req.url === '/stats') {
      const cpu = process.cpuUsage();
      out = {
        cpuUs: cpu.user + cpu.system,
        rss: process.memoryUsage().rss,
        lagP50Ms: lag.percentile(50) / 1e6,
        lagP99Ms: lag.percentile(99) / 1e6,
        lagMaxMs: lag.max / 1e6,
        consumers: system.consumers(),
        mediaPath: system.mediaPath?.() ?? 'werift',
      };
      if (body.reset) lag.reset();
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String((e as Error).stack ?? e));
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}

process.on('SIGTERM', () => process.exit(0));

main().catch((e: unknown) => {
  process.stderr.write(`sfu bench server: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
