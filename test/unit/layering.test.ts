/**
 * The layering rule (README "Where things live", DESIGN.md "Layering"), checked on every import
 * under src/: static `import` / `export … from`, side-effect imports, dynamic `import('…')` and
 * type-only imports (`import type`, `import('…').T`) alike — a type import is still a dependency
 * of the file's meaning, so types count. The imports are read with TypeScript's own pre-processor
 * (`ts.preProcessFile`), so commented-out imports and JSDoc examples do not count.
 *
 *   protocol ← broker ← server core ← transports / api / admin / metrics / webrtc / ingest / web ← app ← cli
 *
 * Each room lists the rooms it may import; the outer rooms may also import one another, as long as
 * no two rooms import each other, directly or through others (a cycle between rooms fails too).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const SRC = resolve(import.meta.dirname, '../../src');

const OUTER = ['transports', 'api', 'admin', 'metrics', 'webrtc', 'ingest', 'web'] as const;
const INNER = ['util', 'protocol', 'broker', 'server', 'client'] as const;
const everythingBut = (...not: string[]): readonly string[] => [...INNER, ...OUTER, 'app', 'cli'].filter((r) => !not.includes(r));

/** Room → the rooms its files may import. A room is a folder of src/ (`index.ts`: the package entry). */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  /** Clock, logging, errors: imports nothing of ours. */
  util: [],
  /** Frames, codes, codecs, the SFU contract: shared by the server and the SDK. */
  protocol: ['util'],
  broker: ['protocol', 'util'],
  /** The server core: sessions, hub, channels, cluster, auth (server/core.ts: NodeCore). */
  server: ['protocol', 'broker', 'util'],
  /** The SDK, bundled for browsers: never the server's code. */
  client: ['protocol', 'util'],
  ...Object.fromEntries(OUTER.map((r) => [r, everythingBut('app', 'cli')])),
  /** The composition root: wires the outer rooms into the core (app/node.ts). */
  app: everythingBut('cli'),
  cli: everythingBut(),
  'index.ts': everythingBut(),
};

export interface Edge {
  from: string;
  to: string;
  fromRoom: string;
  toRoom: string;
  line: number;
  specifier: string;
}

/** The room of a path relative to src/ (`server/core.ts` → `server`, `index.ts` → `index.ts`). */
export function roomOf(rel: string): string {
  return rel.split(/[\\/]/)[0]!;
}

/** The imports of one file's text between files of src/ (relative specifiers only; packages and `node:` are not ours). */
export function edgesOf(rel: string, text: string): Edge[] {
  const out: Edge[] = [];
  for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
    const spec = ref.fileName;
    if (!spec.startsWith('.')) continue;
    const target = relative(SRC, resolve(SRC, dirname(rel), spec)).split(sep).join('/');
    if (target.startsWith('..')) continue; // outside src/ (scripts/build-sdk.mjs): not a room
    const line = text.slice(0, ref.pos).split('\n').length;
    out.push({ from: rel, to: target, fromRoom: roomOf(rel), toRoom: roomOf(target), line, specifier: spec });
  }
  return out;
}

/** The edges that break the rule, as `file:line → target (room → room)` lines. */
export function violations(edges: readonly Edge[]): string[] {
  const bad: string[] = [];
  for (const e of edges) {
    if (e.fromRoom === e.toRoom) continue;
    const allowed = ALLOWED[e.fromRoom];
    if (!allowed) {
      bad.push(`src/${e.from}: room "${e.fromRoom}" is not in the layering table (test/unit/layering.test.ts ALLOWED): place it`);
      continue;
    }
    if (!allowed.includes(e.toRoom)) bad.push(`src/${e.from}:${e.line} imports ${e.specifier} (${e.fromRoom} → ${e.toRoom}; ${e.fromRoom} may import only ${allowed.join(', ') || 'nothing of src/'})`);
  }
  return bad;
}

