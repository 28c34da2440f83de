import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  PeerPolicy,
  TurnConfigError,
  createTurnCredentials,
  defaultTurnOptions,
  parseRestUsername,
  resolveTurnOptions,
  type TurnServerOptions,
} from '../../src/webrtc/turn/index.ts';

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.values(o).forEach(deepFreeze);
    Object.freeze(o);
  }
  return o;
}

test('defaults: every field present, loopback and private peers denied', () => {
  const o = resolveTurnOptions({}, {});
  assert.deepEqual(o, defaultTurnOptions());
  assert.equal(o.port, 3478);
  assert.equal(o.allowLoopbackPeers, false);
  assert.equal(o.allowPrivatePeers, false);
});

test('environment variables set options; explicit options win; input is not mutated', () => {
  const env = {
    SWITCHBOARD_TURN_SECRET: 's3cret',
    SWITCHBOARD_TURN_PORT: '3479',
    SWITCHBOARD_TURN_ALLOW_LOOPBACK: '1',
    SWITCHBOARD_TURN_REALM: 'example.org',
    SWITCHBOARD_TURN_LISTEN: '127.0.0.1, ::1',
    SWITCHBOARD_TURN_RELAY_ADDRESSES: '127.0.0.1',
    SWITCHBOARD_TURN_RELAY_PORTS: '40000-40100',
    SWITCHBOARD_TURN_USER_QUOTA: '7',
    SWITCHBOARD_TURN_TOTAL_QUOTA: '70',
    SWITCHBOARD_TURN_MAX_BPS: '125000',
    SWITCHBOARD_TURN_DENIED_PEERS: '203.0.113.0/24',
    SWITCHBOARD_TURN_ALLOWED_PEERS: '10.0.0.5',
    SWITCHBOARD_TURN_USERS: 'a:1,b:2:3',
  };
  const o = resolveTurnOptions({}, env);
  assert.equal(o.authSecret, 's3cret');
  assert.equal(o.port, 3479);
  assert.equal(o.allowLoopbackPeers, true);
  assert.equal(o.realm, 'example.org');
  assert.deepEqual(o.listeningAddresses, ['127.0.0.1', '::1']);
  assert.deepEqual(o.relayAddresses, ['127.0.0.1']);
  assert.equal(o.relayPortMin, 40000);
  assert.equal(o.relayPortMax, 40100);
  assert.equal(o.userQuota, 7);
  assert.equal(o.totalQuota, 70);
  assert.equal(o.maxBytesPerSecond, 125000);
  assert.deepEqual(o.deniedPeerRanges, ['203.0.113.0/24']);
  assert.deepEqual(o.allowedPeerRanges, ['10.0.0.5']);
  assert.deepEqual(o.users, { a: '1', b: '2:3' });
  const input = deepFreeze({ port: 5000, listeningAddresses: ['0.0.0.0'] } satisfies Partial<TurnServerOptions>);
  const o2 = resolveTurnOptions(input, env);
  assert.equal(o2.port, 5000);
  assert.deepEqual(o2.listeningAddresses, ['0.0.0.0']);
  o2.listeningAddresses.push('x'); // the result is a copy
  assert.deepEqual(input.listeningAddresses, ['0.0.0.0']);
});

test('bad options are rejected naming the field', () => {
  const bad: [unknown, RegExp][] = [
    [{ prot: 1 }, /unknown TURN option "prot"/],
    [{ port: 70000 }, /"port"/],
    [{ port: -1 }, /"port"/],
    [{ port: '3478' }, /"port" must be a number/],
    [{ relayPortMin: 5000, relayPortMax: 4000 }, /relayPortMin/],
    [{ listeningAddresses: ['localhost'] }, /listeningAddresses\[0\]/],
    [{ relayAddresses: ['0.0.0.0'] }, /relayAddresses\[0\]/],
    [{ relayAddresses: ['1.2.3.4', '5.6.7.8'] }, /relayAddresses\[1\]/],
    [{ deniedPeerRanges: ['10.0.0.0/33'] }, /deniedPeerRanges\[0\]/],
    [{ allowedPeerRanges: ['nope'] }, /allowedPeerRanges\[0\]/],
    [{ users: { a: 1 } }, /"users"/],
    [{ udp: false, tcp: false }, /"udp" and "tcp"/],
    [{ defaultLifetime: 4000 }, /defaultLifetime/],
  ];
  for (const [input, re] of bad) {
    assert.throws(() => resolveTurnOptions(input as Partial<TurnServerOptions>, {}), (e: unknown) => e instanceof TurnConfigError && re.test(e.message), JSON.stringify(input));
  }
  assert.throws(() => resolveTurnOptions({}, { SWITCHBOARD_TURN_PORT: 'abc' }), /SWITCHBOARD_TURN_PORT/);
  assert.throws(() => resolveTurnOptions({}, { SWITCHBOARD_TURN_ALLOW_LOOPBACK: 'maybe' }), /SWITCHBOARD_TURN_ALLOW_LOOPBACK/);
  assert.throws(() => resolveTurnOptions({}, { SWITCHBOARD_TURN_RELAY_PORTS: '1' }), /SWITCHBOARD_TURN_RELAY_PORTS/);
});

test('createTurnCredentials follows coturn use-auth-secret: expiry:user, base64 HMAC-SHA1', () => {
  const c = createTurnCredentials('north', 'alice', 3600, 1_700_000_000_000);
  assert.equal(c.username, '1700003600:alice');
  assert.equal(c.ttl, 3600);
  assert.equal(c.credential, createHmac('sha1', 'north').update('1700003600:alice').digest('base64'));
  assert.deepEqual(parseRestUsername(c.username), { expiry: 1700003600, user: 'alice' });
  assert.deepEqual(parseRestUsername('1700003600:a:b'), { expiry: 1700003600, user: 'a:b' });
  assert.equal(parseRestUsername('alice:1700003600'), undefined);
  assert.throws(() => createTurnCredentials('', 'a', 1));
  assert.throws(() => createTurnCredentials('s', 'a', 0));
});

test('PeerPolicy: default denies, loopback/private switches, allowed ranges win, mapped IPv4 judged as IPv4', () => {
  const strict = new PeerPolicy({ allowLoopbackPeers: false, allowPrivatePeers: false, deniedPeerRanges: ['203.0.113.0/24'], allowedPeerRanges: ['10.9.9.9'] });
  for (const a of ['127.0.0.1', '::1', '10.0.0.1', '172.31.255.255', '192.168.0.1', '169.254.0.1', '100.64.1.1', 'fe80::1', 'fd00::1', '0.0.0.0', '::', '224.0.0.1', 'ff02::1', '255.255.255.255', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '203.0.113.7']) {
    assert.equal(strict.allows(a), false, a);
  }
  for (const a of ['8.8.8.8', '2001:4860::8888', '172.32.0.1', '10.9.9.9']) assert.equal(strict.allows(a), true, a);
  const loose = new PeerPolicy({ allowLoopbackPeers: true, allowPrivatePeers: true, deniedPeerRanges: [], allowedPeerRanges: [] });
  for (const a of ['127.0.0.1', '::1', '10.0.0.1', 'fe80::1']) assert.equal(loose.allows(a), true, a);
  assert.equal(loose.allows('224.0.0.1'), false);
  assert.equal(loose.allows('not-an-ip'), false);
});
