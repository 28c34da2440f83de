/**
 * `npm run fuzz [-- --runs N] [--target NAME...] [--seed S] [--minutes M]` — coverage-guided fuzzing
 * of every network decoder (test/fuzz/targets.ts) with the V8-coverage engine (test/fuzz/engine.ts).
 * Defaults to 1,000,000 inputs per target. Crash and hang inputs are written to test/fuzz/corpus/
 * <target>/ so that `npm test` replays them as regression cases. Exit code 1 if anything crashed.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { fuzz } from '../test/fuzz/engine.ts';
import { targets } from '../test/fuzz/targets.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string' }, target: { type: 'string', multiple: true }, seed: { type: 'string' }, minutes: { type: 'string' } },
  strict: true,
});
const runs = Number(values.runs ?? 1_000_000);
const maxMs = values.minutes ? Number(values.minutes) * 60_000 : 0;
const chosen = values.target?.length ? targets.filter((t) => values.target!.includes(t.name)) : targets;
if (chosen.length === 0) {
  console.error(`no such target; targets: ${targets.map((t) => t.name).join(', ')}`);
  process.exit(2);
}
const crashDir = fileURLToPath(new URL('../test/fuzz/corpus/', import.meta.url));
let failed = false;
const rows: string[] = [];
for (const t of chosen) {
  const seed = values.seed ? Number(values.seed) : Date.now() & 0x7fffffff;
  console.log(`fuzz: ${t.name} — ${t.description} (seed ${seed})`);
  const s = await fuzz(t, {
    runs,
    maxMs,
    seed,
    crashDir,
    onProgress: (p) => process.stdout.write(`  ${p.runs.toLocaleString('en')} inputs, ${Math.round(p.runs / (p.ms / 1000)).toLocaleString('en')}/s, corpus ${p.corpus}, blocks ${p.coverage}, crashes ${p.crashes.length}\r`),
  });
  process.stdout.write('\n');
  for (const c of s.crashes) console.log(`  CRASH ${c.file ?? ''}\n    ${c.error.split('\n').slice(0, 4).join('\n    ')}`);
  if (s.crashes.length > 0) failed = true;
  rows.push(`| ${t.name} | ${s.runs.toLocaleString('en')} | ${s.corpus} | ${s.coverage} | ${s.crashes.length} | ${(s.ms / 1000).toFixed(0)} s |`);
}
console.log('\n| target | inputs | corpus | blocks covered | crashes | time |\n|---|---|---|---|---|---|\n' + rows.join('\n'));
process.exit(failed ? 1 : 0);
