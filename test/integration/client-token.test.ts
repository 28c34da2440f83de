import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import type { ClientErrorEvent, DisconnectedEvent } from '../../src/client/index.ts';
import { UnauthorizedError } from '../../src/client/index.ts';
import { makeClient, sleep, startFeedNode, waitFor, type Node } from './client-helpers.ts';

const SECRET = 'client-token-test-secret-0123456789abcdef';
const key = new TextEncoder().encode(SECRET);
const cleanup: Array<() => unknown> = [];
let node: Node | undefined;
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await node?.close();
});

/** A token for `sub` expiring `ttlSeconds` from now (negative: already expired). */
function mint(sub: string, ttlSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt(now - 60).setExpirationTime(now + ttlSeconds).sign(key);
}

async function authNode(): Promise<Node> {
  node ??= await startFeedNode({ insecure: false, jwt: { secret: SECRET }, namespaces: { feed: { subscribe: 'authenticated', publish: 'authenticated', historySize: 100, recover: true } } });
  return node;
}

test('a token about to expire is refreshed in place via getToken; the connection survives its expiry', async () => {
  const n = await authNode();
  let calls = 0;
  const c = makeClient(n.wsUrl, cleanup, {
    getToken: async () => {
      calls++;
      return mint('alice', 3);
    },
    refreshBefore: 1500,
  });
  const disconnects: DisconnectedEvent[] = [];
  c.on('disconnected', (e) => disconnects.push(e));
  await c.connect();
  assert.equal(c.user, 'alice');
  const id = c.id;
  assert.equal(calls, 1, 'the first token comes from getToken');
  const got: unknown[] = [];
  const sub = c.subscribe('feed:tok', { onPublication: (p) => got.push(p.data) });
  await waitFor(() => sub.state === 'subscribed');
  // ttl 2–3 s: refreshed ~1.5 s before it runs out, and again for the next token.
  await sleep(4500);
  assert.ok(calls >= 2, `getToken called ${calls} times`);
  assert.deepEqual(disconnects, [], 'no disconnect: refreshed in place before expiry');
  assert.equal(c.id, id, 'same connection');
  await n.publish('feed:tok', 'still here');
  await waitFor(() => got.length === 1);
});

test('an expired token at connect (error 109) triggers getToken and the connect succeeds', async () => {
  const n = await authNode();
  let calls = 0;
  const c = makeClient(n.wsUrl, cleanup, {
    token: await mint('bob', -10),
    getToken: async () => {
      calls++;
      return mint('bob', 60);
    },
  });
  await c.connect();
  assert.equal(calls, 1);
  assert.equal(c.user, 'bob');
});

test('concurrent expiry signals cause a single getToken call (single flight)', async () => {
  const n = await authNode();
  let calls = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const c = makeClient(n.wsUrl, cleanup, {
    token: await mint('carol', -10),
    getToken: async () => {
      calls++;
      await gate;
      return mint('carol', 60);
    },
  });
  const p1 = c.connect();
  const p2 = c.connect();
  await sleep(200);
  release();
  await Promise.all([p1, p2]);
  assert.equal(calls, 1);
});

test('getToken throwing UnauthorizedError stops reconnecting (terminal)', async () => {
  const n = await authNode();
  const errors: ClientErrorEvent[] = [];
  const c = makeClient(n.wsUrl, cleanup, {
    getToken: async () => {
      throw new UnauthorizedError('user logged out');
    },
  });
  c.on('error', (e) => errors.push(e));
  await assert.rejects(c.connect(), /user logged out/);
  assert.equal(c.state, 'disconnected');
  assert.equal(errors[0]?.type, 'token');
});

test('a bad token without getToken is terminal (3500 invalid token / error 101)', async () => {
  const n = await authNode();
  const c = makeClient(n.wsUrl, cleanup, { token: 'not-a-jwt' });
  const disconnects: DisconnectedEvent[] = [];
  c.on('disconnected', (e) => disconnects.push(e));
  await assert.rejects(c.connect());
  assert.equal(c.state, 'disconnected');
  assert.equal(disconnects.at(-1)?.reconnect, false);
});
