/** The human-readable report: a table with ratios against socket.io, then the issue's targets. */
import type { ResultRow } from './result.ts';

/** Targets from issue 2. */
export const TARGETS = {
  /** Switchboard deliveries/s ≥ this × socket.io's. */
  throughputVsSocketIo: 20,
  /** p99 publish→deliver latency at 100 K deliveries/s, ms. */
  p99Ms: 5,
  /** Switchboard KiB per idle connection ≤ this × socket.io's. */
  memoryVsSocketIo: 0.5,
} as const;

/** Scenarios whose ratios are not against plain `socketio`: fallback compares with socket.io over long polling. */
const BASELINE_SYSTEM: Readonly<Record<string, string>> = { fallback: 'socketio/polling' };

function baseline(rows: readonly ResultRow[], scenario: string): ResultRow | undefined {
  const system = BASELINE_SYSTEM[scenario] ?? 'socketio';
  return rows.find((r) => r.scenario === scenario && r.system === system);
}

/**
 * Fallback scenario: Switchboard's SSE and long-polling rows against socket.io over long polling,
 * deliveries/s and p99 (the table's ratio column holds the deliveries/s ratio for every row).
 */
export function renderFallbackRatios(rows: readonly ResultRow[]): string[] {
  const base = baseline(rows, 'fallback');
  if (!base) return [];
  return rows
    .filter((r) => r.scenario === 'fallback' && r !== base && r.system.startsWith('switchboard/') && !r.system.endsWith('/ws'))
    .map((r) => {
      const tput = r.deliveriesPerSec !== null && base.deliveriesPerSec ? `${(r.deliveriesPerSec / base.deliveriesPerSec).toFixed(2)}× the deliveries/s` : 'deliveries/s not comparable';
      const p99 = r.p99Ms !== null && base.p99Ms ? `${(r.p99Ms / base.p99Ms).toFixed(2)}× the p99` : 'p99 not comparable';
      return `${r.system} vs ${base.system}: ${tput}, ${p99}`;
    });
}

/** deliveries/s ratio for throughput rows, KiB ratio for memory rows; null when not comparable. */
export function ratioVsSocketIo(row: ResultRow, rows: readonly ResultRow[]): number | null {
  const base = baseline(rows, row.scenario);
  if (!base) return null;
  if (row.deliveriesPerSec !== null && base.deliveriesPerSec) return row.deliveriesPerSec / base.deliveriesPerSec;
  if (row.kibPerConnection !== null && base.kibPerConnection) return row.kibPerConnection / base.kibPerConnection;
  return null;
}

