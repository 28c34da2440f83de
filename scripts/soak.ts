/**
 * Chaos soak: `npm run soak -- --minutes N [--clients 24] [--nodes 2]`. Not part of `npm test`.
 *
 * Starts its own Redis (free port, no persistence) and N nodes (`switchboard start`, Redis broker)
 * as child processes, each behind a TCP fault proxy (test/helpers/fault-proxy.ts). SDK clients
 * (src/client) spread over WebSocket, SSE and long polling subscribe to a few channels and publish
 * numbered messages while the soak injects faults: cut and stall client connections, SIGKILL and
 * restart a node, restart Redis. At the end it reads every channel's history and prints, per
 * channel, published (acknowledged) / delivered / duplicated / lost / gaps-reported, and exits 1
 * if any subscriber silently lost a publication (missing, and not covered by an onGap report).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Client } from '../src/client/index.ts';
import { FaultProxy } from '../test/helpers/fault-proxy.ts';
import { freePort } from '../test/helpers/net.ts';
import { covered, type GapRecord } from './soak-verdict.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string' }, clients: { type: 'string' }, nodes: { type: 'string' }, channels: { type: 'string' } }, strict: true });
const MINUTES = Number(values.minutes ?? 2);
const CLIENTS = Number(values.clients ?? 24);
const NODES = Number(values.nodes ?? 2);
const CHANNELS = Array.from({ length: Number(values.channels ?? 4) }, (_, i) => `soak-${i}`);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TRANSPORTS = ['websocket', 'sse', 'poll'] as const;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (m: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}`);

async function waitPort(port: number, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`port ${port} did not open`);
}

// ---- processes -------------------------------------------------------------------------------------

const redisPort = await freePort();
let redis: ChildProcess;
async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitPort(redisPort);
}

interface NodeProc {
  name: string;
  port: number;
  proc: ChildProcess | null;
  proxy: FaultProxy;
  proxyPort: number;
}

function startNodeProc(n: NodeProc): void {
  n.proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--port', String(n.port), '--host', '127.0.0.1', '--dev'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, SWITCHBOARD_NAME: n.name, SWITCHBOARD_BROKER: 'redis', SWITCHBOARD_REDIS_URL: `redis://127.0.0.1:${redisPort}`, SWITCHBOARD_ADMIN_SECRET: 'soak', SWITCHBOARD_CLUSTER_SECRET: 'soak-cluster-secret-0123456789', SWITCHBOARD_TURN: '0' },
  });
}

const faults = { cuts: 0, stalls: 0, nodeKills: 0, redisRestarts: 0 };

// ---- clients ---------------------------------------------------------------------------------------

interface ChannelStats {
  /**
   * Acknowledged publications: `epoch:offset` → when the publish was sent (ms). A Redis restart
   * without persistence starts a new epoch.
   */
  published: Map<string, number>;
  /** Per subscriber: positions delivered (count, to find duplicates) and gaps reported. */
  subs: Array<{ got: Map<string, number>; gaps: GapRecord[]; gapReports: number; epoch: string | undefined }>;
}
const stats = new Map<string, ChannelStats>(CHANNELS.map((c) => [c, { published: new Map(), subs: [] }]));


const clients: Client[] = [];
let publishErrors = 0;

