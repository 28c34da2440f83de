/**
 * Machine-wide CPU use per core from /proc/stat (Linux), so a run can show whether something
 * outside the benchmark competed for the server's core. Returns null where /proc is unavailable.
 */
import { readFileSync } from 'node:fs';

/** [busy, total] jiffies per CPU. */
export type CpuTimes = Array<[number, number]>;

export function readCpuTimes(): CpuTimes | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const out: CpuTimes = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    const total = f.reduce((s, x) => s + x, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    out.push([total - idle, total]);
  }
  return out;
}

/** "cpu0 97 %, cpu1 64 %" between two readings, or "" when either is missing. */
export function describeCpuUse(a: CpuTimes | null, b: CpuTimes | null): string {
  if (!a || !b || a.length !== b.length) return '';
  return a
    .map(([busy0, total0], i) => {
      const [busy1, total1] = b[i]!;
      const dt = total1 - total0;
      return `cpu${i} ${dt > 0 ? Math.round(((busy1 - busy0) / dt) * 100) : 0} %`;
    })
    .join(', ');
}

/** Busy fraction (0..1) of CPU `core` between two readings, or null when unknown. */
export function coreBusy(a: CpuTimes | null, b: CpuTimes | null, core: number): number | null {
  const x = a?.[core];
  const y = b?.[core];
  if (!x || !y || y[1] <= x[1]) return null;
  return (y[0] - x[0]) / (y[1] - x[1]);
}
