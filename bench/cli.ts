/** Command-line parsing for bench/run.ts, kept pure so it can be tested without running anything. */
import { SYSTEMS, type SystemName } from './loadgen/dialect.ts';

export const SCENARIOS = ['fanout', 'memory', 'turn', 'sfu', 'crossnode', 'fallback', 'server-api', 'webtransport', 'mqtt'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  /** Scenarios to run, in order. @default ['fanout', 'memory', 'fallback'] */
  scenarios: ScenarioName[];
  systems: SystemName[];
  json: boolean;
  /** @default 1000 */
  subscribers: number;
  /** Subscribers of the fallback scenario (`--subscribers` sets both). @default 100 */
  fallbackSubscribers: number;
  /** @default 10000 */
  connections: number;
  /** Throughput and latency phase length. @default 5 */
  seconds: number;
  /** @default 1 */
  warmup: number;
  /** Publishes/s in the latency phase. @default 100 */
  rate: number;
  /** @default 256 */
  window: number;
  /** Subscriber worker processes for fan-out. @default 2 */
  workers: number;
  /** Pin the server to CPU 0 and the load generator to the other CPUs. @default true */
  pin: boolean;
  /** Runs per scenario and system (round-robin); the table keeps the best. @default 1 */
  repeat: number;
  /** Fan-out: skip the throughput phase (profile the fixed-load path alone). @default false */
  latencyOnly: boolean;
  /** Directory for server CPU profiles, when profiling. */
  cpuProf: string | undefined;
  /** Arguments after `turn`, passed to bench/turn.ts. */
  turnArgs: string[];
  /** Arguments after `webtransport`, for bench/webtransport.ts. */
  webtransportArgs: string[];
  /** Arguments after `sfu`, passed to bench/sfu.ts. */
  sfuArgs: string[];
  /** Arguments after `server-api`, passed to bench/server-api.ts. */
  serverApiArgs: string[];
  /** Arguments after `mqtt`, passed to bench/mqtt.ts. */
  mqttArgs: string[];
  /** crossnode: the Redis both nodes use; undefined starts a private redis-server (bench/private-servers.ts). */
  redis: string | undefined;
  /** crossnode: the NATS (with JetStream) the NATS row's nodes use; undefined starts a private nats-server. */
  nats: string | undefined;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: npm run bench -- [fanout|memory|fallback|crossnode|turn ...|sfu ...|server-api ...|mqtt ...] [options]
  --json               print one JSON document {"results": [...]} instead of the table
  --systems a,b        subset of ${SYSTEMS.join(',')} (default: all)
  --subscribers N      fan-out subscribers (default 1000; fallback: 100)
  --connections N      idle connections for the memory scenario (default 10000)
  --seconds S          length of the throughput phase and of the latency phase (default 5)
  --warmup S           warm-up flood before measuring (default 1)
  --rate N             publishes/s in the latency phase (default 100 = 100 K deliveries/s at 1000 subscribers)
  --window N           unacknowledged publishes in flight while flooding (default 256)
  --workers N          subscriber worker processes, 1-2 recommended (default 2)
  --repeat N           run each scenario and system N times, round-robin; the table keeps the best
                       throughput, the lowest-p99 latency pair and the median memory (default 1)
  --latency-only       fan-out: skip the throughput phase (e.g. to profile the fixed-load path)
  --no-pin             do not pin the server to CPU 0 (and the load generator to the others)
  --cpu-prof [DIR]     write a V8 CPU profile of each server child (default DIR .bench-tmp/prof)
  --redis URL          crossnode: the Redis both nodes use (default: a private redis-server started
                       for the run on the load generator's cores, else redis://127.0.0.1:6379)
  --nats URL           crossnode: the NATS (JetStream) of the NATS row (default: a private nats-server
                       on the load generator's cores, else nats://127.0.0.1:4222)
'crossnode' (not in the default set: it needs a Redis) runs fanout over two nodes on Redis for switchboard
and socketio, beside one Switchboard node on the memory broker.
'fallback' runs the fan-out (100 subscribers) with the subscribers on SSE, long polling and WebSocket
for switchboard, and on engine.io polling and WebSocket for socketio.
Without a scenario: fanout, memory and fallback. 'turn' runs bench/turn.ts, 'sfu' bench/sfu.ts and 'server-api'
bench/server-api.ts (gRPC unary, gRPC client streaming and the HTTP API), 'webtransport'
bench/webtransport.ts (WebSocket vs WebTransport streams and datagrams, and under 1 % loss); 'mqtt' bench/mqtt.ts (device →
Mosquitto → MQTT bridge → SDK subscriber, QoS 1 and 0); every later argument goes
to it (--json is honoured here as well).`;

function positiveNumber(flag: string, v: string | undefined, integer: boolean): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} needs a positive ${integer ? 'integer' : 'number'}, got ${v ?? 'nothing'}`);
  }
  return n;
}

