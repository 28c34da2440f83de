/**
 * Chaos soak: `npm run soak -- --minutes N [--durable] [--clients 24] [--nodes 2] [--channels 4]`.
 * Not part of `npm test`.
 *
 * Starts its own Redis (free port, temp dir) and N nodes (`switchboard start --dev`, Redis broker)
 * as child processes, each behind a TCP fault proxy (test/helpers/fault-proxy.ts). SDK clients
 * (src/client) spread over WebSocket, SSE and long polling subscribe to a few channels and publish
 * numbered messages while the soak injects faults: cut and stall client connections, SIGKILL and
 * restart a node, SIGKILL and restart Redis. Then it judges what every subscriber got against the
 * acknowledged publications after its starting position (scripts/soak-verdict.ts) and prints per
 * channel published / expected / delivered / duplicated / lost (reported, silent) / gaps reported.
 *
 * Default: Redis without persistence, so the restart loses the streams (new epoch) and the run
 * proves nothing is lost *silently*: every miss was reported to the app (exit 1 otherwise).
 * `--durable`: Redis with `--appendonly yes --appendfsync always`, its data dir kept across the
 * restart, so nothing acknowledged may vanish: the run must show zero loss, reported or not, no
 * gap report and no epoch change (exit 1 otherwise). Duplicates fail in both modes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Client } from '../src/client/index.ts';
import { startRedis } from '../test/helpers/cluster-redis.ts';
import { FaultProxy } from '../test/helpers/fault-proxy.ts';
import { freePort } from '../test/helpers/net.ts';
import { reapOnExit } from '../test/helpers/reaper.ts';
import { judge, type ChannelHistory, type Pos, type SubscriberEvent } from './soak-verdict.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string' }, clients: { type: 'string' }, nodes: { type: 'string' }, channels: { type: 'string' }, durable: { type: 'boolean' } }, strict: true });
const MINUTES = Number(values.minutes ?? 2);
const CLIENTS = Number(values.clients ?? 24);
const NODES = Number(values.nodes ?? 2);
const DURABLE = values.durable === true;
const CHANNELS = Array.from({ length: Number(values.channels ?? 4) }, (_, i) => `soak-${i}`);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TRANSPORTS = ['websocket', 'sse', 'poll'] as const;
/** Every acknowledged write is on disk before its reply, and the data dir survives the restart. */
const DURABLE_REDIS_ARGS = ['--appendonly', 'yes', '--appendfsync', 'always'];
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

interface NodeProc {
  name: string;
  port: number;
  proc: ChildProcess | null;
  proxy: FaultProxy;
  proxyPort: number;
}

function startNodeProc(n: NodeProc, redisUrl: string): void {
  n.proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--port', String(n.port), '--host', '127.0.0.1', '--dev'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, SWITCHBOARD_NAME: n.name, SWITCHBOARD_BROKER: 'redis', SWITCHBOARD_REDIS_URL: redisUrl, SWITCHBOARD_ADMIN_SECRET: 'soak', SWITCHBOARD_CLUSTER_SECRET: 'soak-cluster-secret-0123456789', SWITCHBOARD_TURN: '0' },
  });
  reapOnExit(n.proc);
}

const faults = { cuts: 0, stalls: 0, nodeKills: 0, redisRestarts: 0 };

// ---- what the soak records -------------------------------------------------------------------------

interface ChannelRecord {
  /** Epochs in the order first seen (by anyone), which is the order Redis created them. */
  epochs: Set<string>;
  /** Positions acknowledged to publishers. */
  published: Pos[];
  /** Per subscriber, its SDK callbacks in order. */
  subscribers: SubscriberEvent[][];
}
const records = new Map<string, ChannelRecord>(CHANNELS.map((c) => [c, { epochs: new Set(), published: [], subscribers: [] }]));

const clients: Client[] = [];
let publishErrors = 0;

