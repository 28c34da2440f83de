/**
 * A small coverage-guided fuzzer for JavaScript decoders, driven by V8's own block coverage.
 *
 * Why not Jazzer.js: `@jazzer.js/core` 4.0.0 installs from npm, but its prebuilt libFuzzer addon
 * needs glibc 2.38 (Debian 12 has 2.36); 2.1.0 fetches its prebuilds from GitHub releases (outside
 * the registry) or builds them with cmake. libFuzzer itself does not apply to JS. V8 already counts
 * every basic block when precise coverage is on (`Profiler.startPreciseCoverage`, reachable
 * in-process through `node:inspector`), which is all a corpus-evolving fuzzer needs.
 *
 * The loop (AFL/libFuzzer in miniature):
 *   pick a corpus entry → mutate it (bit/byte flips, interesting values, dictionary tokens,
 *   insert/delete/duplicate ranges, splice with another entry) → run the target → if the batch
 *   reached a block never seen before, replay its inputs one by one to find which, and keep those
 *   in the corpus.
 * Coverage is read once per batch of inputs (a read costs about a millisecond; a decoder call a few
 * microseconds), so the cost per input stays near the decoder's own.
 *
 * A crash is any exception the target does not declare as expected. A hang is caught by a watchdog
 * thread: the current input is mirrored into shared memory before each call, and if the main thread
 * makes no progress for `hangMs` the watchdog saves that input and kills the process.
 */
import { createHash } from 'node:crypto';
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface FuzzTarget {
  name: string;
  /** What it decodes and where those bytes come from. */
  description: string;
  /** Starting corpus. */
  seeds: Buffer[];
  /** Tokens the mutator may insert (field names, markers, magic numbers). */
  dictionary: Buffer[];
  /** Largest input generated. @default 4096 */
  maxLength?: number;
  /** Runs one input; throws only on a bug (expected decode errors are caught inside). */
  run(input: Buffer): void | Promise<void>;
}

export interface FuzzOptions {
  /** Inputs to run. */
  runs: number;
  /** Stop after this many ms even if `runs` is not reached (0: no limit). @default 0 */
  maxMs?: number;
  /** Inputs per coverage read. @default 256 */
  batch?: number;
  /** Where crash/hang inputs are written (`<dir>/<target>/crash-<sha1>`); none when absent. */
  crashDir?: string;
  /** Seed for the PRNG, so a run can be repeated. @default Date.now() */
  seed?: number;
  /** ms without progress that counts as a hang. @default 10000 */
  hangMs?: number;
  /** Progress callback, about every 2 s. */
  onProgress?(s: FuzzStats): void;
}

export interface FuzzStats {
  target: string;
  runs: number;
  corpus: number;
  /** Distinct covered blocks of the files of interest. */
  coverage: number;
  crashes: Array<{ input: Buffer; error: string; file?: string }>;
  ms: number;
}

/** Files whose blocks count as coverage: our sources and the msgpack decoder we depend on. */
const INTERESTING = /\/src\/|\/node_modules\/msgpackr\//;

