/**
 * What one publication costs Redis, from two readings of `INFO commandstats stats cpu clients`
 * taken around a flood, and from a short MONITOR sample that tells the commands a client sent from
 * the ones a Lua script ran. Pure: parsing and arithmetic only; bench/redis-observer.ts does the I/O.
 *
 * Why two sources: `INFO commandstats` counts every command Redis executed, including the ones a
 * script runs (Switchboard's publish is one EVALSHA that runs TIME, HGET, HINCRBY, PEXPIRE, PUBLISH
 * and, with history, XADD and a second PEXPIRE), under the command's own name, so a PUBLISH sent
 * by a client and a PUBLISH run by a script land in the same counter. MONITOR marks script
 * commands with the source `lua`, but it slows Redis down, so it only runs on a small paced sample
 * after the measured phases, never during them.
 */

/** One reading of the counters this module needs. */
export interface RedisSnapshot {
  /** Command name (lower case, `client|list` for subcommands) → calls since the last RESETSTAT. */
  calls: Map<string, number>;
  /** `used_cpu_user` + `used_cpu_sys` of the Redis process, µs. */
  cpuUs: number;
  /** `total_reads_processed`: socket reads, so pipelined batches count once. */
  reads: number;
  /** `connected_clients`, to notice other users of a shared Redis. */
  clients: number;
}

/** Commands the observer itself sends, never part of a publication's cost. */
const OBSERVER_COMMANDS = new Set(['info', 'monitor']);

/** `key:value` lines of an INFO reply (section headers and blank lines skipped). */
export function parseInfoFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

/**
 * Calls per command from `INFO commandstats`: lines like
 * `cmdstat_evalsha:calls=1000,usec=…,usec_per_call=…,rejected_calls=0,failed_calls=0`.
 */
export function parseCommandStats(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of parseInfoFields(text)) {
    if (!key.startsWith('cmdstat_')) continue;
    const m = /(?:^|,)calls=(\d+)/.exec(value);
    if (m) out.set(key.slice('cmdstat_'.length).toLowerCase(), Number(m[1]));
  }
  return out;
}

/** A {@link RedisSnapshot} from the reply of `INFO commandstats stats cpu clients`. */
export function parseSnapshot(text: string): RedisSnapshot {
  const f = parseInfoFields(text);
  const num = (k: string): number => {
    const v = Number(f.get(k));
    return Number.isFinite(v) ? v : 0;
  };
  return {
    calls: parseCommandStats(text),
    cpuUs: Math.round((num('used_cpu_user') + num('used_cpu_sys')) * 1e6),
    reads: num('total_reads_processed'),
    clients: num('connected_clients'),
  };
}

/** Calls per command between two readings, commands with no new calls and the observer's own left out. */
export function diffCalls(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [cmd, n] of after) {
    if (OBSERVER_COMMANDS.has(cmd)) continue;
    // A RESETSTAT in between (someone else's test) makes counters go down: count from zero then.
    const b = before.get(cmd) ?? 0;
    const d = n >= b ? n - b : n;
    if (d > 0) out.set(cmd, d);
  }
  return out;
}

/** Commands of a MONITOR sample by origin: sent by a client, or run inside a Lua script. */
export interface MonitorTally {
  client: Map<string, number>;
  script: Map<string, number>;
}

/**
 * Counts MONITOR entries (ioredis `monitor` events: `source` is `ip:port`, `unix:…`, or `lua` for a
 * command a script ran). The observer's own commands are left out.
 */
export function tallyMonitor(entries: Iterable<{ source: string; command: string }>): MonitorTally {
  const t: MonitorTally = { client: new Map(), script: new Map() };
  for (const { source, command } of entries) {
    const cmd = command.toLowerCase();
    if (OBSERVER_COMMANDS.has(cmd)) continue;
    const m = source === 'lua' ? t.script : t.client;
    m.set(cmd, (m.get(cmd) ?? 0) + 1);
  }
  return t;
}

