/**
 * Child processes and temp dirs that must not outlive the test process — also when a runner
 * timeout or ^C ends it by signal (the signal handlers exit normally so the 'exit' hook runs).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Map<ChildProcess, NodeJS.Signals>();
const dirs = new Set<string>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(1));
  process.once('exit', () => {
    for (const [c, signal] of live) c.kill(signal);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

/** Kills `proc` with `signal` at exit unless it has exited by then. */
export function reapOnExit(proc: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  hook();
  live.set(proc, signal);
  proc.once('exit', () => live.delete(proc));
}

/** A fresh temp dir, removed at exit unless `removeDir` removed it first. */
export function tempDir(prefix: string): string {
  hook();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}
