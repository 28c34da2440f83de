// Issue 11 D1: anonymous TURN credentials name the client's address, not its connection, and
// are short-lived; the TURN server caps each anonymous identity and all of them together. Before,
// every anonymous connection was a fresh `anon-<client id>` quota identity, so one anonymous
// attacker with a few connections could take every allocation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/app/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { StunClass, StunMethod, encodeLifetime, AttrType, longTermKey } from '../../src/webrtc/stun/index.ts';
import { ANONYMOUS_CREDENTIAL_TTL, TurnServer, anonymousScope, anonymousTurnUser, createTurnCredentials, restPassword } from '../../src/webrtc/turn/index.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { TestClient, errorCode, udpTransport } from './helpers.ts';

after(() => TestClient.closeAll());

test('anonymous identity: one per IPv4 address (mapped too) and per IPv6 /64, keyed by the secret', () => {
  assert.equal(anonymousScope('::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(anonymousScope('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(anonymousScope('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(anonymousScope('2001:db8::1'), '2001:db8:0:0::/64');
  const a = anonymousTurnUser('s', '198.51.100.7');
  assert.match(a, /^anon-[A-Za-z0-9_-]{16}$/);
  assert.equal(anonymousTurnUser('s', '::ffff:198.51.100.7'), a);
  assert.notEqual(anonymousTurnUser('s', '198.51.100.8'), a);
  assert.notEqual(anonymousTurnUser('other secret', '198.51.100.7'), a);
  assert.equal(anonymousTurnUser('s', '2001:db8:1:2::5'), anonymousTurnUser('s', '2001:db8:1:2:ffff::9'));
  assert.notEqual(anonymousTurnUser('s', '2001:db8:1:2::5'), anonymousTurnUser('s', '2001:db8:1:3::5'));
});

test('the connect reply gives anonymous clients a per-address TURN user and at most a 10-minute TTL', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, ice: { urls: ['turn:127.0.0.1:3478?transport=udp'], secret: 'k', ttl: 3600 } });
  try {
    const users: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await RawClient.connect(node.wsUrl);
      const reply = c.frames.find((f) => f.t === 'ok' && f.client)!;
      const turn = reply.iceServers[0];
      const [expiry, user] = turn.username.split(':');
      users.push(user);
      const ttl = Number(expiry) - Date.now() / 1000;
      assert.ok(ttl <= ANONYMOUS_CREDENTIAL_TTL + 1 && ttl > ANONYMOUS_CREDENTIAL_TTL - 10, `anonymous TTL ${ttl} s (ice.ttl is 3600)`);
      assert.equal(turn.credential, restPassword('k', turn.username));
      c.close();
    }
    assert.equal(users[0], anonymousTurnUser('k', '127.0.0.1'));
    assert.equal(users[1], users[0], 'two anonymous connections from one address share the identity');
  } finally {
    await node.close();
  }
});

test('TURN quotas: per anonymous identity, a shared anonymous pool, and named users unaffected', async () => {
  const server = new TurnServer({ listeningAddresses: ['127.0.0.1'], port: 0, tcp: false, authSecret: 'k', anonymousUserQuota: 2, anonymousTotalQuota: 3, userQuota: 100 });
  const [b] = await server.listen();
  const ep = { address: '127.0.0.1', port: b!.port };
  try {
    // Two "connections" from address A: different expiries, the same identity.
    const anonA = anonymousTurnUser('k', '198.51.100.7');
    const anonB = anonymousTurnUser('k', '203.0.113.9');
    const creds = [createTurnCredentials('k', anonA, 600), createTurnCredentials('k', anonA, 600, Date.now() + 5000), createTurnCredentials('k', anonA, 600)];
    const allocate = async (cred: { username: string; credential: string }) => {
      const c = await TestClient.udp(ep);
      const res = await c.authed(StunMethod.allocate, [udpTransport], cred.username, cred.credential);
      return { c, code: res.cls === StunClass.success ? 200 : errorCode(res) };
    };
    const a1 = await allocate(creds[0]!);
    const a2 = await allocate(creds[1]!);
    const a3 = await allocate(creds[2]!);
    assert.deepEqual([a1.code, a2.code, a3.code], [200, 200, 486], 'anonymousUserQuota: 2 per identity, across credentials');
    const b1 = await allocate(createTurnCredentials('k', anonB, 600));
    const b2 = await allocate(createTurnCredentials('k', anonB, 600));
    assert.deepEqual([b1.code, b2.code], [200, 486], 'anonymousTotalQuota: 3 anonymous allocations in all');
    const named = await allocate(createTurnCredentials('k', 'alice', 600));
    assert.equal(named.code, 200, 'a named user is not in the anonymous pool');
    // Freeing an anonymous allocation frees pool room.
    const gone = await a1.c.request(StunMethod.refresh, [{ type: AttrType.lifetime, value: encodeLifetime(0) }], { auth: true });
    assert.equal(gone?.cls, StunClass.success);
    assert.equal((await allocate(createTurnCredentials('k', anonB, 600))).code, 200);
  } finally {
    await server.close();
  }
});

test('expired time-limited credentials keep refreshing the allocation they created but cannot allocate', async () => {
  const clock = new ManualClock(Date.now());
  const server = new TurnServer({ listeningAddresses: ['127.0.0.1'], port: 0, tcp: false, authSecret: 'k' }, { clock });
  const [b] = await server.listen();
  const ep = { address: '127.0.0.1', port: b!.port };
  try {
    const cred = createTurnCredentials('k', anonymousTurnUser('k', '198.51.100.7'), ANONYMOUS_CREDENTIAL_TTL, clock.now());
    const c = await TestClient.udp(ep);
    const lifetime = { type: AttrType.lifetime, value: encodeLifetime(3600) };
    assert.equal((await c.authed(StunMethod.allocate, [udpTransport, lifetime], cred.username, cred.credential)).cls, StunClass.success);
    clock.advance((ANONYMOUS_CREDENTIAL_TTL + 100) * 1000); // the credentials (and the nonce) have expired
    const refresh = await c.authed(StunMethod.refresh, [lifetime], cred.username, cred.credential);
    assert.equal(refresh.cls, StunClass.success, `Refresh of the existing allocation: ${errorCode(refresh)}`);
    const other = await TestClient.udp(ep);
    const denied = await other.authed(StunMethod.allocate, [udpTransport], cred.username, cred.credential);
    assert.equal(errorCode(denied), 401, 'a new allocation needs unexpired credentials');
    // On the allocation's own 5-tuple, integrity with another password is still refused.
    c.key = longTermKey(cred.username, c.realm, 'not the credential');
    assert.equal(errorCode((await c.request(StunMethod.refresh, [], { auth: true }))!), 401);
  } finally {
    await server.close();
  }
});