async function main(): Promise<void> {
  const r = await startRedis(DURABLE ? DURABLE_REDIS_ARGS : []);
  const nodes: NodeProc[] = [];
  for (let i = 0; i < NODES; i++) {
    const port = await freePort();
    const proxy = new FaultProxy({ host: '127.0.0.1', port });
    const n: NodeProc = { name: `soak-${i}`, port, proc: null, proxy, proxyPort: await proxy.listen() };
    startNodeProc(n, r.url);
    nodes.push(n);
  }
  for (const n of nodes) await waitPort(n.port);
  log(`redis :${r.port} (${DURABLE ? `durable: appendfsync always, dir ${r.dir}` : 'no persistence'}), nodes ${nodes.map((n) => `${n.name} :${n.port} (proxy :${n.proxyPort})`).join(', ')}`);

  for (let i = 0; i < CLIENTS; i++) {
    const n = nodes[i % nodes.length]!;
    const transport = TRANSPORTS[i % TRANSPORTS.length]!;
    const url = transport === 'websocket' ? `ws://127.0.0.1:${n.proxyPort}/connection/websocket` : `http://127.0.0.1:${n.proxyPort}/connection/${transport}`;
    const client = new Client(url, { transports: [transport] });
    client.on('error', () => {});
    for (const ch of CHANNELS) {
      const rec = records.get(ch)!;
      const events: SubscriberEvent[] = [];
      rec.subscribers.push(events);
      client.subscribe(ch, {
        onPublication: (p) => {
          rec.epochs.add(p.epoch);
          events.push({ kind: 'publication', epoch: p.epoch, offset: p.offset });
        },
        onGap: (g) => {
          rec.epochs.add(g.epoch);
          const ev: SubscriberEvent = { kind: 'gap', epoch: g.epoch };
          if (g.from !== undefined) ev.from = g.from;
          if (g.to !== undefined) ev.to = g.to;
          events.push(ev);
        },
        onSubscribed: (e) => {
          rec.epochs.add(e.epoch);
          events.push({ kind: 'subscribed', epoch: e.epoch, offset: e.offset });
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
      const rec = records.get(ch)!;
      c.publish(ch, { from: i, n: seq }).then(
        (pos) => {
          rec.epochs.add(pos.epoch);
          rec.published.push({ epoch: pos.epoch, offset: pos.offset });
        },
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
        startNodeProc(n, r.url);
        await waitPort(n.port).catch(() => {});
        log(`${n.name} restarted`);
      } else if (round % 11 === 0) {
        log(`SIGKILL Redis, restart on the same port${DURABLE ? ' and data dir' : ' (empty)'}`);
        await r.kill('SIGKILL');
        faults.redisRestarts++;
        await sleep(1500);
        await r.restart();
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
  const history: ChannelHistory[] = [...records].map(([channel, rec]) => ({ channel, epochs: [...rec.epochs], published: rec.published, subscribers: rec.subscribers }));
  const v = judge(history, { durable: DURABLE });
  if (DURABLE && faults.redisRestarts === 0) v.failures.push('no Redis restart happened (run at least 2 minutes): nothing about durability was shown');
  const fmt = (n: number) => n.toLocaleString('en-US');
  const row = (name: string, c: typeof v.total, epochs: string) =>
    `| ${name} | ${epochs} | ${fmt(c.published)} | ${fmt(c.expected)} | ${fmt(c.delivered)} | ${fmt(c.duplicated)} | ${fmt(c.lost)} | ${fmt(c.reported)} | ${fmt(c.silent)} | ${fmt(c.gapReports)} |`;
  console.log(`\nsoak: ${MINUTES} min, ${DURABLE ? 'durable' : 'non-durable'} Redis, ${CLIENTS} clients (${TRANSPORTS.join('/')}), ${NODES} nodes, ${CHANNELS.length} channels`);
  console.log(`faults: ${faults.cuts} connection cuts, ${faults.stalls} stalls, ${faults.nodeKills} node SIGKILLs, ${faults.redisRestarts} Redis restarts; publish errors ${publishErrors}`);
  console.log('| channel | epochs | published (acked) | expected | delivered | duplicated | lost | of which reported | of which silent | gaps reported |\n|---|---|---|---|---|---|---|---|---|---|');
  for (const c of v.channels) console.log(row(c.channel, c, String(c.epochs)));
  console.log(row('total', v.total, ''));
  console.log(`of the reported losses, ${fmt(v.total.reportedAsTail)} were a reset stream's unreceived tail (no range named them); ${fmt(v.total.unacknowledged)} publications were delivered but never acknowledged (their publisher got an error or no reply)`);
  const ok = v.failures.length === 0;
  if (ok) console.log(DURABLE ? 'soak: PASS (durable): zero loss, zero gaps, zero duplicates' : `soak: PASS: zero silent loss, zero duplicates (${fmt(v.total.reported)} pairs lost and reported)`);
  else {
    for (const c of v.channels) {
      for (const x of c.samples) console.log(`  lost on ${c.channel}: subscriber ${x.subscriber} (started at ${x.start.epoch}:${x.start.offset}) never got ${x.publication.epoch}:${x.publication.offset} (${x.reported ? 'reported' : 'not reported'})`);
    }
    console.log(`soak: FAIL (${DURABLE ? 'durable' : 'non-durable'}): ${v.failures.join('; ')}`);
  }
  for (const c of clients) c.disconnect?.();
  for (const n of nodes) {
    n.proc?.kill('SIGKILL');
    await n.proxy.close();
  }
  await r.stop();
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error('soak failed:', err);
  // The reaper's exit hook (test/helpers/reaper.ts) kills Redis and the nodes and removes the dir.
  process.exit(2);
});