const fmt = (v: number | null, digits = 0): string =>
  v === null ? '-' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function renderTable(rows: readonly ResultRow[]): string {
  const header = ['system', 'scenario', 'deliveries/s', 'p50 ms', 'p99 ms', 'KiB/conn', 'vs socket.io'];
  const body = rows.map((r) => {
    const ratio = ratioVsSocketIo(r, rows);
    return [r.system, r.scenario, fmt(r.deliveriesPerSec), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.kibPerConnection, 2), ratio === null ? '-' : `${ratio.toFixed(2)}×`];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i < 2 ? `${'-'.repeat(w + 1)}-` : `-${'-'.repeat(w)}:`)).join('|')}|`, ...body.map(line)].join('\n');
}

/** One line per target that this run can judge. */
export function renderTargets(rows: readonly ResultRow[]): string[] {
  const out: string[] = [];
  const sb = (scenario: string): ResultRow | undefined => rows.find((r) => r.scenario === scenario && r.system === 'switchboard');
  const fan = sb('fanout');
  const mem = sb('memory');
  const check = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  if (fan) {
    const ratio = ratioVsSocketIo({ ...fan, kibPerConnection: null }, rows);
    if (ratio !== null) out.push(`deliveries/s ≥ ${TARGETS.throughputVsSocketIo}× socket.io: ${ratio.toFixed(1)}× — ${check(ratio >= TARGETS.throughputVsSocketIo)}`);
    if (fan.p99Ms !== null) out.push(`p99 ≤ ${TARGETS.p99Ms} ms at the fixed load: ${fan.p99Ms.toFixed(2)} ms — ${check(fan.p99Ms <= TARGETS.p99Ms)}`);
  }
  if (mem) {
    const ratio = ratioVsSocketIo(mem, rows);
    if (ratio !== null) out.push(`idle memory ≤ ${TARGETS.memoryVsSocketIo}× socket.io: ${ratio.toFixed(2)}× — ${check(ratio <= TARGETS.memoryVsSocketIo)}`);
  }
  return out;
}

/** Targets from issue 4: Switchboard across two nodes on Redis. */
export const CROSSNODE_TARGETS = {
  /** Cross-node deliveries/s ≥ this × one node on the memory broker (same run, same subscribers). */
  vsSingleNode: 0.8,
  /** Cross-node deliveries/s ≥ this × socket.io with @socket.io/redis-adapter, same topology. */
  vsSocketIoRedis: 10,
} as const;

/** One line per cross-node target this run can judge. */
export function renderCrossnodeTargets(rows: readonly ResultRow[]): string[] {
  const get = (system: string): ResultRow | undefined => rows.find((r) => r.scenario === 'crossnode' && r.system === system);
  const cross = get('switchboard')?.deliveriesPerSec;
  if (!cross) return [];
  const out: string[] = [];
  const check = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  const one = get('switchboard-1node');
  const single = one?.deliveriesPerSec;
  if (single) {
    const r = cross / single;
    // With --repeat, the medians too: single runs spread by ±20 % on a small VM, best-of-N less.
    const crossMedian = get('switchboard')?.medianDeliveriesPerSec;
    const median = crossMedian && one.medianDeliveriesPerSec ? `; median against median ${(crossMedian / one.medianDeliveriesPerSec).toFixed(2)}×` : '';
    out.push(`cross-node deliveries/s ≥ ${CROSSNODE_TARGETS.vsSingleNode}× one node (memory broker): ${r.toFixed(2)}× — ${check(r >= CROSSNODE_TARGETS.vsSingleNode)}${median}`);
    const natsRow = get('switchboard-nats');
    if (natsRow?.deliveriesPerSec) {
      const n = natsRow.deliveriesPerSec / single;
      const natsMedian = natsRow.medianDeliveriesPerSec && one.medianDeliveriesPerSec ? `; median against median ${(natsRow.medianDeliveriesPerSec / one.medianDeliveriesPerSec).toFixed(2)}×` : '';
      out.push(`the same bar over NATS (JetStream): ${n.toFixed(2)}× one node — ${check(n >= CROSSNODE_TARGETS.vsSingleNode)}${natsMedian}`);
    }
  }
  const sio = get('socketio')?.deliveriesPerSec;
  if (sio) {
    const r = cross / sio;
    out.push(`cross-node deliveries/s ≥ ${CROSSNODE_TARGETS.vsSocketIoRedis}× socket.io + redis-adapter: ${r.toFixed(1)}× — ${check(r >= CROSSNODE_TARGETS.vsSocketIoRedis)}`);
  }
  return out;
}

/** One line per row that measured its Redis cost: total, by command, and the client/script split. */
export function renderRedisCost(rows: readonly ResultRow[]): string[] {
  return rows.flatMap((r) => {
    const c = r.redis;
    if (!c) return [];
    const byCommand = Object.entries(c.byCommand)
      .filter(([, v]) => v >= 0.005)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const split = c.topLevel !== null && c.inScript !== null ? `: ${c.topLevel} sent by the server + ${c.inScript} inside scripts` + (c.publicationsPerCommandSent !== null ? `, ${c.publicationsPerCommandSent} publications per command sent` : '') : '';
    return [`${r.system}: ${c.commands} commands${split} (${byCommand || 'none'}); Redis CPU ${c.cpuUsPerPublication} µs/publication`];
  });
}