/** Cycles between rooms (strongly connected components of more than one room), each with one edge per step as evidence. */
export function roomCycles(edges: readonly Edge[]): string[] {
  const graph = new Map<string, Map<string, Edge>>();
  for (const e of edges) {
    if (e.fromRoom === e.toRoom) continue;
    let m = graph.get(e.fromRoom);
    if (!m) graph.set(e.fromRoom, (m = new Map()));
    if (!m.has(e.toRoom)) m.set(e.toRoom, e);
    if (!graph.has(e.toRoom)) graph.set(e.toRoom, new Map());
  }
  // Tarjan's strongly connected components.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const sccs: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)!.keys()) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) sccs.push(c.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return sccs.map((c) => {
    // One cycle through the first room, found breadth-first, as evidence.
    const inside = new Set(c);
    const start = c[0]!;
    const via = new Map<string, Edge>();
    const queue = [start];
    while (queue.length > 0 && !via.has(start)) {
      const r = queue.shift()!;
      for (const [to, e] of graph.get(r)!) {
        if (!inside.has(to) || via.has(to)) continue;
        via.set(to, e);
        queue.push(to);
      }
    }
    const path: Edge[] = [];
    for (let r = start; path.length === 0 || r !== start; r = path[0]!.fromRoom) path.unshift(via.get(r)!);
    return `rooms ${c.join(', ')} import each other, e.g. ${path.map((e) => `src/${e.from}:${e.line} imports src/${e.to}`).join('; ')}`;
  });
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts)$/.test(d.name) && !d.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function allEdges(): Edge[] {
  return sourceFiles(SRC).flatMap((f) => edgesOf(relative(SRC, f).split(sep).join('/'), readFileSync(f, 'utf8')));
}

test('layering: every import under src/ goes inward (protocol ← broker ← server core ← outer rooms ← app ← cli)', () => {
  const edges = allEdges();
  assert.ok(edges.length > 200, `read the imports of src/ (${edges.length} found)`);
  const bad = violations(edges);
  assert.deepEqual(bad, [], `imports that break the layering rule (README "Where things live"):\n  ${bad.join('\n  ')}`);
});

test('layering: no two rooms import each other (no cycle between rooms)', () => {
  const cycles = roomCycles(allEdges());
  assert.deepEqual(cycles, [], `cycles between rooms:\n  ${cycles.join('\n  ')}`);
});

test('layering: the checker sees every import form and reports a core → outer edge and a cycle', () => {
  const text = [
    "import { Hub } from './hub.ts';",
    "import type { WebSocketTransport } from '../transports/websocket/transport.ts';",
    "// import { installAdmin } from '../admin/admin.ts';  (a comment: not an import)",
    "export { startNode } from '../app/node.ts';",
    "export * from '../metrics/metrics.ts';",
    "const grpc = await import('../api/grpc.ts');",
    "let s: import('../web/index.ts').WebHost;",
    "import '../ingest/index.ts';",
    "import { EventEmitter } from 'node:events';",
  ].join('\n');
  const edges = edgesOf('server/core.ts', text);
  assert.deepEqual(
    edges.map((e) => `${e.line} ${e.toRoom}`),
    ['1 server', '2 transports', '4 app', '5 metrics', '6 api', '7 web', '8 ingest'],
  );
  const bad = violations(edges);
  assert.equal(bad.length, 6);
  assert.match(bad[0]!, /^src\/server\/core\.ts:2 imports \.\.\/transports\/websocket\/transport\.ts \(server → transports; server may import only protocol, broker, util\)$/);
  assert.deepEqual(violations(edgesOf('webrtc/turn/server.ts', "import { startNode } from '../../app/node.ts';")).length, 1, 'an outer room may not import the app');
  assert.deepEqual(violations(edgesOf('newroom/x.ts', "import { a } from '../util/log.ts';")).length, 1, 'a room missing from the table fails');
  const cycle = [...edgesOf('metrics/metrics.ts', "import '../admin/admin.ts';"), ...edgesOf('admin/admin.ts', "import '../metrics/metrics.ts';")];
  assert.deepEqual(violations(cycle), []);
  assert.equal(roomCycles(cycle).length, 1);
  assert.equal(roomCycles(cycle)[0], 'rooms admin, metrics import each other, e.g. src/admin/admin.ts:1 imports src/metrics/metrics.ts; src/metrics/metrics.ts:1 imports src/admin/admin.ts');
});