export function parseArgs(argv: readonly string[]): BenchOptions {
  const o: BenchOptions = {
    scenarios: [],
    systems: [...SYSTEMS],
    json: false,
    subscribers: 1000,
    fallbackSubscribers: 100,
    connections: 10_000,
    seconds: 5,
    warmup: 1,
    rate: 100,
    window: 256,
    workers: 2,
    pin: true,
    latencyOnly: false,
    repeat: 1,
    cpuProf: undefined,
    turnArgs: [],
    webtransportArgs: [],
    sfuArgs: [],
    serverApiArgs: [],
    mqttArgs: [],
    redis: undefined,
    nats: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string | undefined => argv[++i];
    switch (a) {
      case 'fanout':
      case 'memory':
      case 'crossnode':
      case 'fallback':
        o.scenarios.push(a);
        break;
      case 'sfu':
        o.scenarios.push('sfu');
        o.sfuArgs = argv.slice(i + 1);
        if (o.sfuArgs.includes('--json')) o.json = true; // also seen by sfu.ts
        i = argv.length;
        break;
      case 'server-api':
        o.scenarios.push('server-api');
        o.serverApiArgs = argv.slice(i + 1);
        if (o.serverApiArgs.includes('--json')) o.json = true; // also seen by server-api.ts
        i = argv.length;
        break;
      case 'webtransport':
        o.scenarios.push('webtransport');
        o.webtransportArgs = argv.slice(i + 1);
        if (o.webtransportArgs.includes('--json')) o.json = true; // also seen by webtransport.ts
        i = argv.length;
        break;
      case 'mqtt':
        o.scenarios.push('mqtt');
        o.mqttArgs = argv.slice(i + 1);
        if (o.mqttArgs.includes('--json')) o.json = true; // also seen by mqtt.ts
        i = argv.length;
        break;
      case 'turn':
        o.scenarios.push('turn');
        o.turnArgs = argv.slice(i + 1);
        if (o.turnArgs.includes('--json')) o.json = true; // also seen by turn.ts
        i = argv.length;
        break;
      case '--json':
        o.json = true;
        break;
      case '--systems': {
        const list = (value() ?? '').split(',').filter(Boolean);
        const bad = list.find((s) => !(SYSTEMS as readonly string[]).includes(s));
        if (list.length === 0 || bad !== undefined) throw new UsageError(`--systems takes a list of ${SYSTEMS.join(', ')}; got ${bad ?? 'nothing'}`);
        o.systems = list as SystemName[];
        break;
      }
      case '--subscribers':
        o.subscribers = o.fallbackSubscribers = positiveNumber(a, value(), true);
        break;
      case '--connections':
        o.connections = positiveNumber(a, value(), true);
        break;
      case '--seconds':
        o.seconds = positiveNumber(a, value(), false);
        break;
      case '--warmup': {
        const v = value();
        o.warmup = v === '0' ? 0 : positiveNumber(a, v, false);
        break;
      }
      case '--rate':
        o.rate = positiveNumber(a, value(), false);
        break;
      case '--window':
        o.window = positiveNumber(a, value(), true);
        break;
      case '--workers':
        o.workers = positiveNumber(a, value(), true);
        break;
      case '--repeat':
        o.repeat = positiveNumber(a, value(), true);
        break;
      case '--latency-only':
        o.latencyOnly = true;
        break;
      case '--redis': {
        const v = value();
        if (v === undefined || !/^rediss?:\/\//.test(v)) throw new UsageError(`--redis needs a redis:// URL, got ${v ?? 'nothing'}`);
        o.redis = v;
        break;
      }
      case '--nats': {
        const v = value();
        if (v === undefined || !/^nats:\/\//.test(v)) throw new UsageError(`--nats needs a nats:// URL, got ${v ?? 'nothing'}`);
        o.nats = v;
        break;
      }
      case '--no-pin':
        o.pin = false;
        break;
      case '--cpu-prof': {
        const next = argv[i + 1];
        o.cpuProf = next !== undefined && !next.startsWith('-') && !(SCENARIOS as readonly string[]).includes(next) ? value()! : '.bench-tmp/prof';
        break;
      }
      case '--help':
      case '-h':
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown argument ${a}\n${USAGE}`);
    }
  }
  if (o.scenarios.length === 0) o.scenarios = ['fanout', 'memory', 'fallback'];
  return o;
}
