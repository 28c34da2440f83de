/**
 * The bundle's declarations (src/web/sdk/switchboard.d.ts) are generated from the SDK's sources
 * (scripts/build-sdk-types.ts), so they cannot drift; this checks that the generated file is the
 * one a browser user can rely on: `tsc` compiles it on its own (it is inside the project) and
 * compiles the consumer code below against it alone, it imports nothing, and it declares every
 * value the bundle exports — and the server serves exactly it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as real from '../../src/client/index.ts';
import type * as sdk from '../../src/web/sdk/switchboard.d.ts';
import { startNode } from '../../src/app/index.ts';
import { loadSdkTypes } from '../../src/web/sdk.ts';

const typesFile = new URL('../../src/web/sdk/switchboard.d.ts', import.meta.url);

/** Consumer code typed only by the declarations (type-checked by tsc, never run). */
export async function consumer(Client: typeof sdk.Client, Call: typeof sdk.Call): Promise<void> {
  const c = new Client('/', { transports: ['websocket', 'sse', 'poll'], format: 'json' });
  c.on('state', (e: sdk.StateEvent) => void e.state);
  await c.connect();
  const sub: sdk.Subscription = c.subscribe('chat:lobby', { onPublication: (p: sdk.Publication) => void p.offset, onGap: (g: sdk.GapEvent) => void g.reason });
  const pos: sdk.StreamPosition = await sub.publish({ text: 'hi' });
  const page: sdk.PresencePage = await sub.presencePage({ limit: 10 });
  const stats: { clients: number; users: number } = await c.presenceStats('chat:lobby');
  const h: sdk.HistoryResult = await sub.history({ since: pos });
  const call = new Call(c, 'call:room');
  void [page.cursor, stats.users, h.publications.length, call];
}

test('the generated declarations are self-contained, cover every export, and are what the server serves', async () => {
  const text = readFileSync(typesFile, 'utf8');
  assert.match(text, /^\/\/ Switchboard client SDK/);
  assert.doesNotMatch(text, /^\s*import\s/m, 'no imports: one file a browser user can drop in');
  const declared = new Set([...text.matchAll(/^export declare (?:abstract )?(?:class|function|const|let|enum) (\w+)/gm)].map((m) => m[1]));
  for (const name of Object.keys(real)) assert.ok(declared.has(name), `export ${name} has no declaration`);
  assert.equal(typeof consumer, 'function');

  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true });
  try {
    const res = await fetch(`${node.httpUrl}/sdk/switchboard.d.ts`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), text);
  } finally {
    await node.close();
  }
});

test('the file on disk is what the sources generate now; without it the server generates the same', { timeout: 60_000 }, async () => {
  // loadSdkTypes falls back to generating when its file is missing: point it at one that is.
  const generated = await loadSdkTypes(new URL('file:///nonexistent/switchboard.d.ts'));
  assert.equal(generated, readFileSync(typesFile, 'utf8'), 'stale src/web/sdk/switchboard.d.ts: run `npx tsx scripts/build-sdk-types.ts` (npm install does)');
});
