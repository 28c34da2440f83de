/**
 * `npm run bench -- server-api`: the CLI hands the arguments after the scenario to
 * bench/server-api.ts, and a short run of it measures every mode against a real node child
 * process (so the benchmark cannot rot unnoticed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from '../../bench/cli.ts';
import { render, run } from '../../bench/server-api.ts';

test('bench CLI: server-api takes the arguments after it; --json among them sets json', () => {
  const o = parseArgs(['server-api', '--seconds', '2', '--json']);
  assert.deepEqual(o.scenarios, ['server-api']);
  assert.deepEqual(o.serverApiArgs, ['--seconds', '2', '--json']);
  assert.equal(o.json, true);
  assert.deepEqual(parseArgs(['fanout']).serverApiArgs, []);
});

test('bench/server-api.ts: a short run gives a row per mode with publishes, latency and CPU', { timeout: 120_000 }, async () => {
  await assert.rejects(run(['--no-pin', '--modes', 'grpc-unary,carrier-pigeon']), /unknown mode carrier-pigeon/);
  const rows = await run(['--seconds', '0.5', '--warmup', '0.2', '--concurrency', '4', '--batch', '10', '--no-pin', '--modes', 'grpc-unary,grpc-stream,http,bare-connect,bare-grpc-js']);
  assert.deepEqual(rows.map((r) => r.mode), ['grpc-unary', 'grpc-stream', 'http', 'bare-connect', 'bare-grpc-js']);
  for (const r of rows) {
    assert.equal(r.error, undefined, `${r.mode}: ${r.error}`);
    assert.equal(r.errors, 0, r.mode);
    assert.ok(r.publishesPerSec! > 0, `${r.mode} published`);
    assert.equal(r.deliveriesPerSec, r.publishesPerSec);
    assert.ok(r.p50Ms! > 0 && r.p99Ms! >= r.p50Ms!, `${r.mode} latency ${r.p50Ms}/${r.p99Ms}`);
    assert.ok(r.serverUsPerPublish! > 0, `${r.mode} server CPU`);
  }
  assert.equal(rows[1]!.latencyOf, 'batch');
  assert.equal(rows[1]!.batch, 10);
  assert.match(render(rows), /\| grpc-stream \| \d+ \|/);
});

test('bench/server-api.ts: the raw HTTP/2 client in two load processes drives the unary modes', { timeout: 120_000 }, async () => {
  await assert.rejects(run(['--client', 'carrier-pigeon']), /--client takes grpc-js or h2/);
  const rows = await run(['--seconds', '0.5', '--warmup', '0.2', '--prewarm', '0', '--concurrency', '6', '--no-pin', '--client', 'h2', '--clients', '2', '--sessions', '2', '--modes', 'grpc-unary,bare-grpc-js,bare-connect']);
  for (const r of rows) {
    assert.equal(r.error, undefined, `${r.mode}: ${r.error}`);
    assert.equal(r.errors, 0, r.mode);
    assert.ok(r.publishesPerSec! > 0, `${r.mode} published`);
    assert.ok(r.clientCpuPct! > 0, `${r.mode} client CPU summed over the load processes`);
    assert.equal(r.client, 'h2 × 2 processes, 2 connections each');
  }
  // The node counted what the clients did: the grpc-unary row's server CPU is per stored publish.
  assert.ok(rows[0]!.serverUsPerPublish! > 0);
});
