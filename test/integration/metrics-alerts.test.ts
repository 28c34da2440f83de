/**
 * deploy/prometheus/alerts.yml: valid for Prometheus (`promtool check rules`), its unit tests pass
 * (`promtool test rules`), and every metric an alert reads is one a node really exports.
 * promtool comes from the Debian `prometheus` package; without it these tests skip locally and
 * fail under CI=true.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { InstrumentedBroker } from '../../src/metrics/instrumented-broker.ts';
import { startNode } from '../../src/server/index.ts';

const dir = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = hasPromtool ? false : 'promtool not installed (apt-get install prometheus)';

test('promtool is available under CI', () => {
  if (process.env.CI === 'true') assert.ok(hasPromtool, 'CI must install the Debian prometheus package for promtool');
});

test('promtool check rules alerts.yml', { skip }, () => {
  const out = execFileSync('promtool', ['check', 'rules', 'alerts.yml'], { cwd: dir, encoding: 'utf8' });
  assert.match(out, /SUCCESS: \d+ rules found/);
});

test('promtool test rules alerts.test.yml', { skip }, () => {
  const r = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('every metric the alerts read is exported by a node', async () => {
  const rules = readFileSync(`${dir}alerts.yml`, 'utf8');
  const exprs = [...rules.matchAll(/expr: (\|\n(?:\s{10}.*\n)+|.*)/g)].map((m) => m[1]!).join('\n');
  const used = new Set([...exprs.matchAll(/\bswitchboard_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')));
  assert.ok(used.size >= 8, `found ${[...used].join(', ')}`);
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker: new InstrumentedBroker(new MemoryBroker()) });
  try {
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    for (const name of used) assert.ok(exported.has(name), `alerts.yml reads ${name}, which /metrics does not export`);
  } finally {
    await node.close();
  }
});
