/**
 * `npm run bench` — Switchboard against socket.io 4 and a plain `ws` broadcast, in one run.
 * See bench/README.md for the method and its pitfalls. Progress goes to stderr; the table (or,
 * with --json, one JSON document) goes to stdout. Exits 1 if any system failed a scenario.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { mkdirSync } from 'node:fs';
import { parseArgs, UsageError, type BenchOptions } from './cli.ts';
import { combineRuns, isResultRow, type ResultRow, type ScenarioOutcome } from './result.ts';
import type { SystemName } from './loadgen/dialect.ts';
import { runFanout, type FanoutOptions } from './scenarios/fanout.ts';
import { crossnodeSystems, DEFAULT_NATS_URL, DEFAULT_REDIS_URL, runCrossnode } from './scenarios/crossnode.ts';
import { startPrivateNats, startPrivateRedis, type PrivateServer } from './private-servers.ts';
import { fallbackVariants, runFallback } from './scenarios/fallback.ts';
import { runMemory } from './scenarios/memory.ts';
import { renderCrossnodeTargets, renderFallbackRatios, renderRedisCost, renderTable, renderTargets } from './table.ts';
import { run as runTurnBench } from './turn.ts';
import { run as runSfuBench } from './sfu.ts';
import { renderGoals as renderWebTransportGoals, run as runWebTransportBench } from './webtransport.ts';
import { render as renderServerApi, run as runServerApiBench, type ServerApiRow } from './server-api.ts';
import { render as renderMqtt, run as runMqttBench, type MqttRow } from './mqtt.ts';

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

/**
 * Pins this process (and so the workers it forks) to every CPU but 0, and returns the CPU list for
 * the server ("0"), so the server gets one core to itself and never competes with its load.
 */
function pinCpus(enabled: boolean): string | undefined {
  const cpus = availableParallelism();
  if (!enabled || cpus < 2) return undefined;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', `1-${cpus - 1}`, String(process.pid)], { stdio: 'ignore' });
    return '0';
  } catch {
    log('taskset unavailable: server and load generator are not pinned');
    return undefined;
  }
}

/** The TURN benchmark (ours vs coturn with the same turnutils_uclient load): bench/turn.ts. */
async function runTurn(args: string[]): Promise<ResultRow[]> {
  const rows: unknown = await runTurnBench(args);
  if (!Array.isArray(rows) || !rows.every(isResultRow)) throw new Error('bench/turn.ts run() did not return result rows');
  return rows;
}

/** The systems (or, for crossnode and fallback, variants) a scenario runs, each with how to run it once. */
function variants(o: BenchOptions, serverCpus: string | undefined, scenario: 'fanout' | 'memory' | 'crossnode' | 'fallback'): Array<[string, () => Promise<ScenarioOutcome>]> {
  if (scenario === 'fallback') {
    return fallbackVariants(o.systems).map((v) => [v.label, () => runFallback(v, { ...fanoutOptions(o, serverCpus), subscribers: o.fallbackSubscribers })]);
  }
  if (scenario === 'crossnode') {
    return crossnodeSystems(o.systems).map((v) => [v, () => runCrossnode(v, { ...fanoutOptions(o, serverCpus), redisUrl: o.redis ?? DEFAULT_REDIS_URL, natsUrl: o.nats ?? DEFAULT_NATS_URL })]);
  }
  return o.systems.map((s) => [s, () => runOne(o, serverCpus, scenario, s)]);
}

/** One run of a scenario on one system, with the CLI's options. */
function runOne(o: BenchOptions, serverCpus: string | undefined, scenario: 'fanout' | 'memory', system: SystemName): Promise<ScenarioOutcome> {
  const pin = serverCpus ? { serverCpus } : {};
  if (scenario === 'memory') return runMemory(system, { connections: o.connections, ...pin, log });
  return runFanout(system, fanoutOptions(o, serverCpus));
}

function fanoutOptions(o: BenchOptions, serverCpus: string | undefined): FanoutOptions {
  const pin = serverCpus ? { serverCpus } : {};
  return {
    subscribers: o.subscribers,
    seconds: o.seconds,
    warmupSeconds: o.warmup,
    rate: o.rate,
    window: o.window,
    workers: o.workers,
    skipThroughput: o.latencyOnly,
    ...pin,
    ...(o.cpuProf ? { cpuProfDir: o.cpuProf } : {}),
    log,
  };
}

