/**
 * Smoke test of `npm run bench`: a tiny fan-out (20 subscribers, 1 s phases) against every system
 * under test, and a tiny fallback run (subscribers on SSE, long polling and engine.io polling),
 * through the real CLI in a child process. It proves the harness, the three server
 * children and the raw-socket load generator work end to end; the numbers themselves are not
 * checked beyond "something was delivered".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResultRow } from '../../bench/result.ts';
import { runBench } from '../helpers/bench.ts';


type Row = ResultRow;


test('bench fanout runs tiny on switchboard, socket.io and ws', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await runBench(
    ['fanout', '--json', '--subscribers', '20', '--seconds', '1', '--warmup', '0', '--rate', '50', '--workers', '1'],
    55_000,
  );
  assert.equal(code, 0, `bench exited with ${code}\n${stderr}`);
  const doc = JSON.parse(stdout) as { results: Row[] };
  const systems = doc.results.map((r) => r.system).sort();
  assert.deepEqual(systems, ['socketio', 'switchboard', 'ws']);
  for (const r of doc.results) {
    assert.equal(r.scenario, 'fanout');
    assert.ok(r.deliveriesPerSec !== null && r.deliveriesPerSec > 0, `${r.system} delivered nothing`);
    assert.ok(r.p50Ms !== null && r.p99Ms !== null && r.p99Ms >= r.p50Ms, `${r.system} has no latency`);
    assert.equal(r.kibPerConnection, null);
  }
  // CPU warnings can happen on a busy CI machine; lost connections and missing deliveries cannot.
  assert.doesNotMatch(stderr, /FAILED|problem:|missing|lost/, stderr);
});

test('bench fallback runs tiny over WebSocket, SSE, long polling and engine.io polling', { timeout: 90_000 }, async () => {
  const { code, stdout, stderr } = await runBench(
    ['fallback', '--json', '--subscribers', '10', '--seconds', '1', '--warmup', '0', '--rate', '50', '--workers', '1'],
    85_000,
  );
  assert.equal(code, 0, `bench exited with ${code}\n${stderr}`);
  const doc = JSON.parse(stdout) as { results: Row[] };
  assert.deepEqual(
    doc.results.map((r) => r.system),
    ['switchboard/ws', 'switchboard/sse', 'switchboard/poll', 'socketio/polling', 'socketio/ws'],
  );
  for (const r of doc.results) {
    assert.equal(r.scenario, 'fallback');
    assert.ok(r.deliveriesPerSec !== null && r.deliveriesPerSec > 0, `${r.system} delivered nothing`);
    assert.ok(r.p50Ms !== null && r.p99Ms !== null && r.p99Ms >= r.p50Ms, `${r.system} has no latency`);
  }
  assert.doesNotMatch(stderr, /FAILED|problem:|missing|lost/, stderr);
});
