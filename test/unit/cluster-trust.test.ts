/**
 * Cluster trust, pure logic: signed-message envelopes (HMAC-SHA256 over the body string and
 * timestamp), their rejection reasons, forwarding proofs, and the field-by-field validation of
 * registry reports and control messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseControl, parseNodeInfo, validNodeUrl } from '../../src/server/cluster-messages.ts';
import { signForward, signMessage, verifyForward, verifyMessage, FORWARD_WINDOW_MS } from '../../src/server/cluster-trust.ts';
import { maskSecrets, optionsFromEnv } from '../../src/cli/config.ts';
import { resolveOptions } from '../../src/server/options.ts';

const K = 'unit-test-cluster-secret-0123';
const NOW = 1_800_000_000_000;
const W = 30_000;

const info = () => ({ name: 'n1', connections: 3, channels: 2, draining: false, uptime: 12, publishes: 5, deliveries: 9, rssBytes: 1e8, url: 'http://10.0.0.1:8000', time: NOW, busiest: [{ channel: 'a', subscribers: 2 }], busiestOf: 1 });

test('a signed message verifies and yields its payload', () => {
  const m = signMessage(K, 'nodes', info(), NOW);
  assert.equal(typeof m.body, 'string');
  const r = verifyMessage(K, 'nodes', JSON.parse(JSON.stringify(m)), NOW + 1000, W);
  assert.ok(r.ok);
  assert.deepEqual(r.payload, info());
});

test('unsigned, tampered, wrong-key, wrong-kind, stale and malformed messages are rejected with their reason', () => {
  const m = signMessage(K, 'nodes', info(), NOW);
  const reason = (msg: unknown, now = NOW, kind = 'nodes', key = K) => {
    const r = verifyMessage(key, kind, msg, now, W);
    return r.ok ? 'ok' : r.reason;
  };
  assert.equal(reason(info()), 'unsigned');
  assert.equal(reason(null), 'unsigned');
  assert.equal(reason('x'), 'unsigned');
  assert.equal(reason({ ...m, body: m.body.replace('"connections":3', '"connections":4') }), 'badSignature');
  assert.equal(reason({ ...m, ts: m.ts + 1 }), 'badSignature');
  assert.equal(reason(m, NOW, 'nodes', 'another-secret-0123456789'), 'badSignature');
  assert.equal(reason(m, NOW, 'control'), 'badSignature', 'a registry report cannot be replayed as a control message');
  assert.equal(reason({ ...m, sig: m.sig.slice(1) }), 'badSignature');
  assert.equal(reason(m, NOW + W + 1), 'stale');
  assert.equal(reason(m, NOW - W - 1), 'stale', 'from the future beyond the window');
  assert.equal(reason({ ...m, v: 2 }), 'invalid');
  assert.equal(reason({ ...m, ts: 'now' }), 'invalid');
  assert.equal(reason({ ...m, body: 'x'.repeat(40_000) }), 'invalid');
  const notJson = { v: 1, ts: NOW, body: '{', sig: signMessage(K, 'nodes', 0, NOW).sig };
  assert.equal(reason(notJson), 'badSignature');
});

test('forwarding proofs bind the method, the exact target and the sender, and expire', () => {
  const p = signForward(K, 'b', 'POST', '/connection/poll?session=abc.def', NOW);
  assert.ok(verifyForward(K, p, 'b', 'POST', '/connection/poll?session=abc.def', NOW + 5000));
  assert.ok(!verifyForward(K, p, 'b', 'GET', '/connection/poll?session=abc.def', NOW));
  assert.ok(!verifyForward(K, p, 'b', 'POST', '/connection/poll?session=abc.xyz', NOW));
  assert.ok(!verifyForward(K, p, 'c', 'POST', '/connection/poll?session=abc.def', NOW));
  assert.ok(!verifyForward('other-secret-0123456789', p, 'b', 'POST', '/connection/poll?session=abc.def', NOW));
  assert.ok(!verifyForward(K, p, 'b', 'POST', '/connection/poll?session=abc.def', NOW + FORWARD_WINDOW_MS + 1));
  for (const bad of ['', '.', 'x.y', '123', `${NOW}.`, `${NOW}.${'A'.repeat(43)}`]) assert.ok(!verifyForward(K, bad, 'b', 'POST', '/x', NOW), bad);
});

test('node reports: every field is type- and range-checked; extra fields are dropped', () => {
  assert.deepEqual(parseNodeInfo(info()), info());
  const extra = parseNodeInfo({ ...info(), html: '<b>' });
  assert.ok(extra && !('html' in extra));
  const bad: Array<[string, unknown]> = [
    ['name', ''],
    ['name', 7],
    ['name', 'x'.repeat(129)],
    ['name', 'a\nb'],
    ['connections', '5'],
    ['connections', -1],
    ['connections', Infinity],
    ['channels', null],
    ['uptime', '<img src=x onerror=alert(1)>'],
    ['uptime', NaN],
    ['publishes', {}],
    ['deliveries', []],
    ['rssBytes', 1e300],
    ['draining', 'no'],
    ['time', undefined],
    ['url', 'javascript:alert(1)'],
    ['url', 'file:///etc/passwd'],
    ['url', 'http://user:pw@evil.example/'],
    ['url', 'not a url'],
    ['url', 42],
    ['busiest', 'lobby'],
    ['busiest', [{ channel: 'a', subscribers: '1' }]],
    ['busiest', [{ channel: '', subscribers: 1 }]],
    ['busiest', Array.from({ length: 21 }, (_, i) => ({ channel: `c${i}`, subscribers: 1 }))],
    ['busiestOf', -3],
  ];
  for (const [field, value] of bad) {
    const v: Record<string, unknown> = { ...info(), [field]: value };
    if (value === undefined) delete v[field];
    assert.equal(parseNodeInfo(v), null, `${field} = ${JSON.stringify(value)}`);
  }
  assert.ok(validNodeUrl('https://node-1.internal:8443/'));
});

test('control messages: a disconnect must name a client or a user; every field is checked', () => {
  assert.deepEqual(parseControl({ op: 'disconnect', from: 'a', user: 'u', reconnect: true, delay: 10, reason: 'r' }), { op: 'disconnect', from: 'a', user: 'u', reconnect: true, delay: 10, reason: 'r' });
  for (const m of [
    { op: 'disconnect', from: 'a' },
    { op: 'shutdown', from: 'a', user: 'u' },
    { op: 'disconnect', from: 3, user: 'u' },
    { op: 'disconnect', from: 'a', user: 5 },
    { op: 'disconnect', from: 'a', client: '' },
    { op: 'disconnect', from: 'a', user: 'u', reconnect: 'yes' },
    { op: 'disconnect', from: 'a', user: 'u', delay: -1 },
    { op: 'disconnect', from: 'a', user: 'u', delay: 1e12 },
    { op: 'disconnect', from: 'a', user: 'u', reason: 'x'.repeat(300) },
    [],
  ]) {
    assert.equal(parseControl(m), null, JSON.stringify(m));
  }
});

test('clusterSecret: at least 16 characters, from SWITCHBOARD_CLUSTER_SECRET, masked when printed; node names at most 128', () => {
  assert.equal(optionsFromEnv({ SWITCHBOARD_CLUSTER_SECRET: 'from-the-environment-0123' }).clusterSecret, 'from-the-environment-0123');
  assert.deepEqual(maskSecrets({ clusterSecret: 'from-the-environment-0123' }), { clusterSecret: '***' });
  assert.equal(resolveOptions({ clusterSecret: 'x'.repeat(16) }).clusterSecret, 'x'.repeat(16));
  assert.throws(() => resolveOptions({ clusterSecret: 'short' }), /clusterSecret.*16/);
  assert.throws(() => resolveOptions({ name: 'n'.repeat(129) }), /name.*128/);
});
