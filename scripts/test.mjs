#!/usr/bin/env node
// Runs every test file under test/ with node's test runner through tsx.
// Node 20's runner does not expand globs, so the file list is built here and passed explicitly.
// Usage: npm test [-- <substring filter on path>...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('-'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (/\.test\.ts$/.test(name)) out.push(p);
  }
  return out;
}

const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// The SFU's browser tests encode and decode several video streams each (simulcast at 720p): beside
// another file on a 2-core machine they starve it (heartbeats time out in timing-sensitive tests),
// so they run after the rest, one at a time.
const heavy = (f) => /^test\/e2e\/sfu-/.test(f.replaceAll('\\', '/'));
const phases = [
  { files: files.filter((f) => !heavy(f)), concurrency: 2 },
  { files: files.filter(heavy), concurrency: 1 },
].filter((p) => p.files.length > 0);
// --test-force-exit: a test file whose tests are done exits even if a handle (a browser, a socket)
// is still open, so a leak fails that file instead of hanging the whole run.
const argsOf = (p) => ['--import', 'tsx', '--test', `--test-concurrency=${p.concurrency}`, '--test-timeout=120000', '--test-force-exit', ...passthrough, ...p.files];
let failed = false;
let child;
// Each run gets its own process group so the watchdog can end it with everything it started.
const runPhase = (i) => {
  child = spawn(process.execPath, argsOf(phases[i]), { cwd: root, stdio: 'inherit', detached: true });
  child.on('exit', (code, signal) => {
    // Leave nothing behind: browsers or servers a test file failed to stop.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    if (signal || code !== 0) failed = true;
    if (i + 1 < phases.length) runPhase(i + 1);
    else process.exit(failed ? 1 : 0);
  });
};
runPhase(0);
const limitMin = Number(process.env.SWITCHBOARD_TEST_WATCHDOG_MIN ?? 30);
const watchdog = setTimeout(() => {
  console.error(`\nscripts/test.mjs: the test run passed ${limitMin} minutes; ending it and everything it started (a hung test).`);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
  process.exit(1);
}, limitMin * 60_000);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
    process.exit(1);
  });
}

