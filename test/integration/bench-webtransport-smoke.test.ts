/**
 * Smoke test of `npm run bench -- webtransport`: both scenarios, tiny (3 subscribers, sub-second
 * phases), through the real CLI in a child process. It proves the server child, the quiche and
 * WebSocket subscribers, the dropping UDP proxy and the delaying TCP proxy work end to end, and
 * that the rows have the names and fields docs/benchmarks.md promises; the numbers themselves
 * are not checked beyond "something was delivered".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResultRow } from '../../bench/result.ts';
import { runBench } from '../helpers/bench.ts';

test('bench webtransport runs tiny: streams, datagrams and WebSocket, with and without loss', { timeout: 90_000 }, async () => {
  const { code, stdout, stderr } = await runBench(
    ['webtransport', '--json', '--subscribers', '3', '--seconds', '0.5', '--warmup', '0', '--rate', '40', '--lossy-subscribers', '2', '--lossy-seconds', '0.5', '--lossy-rate', '40', '--loss', '0.05'],
    85_000,
  );
  assert.equal(code, 0, `bench exited with ${code}\n${stderr}`);
  const doc = JSON.parse(stdout) as { results: Array<ResultRow & { lossPct: number | null }> };
  assert.deepEqual(
    doc.results.map((r) => `${r.scenario} ${r.system}`),
    ['webtransport', 'webtransport-lossy'].flatMap((s) => ['switchboard/ws', 'switchboard/webtransport', 'switchboard/webtransport-datagram'].map((x) => `${s} ${x}`)),
  );
  for (const r of doc.results) {
    assert.ok(r.deliveriesPerSec !== null && r.deliveriesPerSec > 0, `${r.scenario} ${r.system} delivered nothing`);
    assert.ok(r.p50Ms !== null && r.p99Ms !== null && r.p99Ms >= r.p50Ms, `${r.scenario} ${r.system} has no latency`);
    // Reliable rows lose nothing, with or without the lossy path.
    if (r.system !== 'switchboard/webtransport-datagram') assert.equal(r.lossPct, 0, `${r.scenario} ${r.system} lost deliveries`);
  }
  assert.doesNotMatch(stderr, /FAILED/, stderr);
});
