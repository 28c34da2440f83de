/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. `npm run bench -- fanout --cpu-prof`):
 * self time by function and by file, as shares of the busy (non-idle) time, so "where does the
 * server's time go" has a quick answer. Native entries without a URL are C++ (e.g. `writeBuffer`
 * is the socket write, syscall included).
 *
 *   npx tsx bench/profile-summary.ts .bench-tmp/prof/switchboard-*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Entry {
  name: string;
  selfMs: number;
  share: number;
}

export function summarise(profile: Profile, top: number): { byFunction: Entry[]; byFile: Entry[]; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    if (cf.functionName === '(idle)') continue; // waiting in epoll: not where time is spent
    total += us;
    const where = cf.url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, '$1/') || '(native)';
    const name = `${cf.functionName || '(anonymous)'} ${where}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    file.set(where, (file.get(where) ?? 0) + us);
  }
  const rank = (m: Map<string, number>): Entry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: total > 0 ? us / total : 0 }));
  return { byFunction: rank(fn), byFile: rank(file), totalMs: total / 1000 };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const files = args.filter((a, i) => a !== '--top' && !(topAt >= 0 && i === topAt + 1));
  for (const f of files) {
    const s = summarise(JSON.parse(readFileSync(f, 'utf8')) as Profile, top);
    console.log(`${f}: ${s.totalMs.toFixed(0)} ms busy`);
    console.log('  self time by function:');
    for (const e of s.byFunction) console.log(`    ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`);
    console.log('  self time by file:');
    for (const e of s.byFile) console.log(`    ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`);
  }
}