/** xorshift32: fast, seedable, good enough for mutation choices. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (this.s = x >>> 0);
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x7e, 0xfe, 0x20, 0x0a, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x30, 0x39, 0x2d, 0xc0, 0xc1];
const INTERESTING_16 = [0, 1, 125, 126, 127, 128, 255, 256, 0x7fff, 0x8000, 0xffff];

export class Mutator {
  constructor(
    private readonly rng: Rng,
    private readonly dict: Buffer[],
    private readonly maxLength: number,
  ) {}

  mutate(base: Buffer, other: Buffer): Buffer {
    let b: Buffer = Buffer.from(base);
    const rounds = 1 + this.rng.below(4);
    for (let i = 0; i < rounds; i++) b = this.once(b, other);
    return b.length > this.maxLength ? b.subarray(0, this.maxLength) : b;
  }

  private once(b: Buffer, other: Buffer): Buffer {
    const r = this.rng;
    const pos = r.below(b.length + 1);
    switch (r.below(12)) {
      case 0: // flip a bit
        if (b.length > 0) b[r.below(b.length)]! ^= 1 << r.below(8);
        return b;
      case 1: // interesting byte
        if (b.length > 0) b[r.below(b.length)] = INTERESTING_BYTES[r.below(INTERESTING_BYTES.length)]!;
        return b;
      case 2: // random byte
        if (b.length > 0) b[r.below(b.length)] = r.below(256);
        return b;
      case 3: { // interesting 16-bit value, either endianness
        if (b.length < 2) return b;
        const at = r.below(b.length - 1);
        const v = INTERESTING_16[r.below(INTERESTING_16.length)]!;
        if (r.below(2)) b.writeUInt16BE(v, at);
        else b.writeUInt16LE(v, at);
        return b;
      }
      case 4: // insert a dictionary token
      case 5: {
        if (this.dict.length === 0) return b;
        const t = this.dict[r.below(this.dict.length)]!;
        return Buffer.concat([b.subarray(0, pos), t, b.subarray(pos)]);
      }
      case 6: { // delete a range
        const len = 1 + r.below(Math.min(16, Math.max(1, b.length - pos)));
        return Buffer.concat([b.subarray(0, pos), b.subarray(pos + len)]);
      }
      case 7: { // duplicate a range
        const len = 1 + r.below(Math.min(64, Math.max(1, b.length - pos)));
        const chunk = b.subarray(pos, pos + len);
        const reps = 1 + r.below(r.below(4) === 0 ? 64 : 3);
        return Buffer.concat([b.subarray(0, pos), ...Array.from({ length: reps }, () => chunk), b.subarray(pos)]);
      }
      case 8: { // insert random bytes
        const n = 1 + r.below(8);
        const x = Buffer.alloc(n);
        for (let i = 0; i < n; i++) x[i] = r.below(256);
        return Buffer.concat([b.subarray(0, pos), x, b.subarray(pos)]);
      }
      case 9: // truncate
        return b.subarray(0, pos);
      case 10: { // splice with another corpus entry
        const at = r.below(other.length + 1);
        return Buffer.concat([b.subarray(0, pos), other.subarray(at)]);
      }
      default: { // overwrite with a copy of a range of itself
        if (b.length < 2) return b;
        const from = r.below(b.length);
        const len = 1 + r.below(Math.min(8, b.length - from));
        b.copy(b, r.below(b.length), from, from + len);
        return b;
      }
    }
  }
}

/** V8 block coverage of the interesting files since the last read (counts reset on each read). */
class Coverage {
  private readonly session = new Session();
  readonly seen = new Set<string>();

  start(): void {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    this.read(); // reset
  }

  stop(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.post('Profiler.disable');
    this.session.disconnect();
  }

  /** Blocks executed since the last read. */
  read(): string[] {
    const res = this.post('Profiler.takePreciseCoverage') as { result: Array<{ scriptId: string; url: string; functions: Array<{ ranges: Array<{ startOffset: number; endOffset: number; count: number }> }> }> };
    const out: string[] = [];
    for (const script of res.result) {
      if (!INTERESTING.test(script.url)) continue;
      for (const f of script.functions) {
        for (const r of f.ranges) if (r.count > 0) out.push(`${script.scriptId}:${r.startOffset}:${r.endOffset}`);
      }
    }
    return out;
  }

  /** Adds blocks to the seen set; returns how many were new. */
  merge(blocks: string[]): number {
    let n = 0;
    for (const b of blocks) {
      if (!this.seen.has(b)) {
        this.seen.add(b);
        n++;
      }
    }
    return n;
  }

  private post(method: string, params?: object): unknown {
    let result: unknown;
    let error: Error | null = null;
    // In-process sessions answer synchronously.
    this.session.post(method, params ?? {}, (err, r) => {
      error = err;
      result = r;
    });
    if (error) throw error;
    return result;
  }
}

/**
 * One coverage session per process, started when this module is loaded. V8 only gives block
 * counters to functions compiled after precise coverage starts, so it must start before any
 * decoder runs (importing this module before the targets does that).
 */
let shared: Coverage | null = null;
function sharedCoverage(): Coverage {
  if (!shared) {
    shared = new Coverage();
    shared.start();
  }
  return shared;
}
sharedCoverage();

const MAX_INPUT_MIRROR = 1 << 16;

/** A watchdog thread that saves the current input and kills the process when the fuzz loop stalls. */
class Watchdog {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(8));
  private readonly data = new Uint8Array(new SharedArrayBuffer(MAX_INPUT_MIRROR));
  private readonly worker: Worker | null;
  private beats = 0;

  constructor(hangMs: number, file: string | null) {
    const code = `
      const { workerData } = require('node:worker_threads');
      const fs = require('node:fs');
      const { ctrl, data, hangMs, file } = workerData;
      let last = -1, since = Date.now();
      setInterval(() => {
        const beat = Atomics.load(ctrl, 0);
        if (beat !== last) { last = beat; since = Date.now(); return; }
        if (Date.now() - since < hangMs) return;
        const len = Atomics.load(ctrl, 1);
        if (file) { fs.mkdirSync(require('node:path').dirname(file), { recursive: true }); fs.writeFileSync(file, Buffer.from(data.slice(0, len))); }
        process.stderr.write('fuzz: HANG (no progress for ' + hangMs + ' ms)' + (file ? '; input saved to ' + file : '') + '\\n');
        process.kill(process.pid, 'SIGKILL');
      }, Math.min(500, hangMs / 4)).unref();
    `;
    this.worker = new Worker(code, { eval: true, workerData: { ctrl: this.ctrl, data: this.data, hangMs, file } });
    this.worker.unref();
  }

  /** Mirrors the input about to run and signals progress. */
  beat(input: Buffer): void {
    const n = Math.min(input.length, MAX_INPUT_MIRROR);
    this.data.set(input.subarray(0, n));
    Atomics.store(this.ctrl, 1, n);
    Atomics.store(this.ctrl, 0, ++this.beats);
  }

  stop(): Promise<number> {
    return this.worker?.terminate() ?? Promise.resolve(0);
  }
}

