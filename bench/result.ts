import type { RedisCost } from './redis-stats.ts';

/** One row of `npm run bench -- --json`; fields that do not apply to a scenario are null. */
export interface ResultRow {
  scenario: string;
  system: string;
  deliveriesPerSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  kibPerConnection: number | null;
  /** crossnode: what a publication cost Redis over the measured flood (bench/redis-stats.ts). */
  redis?: RedisCost;
  /** With --repeat: the median throughput of the runs used (deliveriesPerSec is the best). */
  medianDeliveriesPerSec?: number;
}

/** A scenario's row for one system plus what a human reading the table should know. */
export interface ScenarioOutcome {
  row: ResultRow;
  /** Context for the table's footnotes (CPU use, losses, …); not part of the JSON. */
  notes: string[];
  /** Set when the run failed; the row's measurements are then null. */
  error?: string;
}

/** Prefix of the note a scenario adds when other processes took a share of the server's core. */
export const CONTENDED_NOTE = 'contended';

export function emptyRow(scenario: string, system: string): ResultRow {
  return { scenario, system, deliveriesPerSec: null, p50Ms: null, p99Ms: null, kibPerConnection: null };
}

/** Checks that an object from another module (bench/turn.ts) has the row shape. */
export function isResultRow(v: unknown): v is ResultRow {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const num = (x: unknown): boolean => x === null || typeof x === 'number';
  return (
    typeof r.scenario === 'string' &&
    typeof r.system === 'string' &&
    num(r.deliveriesPerSec) &&
    num(r.p50Ms) &&
    num(r.p99Ms) &&
    num(r.kibPerConnection)
  );
}

/**
 * Folds repeated runs of one scenario and system into one outcome: the best throughput, the
 * latency pair of the run with the lowest p99, and the median memory — the best case estimates what
 * the system can do when nothing else competes for its core; every run stays visible in the notes.
 * A failure of any run is reported.
 */
export function combineRuns(runs: readonly ScenarioOutcome[]): ScenarioOutcome {
  const first = runs[0];
  if (!first) throw new RangeError('combineRuns needs at least one run');
  if (runs.length === 1) return first;
  // Runs during which other processes took the server's core (see scenarios/fanout.ts) are used
  // only when every run was contended.
  const completed = runs.filter((r) => !r.error);
  const quiet = completed.filter((r) => !r.notes.some((n) => n.startsWith(CONTENDED_NOTE)));
  const ok = quiet.length > 0 ? quiet : completed;
  const row = emptyRow(first.row.scenario, first.row.system);
  const values = (f: (r: ResultRow) => number | null): number[] =>
    ok.map((r) => f(r.row)).filter((v): v is number => v !== null);
  const tput = values((r) => r.deliveriesPerSec);
  if (tput.length) {
    row.deliveriesPerSec = Math.max(...tput);
    const sorted = [...tput].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    row.medianDeliveriesPerSec = Math.round(sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2);
  }
  const byP99 = ok.filter((r) => r.row.p99Ms !== null).sort((a, b) => a.row.p99Ms! - b.row.p99Ms!)[0];
  if (byP99) {
    row.p50Ms = byP99.row.p50Ms;
    row.p99Ms = byP99.row.p99Ms;
  }
  // Redis cost per publication barely moves between runs: the one of the best-throughput run.
  const redis = [...ok].sort((a, b) => (b.row.deliveriesPerSec ?? 0) - (a.row.deliveriesPerSec ?? 0)).find((r) => r.row.redis)?.row.redis;
  if (redis) row.redis = redis;
  const kib = values((r) => r.kibPerConnection).sort((a, b) => a - b);
  if (kib.length) row.kibPerConnection = kib[Math.floor((kib.length - 1) / 2)]!;
  const fmt = (v: number | null): string => (v === null ? '-' : String(v));
  const notes = [
    `${runs.length} runs: ` +
      runs
        .map((r) =>
          r.error
            ? 'failed'
            : `${fmt(r.row.deliveriesPerSec)}/s p50 ${fmt(r.row.p50Ms)} p99 ${fmt(r.row.p99Ms)} KiB ${fmt(r.row.kibPerConnection)}` +
              (quiet.length > 0 && !quiet.includes(r) ? ' (contended, not used)' : ''),
        )
        .join('; '),
    ...runs.flatMap((r, i) => r.notes.map((n) => `run ${i + 1}: ${n}`)),
  ];
  const errors = runs.filter((r) => r.error).map((r) => r.error);
  return errors.length ? { row, notes, error: errors.join('; ') } : { row, notes };
}
