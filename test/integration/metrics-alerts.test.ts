/**
 * deploy/prometheus/alerts.yml: valid for Prometheus (`promtool check rules`), its unit tests pass
 * (`promtool test rules`), and every metric an alert reads is one a node really exports.
 * promtool comes from the Debian `prometheus` package; without it these tests skip locally and
 * fail under CI=true. The consumer alerts are checked against what real consumers export: an MQTT
 * bridge on the real Mosquitto and an outbox consumer whose database refuses connections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { InstrumentedBroker } from '../../src/metrics/instrumented-broker.ts';
import { startNode } from '../../src/app/index.ts';
import { metricSum, MQTT_URL, requireUrl, scrape, uniqueName, waitUntil } from '../helpers/ingest.ts';

const dir = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = hasPromtool ? false : 'promtool not installed (apt-get install prometheus)';
// Checked before any test is registered: the promtool tests block the event loop (spawnSync).
const mqttUp = await requireUrl('Mosquitto', MQTT_URL, 1883);

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


/** A label matcher of a PromQL selector, `k="v"` or `k=~"re"`, as a test on a /metrics line. */
function matcherTest(m: string): (line: string) => boolean {
  const r = /^(\w+)(=~|=)"([^"]*)"$/.exec(m.trim());
  assert.ok(r, `unsupported matcher ${m}`);
  const [, k, op, v] = r;
  if (op === '=') return (line) => line.includes(`${k}="${v}"`);
  const re = new RegExp(`${k}="(?:${v})"`);
  return (line) => re.test(line);
}

test('the consumer error alerts select series real consumers export, at 0 before the first error, and see real errors', { skip: !mqttUp && 'no Mosquitto (not CI)', timeout: 30_000 }, async () => {
  const rules = readFileSync(`${dir}alerts.yml`, 'utf8');
  const selectors = [...rules.matchAll(/switchboard_consumer_errors_total\{([^}]*)\}/g)].map((m) => m[1]!);
  assert.deepEqual(selectors, ['error=~"source|broker"', 'error="outbound"']);
  // A bridge with an outbound route, and an outbox consumer on a port where nothing listens.
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    broker: new MemoryBroker(),
    consumers: [
      { type: 'mqtt', name: 'devices', url: MQTT_URL, clientId: uniqueName('sbt-alerts'), sessionExpiry: 0, routes: [{ topic: `${uniqueName('sbt')}/+/t`, channel: 'sensors:{1}' }], outbound: [{ channel: 'cmd:lamp', topic: `${uniqueName('sbt')}/cmd` }] },
      { type: 'outbox', name: 'orders', url: 'postgres://postgres@127.0.0.1:1/test', table: 'sbt_never' },
    ],
  });
  try {
    const lines = (text: string, consumer: string) => text.split('\n').filter((l) => l.startsWith('switchboard_consumer_errors_total{') && l.includes(`consumer="${consumer}"`));
    await waitUntil(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'devices' }) === 1, 10_000, 'bridge up');
    const first = await scrape(node.httpUrl);
    // Every selector matches a series of the bridge that is still 0: increase() sees its first error.
    for (const sel of selectors) {
      const tests = sel.split(',').map(matcherTest);
      const hit = lines(first, 'devices').filter((l) => tests.every((t) => t(l)));
      assert.ok(hit.length > 0, `no bridge series matches {${sel}}`);
      for (const l of hit) assert.equal(Number(l.slice(l.lastIndexOf(' ') + 1)), 0, l);
    }
    // The outbox's refused connections count as source errors: what SwitchboardConsumerErrors reads.
    await waitUntil(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_errors_total', { consumer: 'orders', error: 'source' }) >= 2, 15_000, 'source errors counted');
    assert.equal(metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'orders' }), 0);
  } finally {
    await node.close();
  }
});