function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex').slice(0, 16);
}

/** Runs `target` on `input`, returning the error message of a crash or null. */
async function exec(target: FuzzTarget, input: Buffer): Promise<string | null> {
  try {
    const r = target.run(input);
    if (r instanceof Promise) await r;
    return null;
  } catch (err) {
    return err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
  }
}

/** Fuzzes one target. Resolves with statistics; crashes are collected (and saved), not thrown. */
export async function fuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzStats> {
  const started = Date.now();
  const rng = new Rng(opts.seed ?? Date.now());
  const batch = opts.batch ?? 256;
  const maxLength = target.maxLength ?? 4096;
  const mutator = new Mutator(rng, target.dictionary, maxLength);
  const corpus: Buffer[] = target.seeds.length > 0 ? [...target.seeds] : [Buffer.alloc(0)];
  const stats: FuzzStats = { target: target.name, runs: 0, corpus: 0, coverage: 0, crashes: [], ms: 0 };
  const crashFile = (input: Buffer) => (opts.crashDir ? join(opts.crashDir, target.name, `crash-${sha1(input)}`) : undefined);
  const dog = new Watchdog(opts.hangMs ?? 10_000, opts.crashDir ? join(opts.crashDir, target.name, 'hang-current') : null);
  const cov = sharedCoverage();
  cov.seen.clear();
  const seenCrash = new Set<string>();

  const record = (input: Buffer, error: string) => {
    // One report per place: the error's class and its top stack frames, not its (input-specific) message.
    const lines = error.split('\n');
    const key = lines[0]!.split(':')[0] + '@' + lines.filter((l) => /^\s+at /.test(l)).slice(0, 3).join('|');
    if (seenCrash.has(key)) return;
    seenCrash.add(key);
    const file = crashFile(input);
    if (file) {
      mkdirSync(join(opts.crashDir!, target.name), { recursive: true });
      writeFileSync(file, input);
    }
    stats.crashes.push({ input, error, ...(file ? { file } : {}) });
  };

  cov.read(); // reset the counts
  try {
    // Seeds first, each with its own coverage read.
    for (const s of corpus) {
      dog.beat(s);
      const e = await exec(target, s);
      if (e) record(s, e);
      cov.merge(cov.read());
      stats.runs++;
    }
    let lastReport = Date.now();
    const inputs: Buffer[] = new Array(batch);
    while (stats.runs < opts.runs && !(opts.maxMs && Date.now() - started > opts.maxMs)) {
      const n = Math.min(batch, opts.runs - stats.runs);
      for (let i = 0; i < n; i++) {
        const base = corpus[rng.below(corpus.length)]!;
        const other = corpus[rng.below(corpus.length)]!;
        const input = mutator.mutate(base, other);
        inputs[i] = input;
        dog.beat(input);
        const e = await exec(target, input);
        if (e) record(input, e);
      }
      stats.runs += n;
      const blocks = cov.read();
      let fresh = false;
      for (const b of blocks) {
        if (!cov.seen.has(b)) {
          fresh = true;
          break;
        }
      }
      if (fresh) {
        // Which input found it? Bisect the batch (about 2·log2(batch) coverage reads), keep that
        // input, and merge only its blocks: whatever else the batch found is found again later.
        let lo = 0;
        let hi = n;
        while (hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          cov.read(); // reset
          for (let i = lo; i < mid; i++) {
            dog.beat(inputs[i]!);
            await exec(target, inputs[i]!);
          }
          if (cov.read().some((x) => !cov.seen.has(x))) hi = mid;
          else lo = mid;
        }
        cov.read();
        dog.beat(inputs[lo]!);
        await exec(target, inputs[lo]!);
        if (cov.merge(cov.read()) > 0) corpus.push(inputs[lo]!);
        else cov.merge(blocks); // flaky (state-dependent) coverage: accept the batch's blocks
      }
      if (opts.onProgress && Date.now() - lastReport > 2000) {
        lastReport = Date.now();
        opts.onProgress({ ...stats, corpus: corpus.length, coverage: cov.seen.size, ms: Date.now() - started });
      }
    }
  } finally {
    await dog.stop();
  }
  return { ...stats, corpus: corpus.length, coverage: cov.seen.size, ms: Date.now() - started };
}