/** What one publication cost Redis; the `--json` field `redis` of a crossnode row. */
export interface RedisCost {
  /** Publications of the measured flood that the counts are divided by. */
  publications: number;
  /** Every command Redis executed, per publication (`INFO commandstats`, script-internal included). */
  commands: number;
  /** Calls per publication by command name, most first. */
  byCommand: Record<string, number>;
  /**
   * The flood's commands per publication split into the ones clients sent and the ones scripts
   * ran, each command's calls divided by its shares in the MONITOR sample (a command the sample
   * did not see counts as sent); null without a sample. The sample is paced, so it batches less
   * than the flood: its shares say which commands are script-run, not how many per publication.
   */
  topLevel: number | null;
  inScript: number | null;
  /** Flood publications per command sent (above 1 when the server batches publications into one call); null without a sample. */
  publicationsPerCommandSent: number | null;
  /** The sample's split by command, per publication: `{"evalsha": {"client": 1, "script": 0}, …}`. */
  sample: { publications: number; byCommand: Record<string, { client: number; script: number }> } | null;
  /** Redis CPU (user + system) per publication, µs. */
  cpuUsPerPublication: number;
  /** Socket reads Redis made per publication (below 1 when clients pipeline). */
  readsPerPublication: number;
}

const per = (n: number, d: number, digits = 3): number => (d > 0 ? Number((n / d).toFixed(digits)) : 0);

function sortedRecord(m: ReadonlyMap<string, number>, divide: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) out[k] = per(v, divide);
  return out;
}

const sum = (m: ReadonlyMap<string, number>): number => [...m.values()].reduce((s, v) => s + v, 0);

/**
 * Folds the readings around the flood (`publications` publishes) and an optional MONITOR sample of
 * `sample.publications` publishes into a {@link RedisCost}.
 */
export function redisCost(
  before: RedisSnapshot,
  after: RedisSnapshot,
  publications: number,
  sample?: { tally: MonitorTally; publications: number },
): RedisCost {
  const calls = diffCalls(before.calls, after.calls);
  const cost: RedisCost = {
    publications,
    commands: per(sum(calls), publications),
    byCommand: sortedRecord(calls, publications),
    topLevel: null,
    inScript: null,
    publicationsPerCommandSent: null,
    sample: null,
    cpuUsPerPublication: per(Math.max(0, after.cpuUs - before.cpuUs), publications, 2),
    readsPerPublication: per(Math.max(0, after.reads - before.reads), publications),
  };
  if (sample && sample.publications > 0) {
    const n = sample.publications;
    let sent = 0;
    for (const [cmd, v] of calls) {
      const c = sample.tally.client.get(cmd) ?? 0;
      const sc = sample.tally.script.get(cmd) ?? 0;
      sent += c + sc > 0 ? (v * c) / (c + sc) : v;
    }
    cost.topLevel = per(sent, publications);
    cost.inScript = per(sum(calls) - sent, publications);
    cost.publicationsPerCommandSent = sent > 0 ? per(publications, sent, 1) : null;
    const names = [...new Set([...sample.tally.client.keys(), ...sample.tally.script.keys()])];
    const total = (c: string): number => (sample.tally.client.get(c) ?? 0) + (sample.tally.script.get(c) ?? 0);
    names.sort((a, b) => total(b) - total(a) || a.localeCompare(b));
    const byCommand: Record<string, { client: number; script: number }> = {};
    for (const c of names) byCommand[c] = { client: per(sample.tally.client.get(c) ?? 0, n), script: per(sample.tally.script.get(c) ?? 0, n) };
    cost.sample = { publications: n, byCommand };
  }
  return cost;
}

/** One line for the table's notes: `7.00 commands/publication: evalsha 1, time 1, …; client 1 + script 6 (MONITOR, 200 publications); …`. */
export function describeRedisCost(c: RedisCost): string {
  const list = Object.entries(c.byCommand)
    .filter(([, v]) => v >= 0.005)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const split =
    c.topLevel !== null && c.inScript !== null && c.sample
      ? `; sent by the node ${c.topLevel} + run inside scripts ${c.inScript} (split by a MONITOR sample of ${c.sample.publications} publications)` +
        (c.publicationsPerCommandSent !== null ? `, ${c.publicationsPerCommandSent} publications per command sent` : '')
      : '';
  return (
    `${c.commands} Redis commands/publication over ${c.publications} publications (${list})${split}; ` +
    `Redis CPU ${c.cpuUsPerPublication} µs and ${c.readsPerPublication} socket reads per publication`
  );
}