async function main(o: BenchOptions): Promise<number> {
  const serverCpus = pinCpus(o.pin);
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average ${load}`);
  if (loadavg()[0]! > 0.5) log('warning: the machine is not idle; other processes compete with the benchmark');
  if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });
  const outcomes: ScenarioOutcome[] = [];
  const failures: string[] = [];
  const serverApiRows: ServerApiRow[] = [];
  const mqttRows: MqttRow[] = [];
  for (const scenario of o.scenarios) {
    if (scenario === 'sfu') {
      try {
        for (const row of await runSfuBench(o.sfuArgs)) {
          outcomes.push({ row, notes: [], ...(row.error ? { error: row.error } : {}) });
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`sfu FAILED: ${message}`);
        failures.push(`sfu: ${message}`);
      }
      continue;
    }
    if (scenario === 'server-api') {
      try {
        const apiRows = await runServerApiBench(o.serverApiArgs);
        serverApiRows.push(...apiRows);
        for (const row of apiRows) outcomes.push({ row, notes: [], ...(row.error ? { error: row.error } : {}) });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`server-api FAILED: ${message}`);
        failures.push(`server-api: ${message}`);
      }
      continue;
    }
    if (scenario === 'webtransport') {
      try {
        for (const { notes, error, ...row } of await runWebTransportBench(o.webtransportArgs)) outcomes.push({ row, notes, ...(error ? { error } : {}) });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`webtransport FAILED: ${message}`);
        failures.push(`webtransport: ${message}`);
      }
      continue;
    }
    if (scenario === 'mqtt') {
      try {
        const rows = await runMqttBench(o.mqttArgs);
        mqttRows.push(...rows);
        for (const row of rows) outcomes.push({ row, notes: [], ...(row.error ? { error: row.error } : {}) });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`mqtt FAILED: ${message}`);
        failures.push(`mqtt: ${message}`);
      }
      continue;
    }
    if (scenario === 'turn') {
      try {
        for (const row of await runTurn(o.turnArgs)) outcomes.push({ row, notes: [] });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`turn FAILED: ${message}`);
        failures.push(`turn: ${message}`);
      }
      continue;
    }
    const own: PrivateServer[] = [];
    let so = o;
    if (scenario === 'crossnode' && o.redis === undefined) {
      const r = await startPrivateRedis();
      if (r) own.push(r);
      log(r ? `crossnode: private redis-server at ${r.url} (on the load generator's cores)` : `crossnode: redis-server not found; using ${DEFAULT_REDIS_URL}`);
      so = { ...so, redis: r?.url ?? DEFAULT_REDIS_URL };
    }
    if (scenario === 'crossnode' && o.nats === undefined && o.systems.includes('switchboard')) {
      const n = await startPrivateNats();
      if (n) own.push(n);
      log(n ? `crossnode: private nats-server at ${n.url} (on the load generator's cores)` : `crossnode: nats-server not found; using ${DEFAULT_NATS_URL}`);
      so = { ...so, nats: n?.url ?? DEFAULT_NATS_URL };
    }
    // Repeats go round-robin over the systems, so a noisy spell on a shared machine hits them alike.
    const runners = variants(so, serverCpus, scenario);
    const runs = new Map<string, ScenarioOutcome[]>(runners.map(([s]) => [s, []]));
    for (let r = 0; r < o.repeat; r++) {
      for (const [system, runIt] of runners) {
        log(`${scenario}: ${system}${o.repeat > 1 ? ` (run ${r + 1}/${o.repeat})` : ''}`);
        const outcome = await runIt();
        if (outcome.error) log(`${scenario} ${system} FAILED: ${outcome.error}`);
        for (const n of outcome.notes) log(`${scenario} ${system}: ${n}`);
        runs.get(system)!.push(outcome);
      }
    }
    for (const [system] of runners) outcomes.push(combineRuns(runs.get(system)!));
    await Promise.all(own.map((x) => x.stop()));
  }

  const rows = outcomes.map((x) => x.row);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ results: rows }, null, 2)}\n`);
  } else {
    const lines = [renderTable(rows), ''];
    if (serverApiRows.length > 0) lines.push('Server API (publishes/s in the deliveries/s column):', renderServerApi(serverApiRows), '');
    if (mqttRows.length > 0) lines.push('MQTT bridge (messages/s at the web subscriber in the deliveries/s column; p50/p99 at the paced rate):', renderMqtt(mqttRows), '');
    const targets = renderTargets(rows);
    if (targets.length > 0) lines.push('Targets (issue 2):', ...targets.map((t) => `  ${t}`), '');
    const crossTargets = renderCrossnodeTargets(rows);
    if (crossTargets.length > 0) lines.push('Targets (issue 4, cross-node over Redis):', ...crossTargets.map((t) => `  ${t}`), '');
    const fallback = renderFallbackRatios(rows);
    if (fallback.length > 0) lines.push('Fallback transports (ratio column: vs socketio/polling):', ...fallback.map((t) => `  ${t}`), '');
    const wtGoals = renderWebTransportGoals(rows);
    if (wtGoals.length > 0) lines.push('Targets (issue 14, WebTransport):', ...wtGoals.map((t) => `  ${t}`), '');
    const redisCost = renderRedisCost(rows);
    if (redisCost.length > 0) lines.push('Redis commands per publication (measured flood; split from a MONITOR sample):', ...redisCost.map((t) => `  ${t}`), '');
    const notes = [
      ...failures,
      ...outcomes.flatMap((x) => [
      ...(x.error ? [`${x.row.scenario} ${x.row.system}: FAILED: ${x.error}`] : []),
        ...x.notes.map((n) => `${x.row.scenario} ${x.row.system}: ${n}`),
      ]),
    ];
    if (notes.length > 0) lines.push('Notes:', ...notes.map((n) => `  ${n}`));
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return failures.length > 0 || outcomes.some((x) => x.error) ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let options: BenchOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  main(options).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
