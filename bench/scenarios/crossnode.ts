/**
 * Cross-node fan-out: the fanout scenario (1 publisher, N subscribers, 100-byte messages, the same
 * flood and fixed-rate phases from fanout.ts) over two server processes sharing one Redis:
 *
 *                  ┌────────── node A ──────────┐        ┌────────── node B ──────────┐
 *   publisher ───▶ │ N/2 subscribers            │        │ N/2 subscribers            │
 *                  └──────────┬─────────────────┘        └──────────▲─────────────────┘
 *                             └──── Redis pub/sub (127.0.0.1:6379) ─┘
 *
 * Variants, each a row of the table:
 * - `switchboard`: two Switchboard nodes on the Redis broker;
 * - `switchboard-nats`: the same two nodes on the NATS broker (JetStream history);
 * - `socketio`: two socket.io 4 servers with `@socket.io/redis-adapter` (ioredis clients);
 * - `switchboard-1node`: the plain fanout scenario (one node, memory broker, all N subscribers),
 *   run in the same invocation as the reference for the cross-node target.
 *
 * Both servers get the CPUs the fanout scenario gives its one server (`serverCpus`, core 0 by
 * default): the cross-node rows measure the same hardware budget doing the extra work of the
 * broker hop. Redis runs where the OS puts it (it is not ours to pin); its CPU use is reported.
 *
 * Around the measured flood the orchestrator reads `INFO commandstats` (and cpu, stats) of Redis;
 * after the latency phase a short paced sample runs under MONITOR to split top-level commands from
 * the ones run inside scripts (bench/redis-stats.ts).
 */
import { randomBytes } from 'node:crypto';
import { dialects } from '../loadgen/dialects/index.ts';
import { WorkerPool } from '../loadgen/pool.ts';
import { Publisher } from '../loadgen/publisher.ts';
import { RedisObserver } from '../redis-observer.ts';
import { describeRedisCost, redisCost, type RedisSnapshot } from '../redis-stats.ts';
import { emptyRow, type ScenarioOutcome } from '../result.ts';
import { ServerProcess } from '../servers/process.ts';
import { writeObserver } from '../write-stats.ts';
import { measurePhases, runFanout, type FanoutOptions, type Phase } from './fanout.ts';

export const CROSSNODE_SYSTEMS = ['switchboard-1node', 'switchboard', 'switchboard-nats', 'socketio'] as const;
export type CrossnodeSystem = (typeof CROSSNODE_SYSTEMS)[number];

/** The default Redis of the scenario (`--redis` overrides it). */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** The default NATS of the `switchboard-nats` row (`--nats` overrides it). */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export interface CrossnodeOptions extends FanoutOptions {
  /** @default DEFAULT_REDIS_URL */
  redisUrl?: string;
  /** @default DEFAULT_NATS_URL */
  natsUrl?: string;
  /** Publishes/s of the MONITOR sample, and its length. @default 200/s for 1 s */
  sampleRate?: number;
  sampleSeconds?: number;
}

const HOST = '127.0.0.1';
const SCENARIO = 'crossnode';

/** The variants to run for the `--systems` given: ws has no cross-node variant. */
export function crossnodeSystems(systems: readonly string[]): CrossnodeSystem[] {
  const out: CrossnodeSystem[] = [];
  if (systems.includes('switchboard')) out.push('switchboard-1node', 'switchboard', 'switchboard-nats');
  if (systems.includes('socketio')) out.push('socketio');
  return out;
}

/** Sums the CPU readings of both nodes, so the fanout phases report (and judge contention of) the pair. */
function bothNodes(a: ServerProcess, b: ServerProcess): Pick<ServerProcess, 'cpu'> {
  return {
    cpu: async () => {
      const [x, y] = await Promise.all([a.cpu(), b.cpu()]);
      return { cpuUs: x.cpuUs + y.cpuUs, sysUs: x.sysUs + y.sysUs };
    },
  };
}

