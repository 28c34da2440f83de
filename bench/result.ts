/** One row of `npm run bench -- --json`; fields that do not apply to a scenario are null. */
export interface ResultRow {
  scenario: string;
  system: string;
  deliveriesPerSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  kibPerConnection: number | null;
}

/** A scenario's row for one system plus what a human reading the table should know. */
export interface ScenarioOutcome {
  row: ResultRow;
  /** Context for the table's footnotes (CPU use, losses, …); not part of the JSON. */
  notes: string[];
  /** Set when the run failed; the row's measurements are then null. */
  error?: string;
}

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
