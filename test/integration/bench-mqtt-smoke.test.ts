/**
 * Smoke test of bench/mqtt.ts through `npm run bench -- mqtt` (bench/run.ts) in a child process:
 * a tiny run (300 messages, paced 100/s for 1 s) against the real Mosquitto, with `--json`. It
 * proves the script works end to end, stops on its own and prints only JSON on stdout, and that
 * QoS 1 arrived complete and once; the rates are not checked beyond "something was moved".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MQTT_URL, requireUrl } from '../helpers/ingest.ts';

const up = await requireUrl('Mosquitto', MQTT_URL, 1883);
const root = fileURLToPath(new URL('../..', import.meta.url));

test('npm run bench -- mqtt runs tiny, stops on its own and prints JSON rows', { skip: !up && 'no MQTT broker (not CI)', timeout: 90_000 }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'mqtt', '--messages', '300', '--rate', '100', '--seconds', '1', '--timeout', '60', '--no-pin', '--url', MQTT_URL, '--json'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 85_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { results: { scenario: string; system: string; qos: number; messages: number; received: number; duplicates: number; deliveriesPerSec: number; p99Ms: number; pacedReceived: number }[] };
  assert.deepEqual(doc.results.map((x) => x.system), ['switchboard/mqtt-qos1', 'switchboard/mqtt-qos0']);
  for (const x of doc.results) {
    assert.equal(x.scenario, 'mqtt');
    assert.equal(x.messages, 300);
    assert.ok(x.deliveriesPerSec > 0, `${x.system} moved nothing`);
    assert.ok(x.pacedReceived > 0 && x.p99Ms > 0, `${x.system}: no paced latency`);
  }
  const q1 = doc.results[0]!;
  assert.deepEqual([q1.received, q1.duplicates], [300, 0], 'QoS 1: every message once');
});