export async function runCrossnode(system: CrossnodeSystem, o: CrossnodeOptions): Promise<ScenarioOutcome> {
  if (system === 'switchboard-1node') {
    const single = await runFanout('switchboard', o);
    return { ...single, row: { ...single.row, scenario: SCENARIO, system } };
  }
  const row = emptyRow(SCENARIO, system);
  const notes: string[] = [];
  const url = o.redisUrl ?? DEFAULT_REDIS_URL;
  const nats = system === 'switchboard-nats';
  let observer: RedisObserver | undefined;
  const nodes: ServerProcess[] = [];
  let pool: WorkerPool | undefined;
  let publisher: Publisher | undefined;
  const prefix = `sbbench${randomBytes(4).toString('hex')}`;
  const natsUrl = o.natsUrl ?? DEFAULT_NATS_URL;
  try {
    // The NATS row has no Redis to observe: its cost is the nodes' CPU, read like the others.
    if (!nats) observer = await RedisObserver.open(url);
    const env: Record<string, string> = nats ? { BENCH_NATS_URL: natsUrl, BENCH_NATS_PREFIX: prefix } : { BENCH_REDIS_URL: url, BENCH_REDIS_PREFIX: prefix };
    const serverOptions = {
      env,
      ...(o.serverCpus ? { cpus: o.serverCpus } : {}),
      ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
    };
    // One at a time: both would otherwise compile the same modules on the same core at once.
    const server = nats ? 'switchboard' : system;
    nodes.push(await ServerProcess.start(server, serverOptions));
    nodes.push(await ServerProcess.start(server, serverOptions));
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    pool = WorkerPool.start(o.workers);
    const t0 = Date.now();
    // Each call splits its count over the workers, so every worker holds subscribers of both nodes.
    const onA = Math.ceil(o.subscribers / 2);
    await pool.open({ system: server, role: 'subscriber', host: HOST, port: a.port, count: onA, concurrency: 50 });
    await pool.open({ system: server, role: 'subscriber', host: HOST, port: b.port, count: o.subscribers - onA, concurrency: 50 });
    o.log(`${system} ×2: ${onA} subscribers on node A, ${o.subscribers - onA} on node B, ready in ${Date.now() - t0} ms`);
    publisher = await Publisher.open(dialects[server], { host: HOST, port: a.port });

    let before: RedisSnapshot | undefined;
    let after: RedisSnapshot | undefined;
    let published = 0;
    let floodWallMs = 0;
    const obs = observer;
    const writes = server === 'switchboard' ? writeObserver([a.port, b.port], notes, 'frames per socket write over the flood, node A; node B') : undefined;
    const phase: Phase = {
      server: bothNodes(a, b),
      pool,
      publisher,
      o,
      notes,
      floodObserver: {
        before: async () => {
          await writes?.before();
          before = await obs?.snapshot();
          floodWallMs = performance.now();
        },
        after: async (n) => {
          floodWallMs = performance.now() - floodWallMs;
          after = await obs?.snapshot();
          published = n;
          await writes?.after();
        },
      },
    };
    await measurePhases(row, phase, `${system} ×2`);

    if (!obs) return { row, notes };
    const pub = publisher;
    const sample = await obs.monitorSample(async () => (await pub.paced(o.sampleRate ?? 200, (o.sampleSeconds ?? 1) * 1000)).published);
    if (before && after && published > 0) {
      row.redis = redisCost(before, after, published, sample);
      notes.push(`redis: ${describeRedisCost(row.redis)}; Redis used ${Math.round(((after.cpuUs - before.cpuUs) / 1000 / Math.max(1, floodWallMs)) * 100)} % of a core over the flood`);
      // Observer + two connections per node (commands and subscriptions) are ours.
      const ours = 1 + 2 * nodes.length;
      if (after.clients > ours) {
        notes.push(`warning: ${after.clients - ours} other client(s) were connected to Redis; their commands are in the counts`);
      }
    } else {
      const s0 = await obs.snapshot();
      const s1 = await obs.snapshot();
      row.redis = redisCost(s0, s1, 0, sample);
      notes.push(`redis (MONITOR sample only, no flood measured): ${describeRedisCost(row.redis)}`);
    }
    return { row, notes };
  } catch (err) {
    return { row, notes, error: err instanceof Error ? err.message : String(err) };
  } finally {
    publisher?.close();
    await pool?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    observer?.close();
    if (nats) await removeNatsStreams(natsUrl, prefix);
  }
}

/** The NATS row's stream and presence bucket (the nodes create them under the run's prefix). */
async function removeNatsStreams(servers: string, prefix: string): Promise<void> {
  const { connect } = await import('nats');
  const nc = await connect({ servers, timeout: 2000 }).catch(() => null);
  if (!nc) return;
  try {
    const jsm = await nc.jetstreamManager();
    for (const name of [`${prefix}_history`, `KV_${prefix}_presence`]) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}