async function main(): Promise<void> {
  await startRedis();
  const nodes: NodeProc[] = [];
  for (let i = 0; i < NODES; i++) {
    const port = await freePort();
    const proxy = new FaultProxy({ host: '127.0.0.1', port });
    const n: NodeProc = { name: `soak-${i}`, port, proc: null, proxy, proxyPort: await proxy.listen() };
    startNodeProc(n);
    nodes.push(n);
  }
  for (const n of nodes) await waitPort(n.port);
  log(`redis :${redisPort}, nodes ${nodes.map((n) => `${n.name} :${n.port} (proxy :${n.proxyPort})`).join(', ')}`);

  for (let i = 0; i < CLIENTS; i++) {
    const n = nodes[i % nodes.length]!;
    const transport = TRANSPORTS[i % TRANSPORTS.length]!;
    const url = transport === 'websocket' ? `ws://127.0.0.1:${n.proxyPort}/connection/websocket` : `http://127.0.0.1:${n.proxyPort}/connection/${transport}`;
    const client = new Client(url, { transports: [transport] });
    client.on('error', () => {});
    for (const ch of CHANNELS) {
      const st = stats.get(ch)!;
      const sub: ChannelStats['subs'][number] = { got: new Map(), gaps: [], gapReports: 0, epoch: undefined };
      st.subs.push(sub);
      client.subscribe(ch, {
        onPublication: (p) => {
          const k = `${p.epoch}:${p.offset}`;
          sub.got.set(k, (sub.got.get(k) ?? 0) + 1);
          sub.epoch = p.epoch;
        },
        onGap: (g) => {
          sub.gapReports++;
          const rec: GapRecord = { epoch: g.epoch, epochChange: sub.epoch !== g.epoch, at: Date.now() };
          if (g.from !== undefined) rec.from = g.from;
          if (g.to !== undefined) rec.to = g.to;
          sub.gaps.push(rec);
          sub.epoch = g.epoch;
        },
        onSubscribed: (e) => {
          sub.epoch ??= e.epoch;
        },
      });
    }
    void client.connect().catch(() => {});
    clients.push(client);
  }

  const end = Date.now() + MINUTES * 60_000;
  let seq = 0;
  // Publishers: every client publishes a numbered message on a channel every ~200 ms.
  const publishing = clients.map(async (c, i) => {
    while (Date.now() < end) {
      const ch = CHANNELS[(i + seq++) % CHANNELS.length]!;
      const sentAt = Date.now();
      c.publish(ch, { from: i, n: seq }).then(
        (pos) => stats.get(ch)!.published.set(`${pos.epoch}:${pos.offset}`, sentAt),
        () => publishErrors++,
      );
      await sleep(150 + Math.random() * 100);
    }
  });
  // Chaos.
  const chaos = (async () => {
    let round = 0;
    while (Date.now() < end - 15_000) {
      await sleep(4000 + Math.random() * 3000);
      round++;
      const n = nodes[round % nodes.length]!;
      if (round % 7 === 0) {
        log(`SIGKILL ${n.name}`);
        n.proc?.kill('SIGKILL');
        faults.nodeKills++;
        await sleep(2000);
        startNodeProc(n);
        await waitPort(n.port).catch(() => {});
        log(`${n.name} restarted`);
      } else if (round % 11 === 0) {
        log('restarting Redis');
        redis.kill('SIGKILL');
        faults.redisRestarts++;
        await sleep(1500);
        await startRedis();
      } else if (round % 2 === 0) {
        faults.cuts += n.proxy.cut(0.5);
      } else {
        faults.stalls += n.proxy.stall(0.5, 3000 + Math.random() * 8000);
      }
    }
  })();
  await Promise.all([...publishing, chaos]);
  log('publishing stopped; letting clients catch up (20 s)');
  await sleep(20_000);

  // Verdict.
  let silent = 0;
  let total = { published: 0, delivered: 0, dup: 0, lost: 0, gaps: 0 };
  const rows: string[] = [];
  for (const [ch, st] of stats) {
    const pub = [...st.published.keys()];
    let delivered = 0, dup = 0, lost = 0, gaps = 0;
    for (const s of st.subs) {
      gaps += s.gapReports;
      for (const [, count] of s.got) {
        delivered += count;
        if (count > 1) dup += count - 1;
      }
      for (const k of pub) {
        if (s.got.has(k)) continue;
        const [epoch, off] = [k.slice(0, k.lastIndexOf(':')), Number(k.slice(k.lastIndexOf(':') + 1))];
        lost++;
        if (!covered(s.gaps, epoch, off, st.published.get(k)!)) silent++;
      }
    }
    total = { published: total.published + pub.length, delivered: total.delivered + delivered, dup: total.dup + dup, lost: total.lost + lost, gaps: total.gaps + gaps };
    rows.push(`| ${ch} | ${pub.length} | ${delivered} | ${dup} | ${lost} | ${gaps} |`);
  }
  console.log(`\nsoak: ${MINUTES} min, ${CLIENTS} clients (${TRANSPORTS.join('/')}), ${NODES} nodes, Redis broker`);
  console.log(`faults: ${faults.cuts} connection cuts, ${faults.stalls} stalls, ${faults.nodeKills} node SIGKILLs, ${faults.redisRestarts} Redis restarts; publish errors ${publishErrors}`);
  console.log('| channel | published (acked) | delivered | duplicated | lost | gaps reported |\n|---|---|---|---|---|---|\n' + rows.join('\n'));
  console.log(`| total | ${total.published} | ${total.delivered} | ${total.dup} | ${total.lost} | ${total.gaps} |`);
  console.log(silent === 0 ? 'soak: zero silent loss' : `soak: SILENT LOSS of ${silent} (subscriber, publication) pairs`);
  for (const c of clients) c.disconnect?.();
  for (const n of nodes) {
    n.proc?.kill('SIGKILL');
    await n.proxy.close();
  }
  redis.kill('SIGKILL');
  process.exit(silent === 0 && total.dup === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error('soak failed:', err);
  redis?.kill('SIGKILL');
  process.exit(2);
});
