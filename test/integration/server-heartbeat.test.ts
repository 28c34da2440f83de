/** Server-side heartbeat and token expiry. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const SECRET = 'heartbeat-secret-heartbeat-secret';
const sign = (sub: string, expInSec: number) =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(Math.floor(Date.now() / 1000) + expInSec).sign(new TextEncoder().encode(SECRET));

test('a client that answers pings stays; one that does not is disconnected with 3005', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, pingInterval: 0.3, pongTimeout: 0.3 });
  const good = await RawClient.connect(node.wsUrl);
  const bad = await RawClient.open(node.wsUrl);
  bad.autoPong = false;
  assert.equal((await bad.request({ t: 'connect' })).t, 'ok');
  assert.equal((await bad.closed).code, 3005);
  assert.equal(bad.frames.find((f) => f.t === 'disconnect')?.reconnect, true);
  await good.waitCount((f) => f.t === 'ping', 3, 5000);
  assert.equal(good.closeCode, 0);
  good.close();
  await node.close();
});

test('token expiry disconnects with 3003 unless refreshed; refresh for another user is refused', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', jwt: { secret: SECRET }, pingInterval: 0.3, pongTimeout: 0.3 });
  // Expiries leave headroom for a loaded machine: connect must finish before the token expires.
  const a = await RawClient.connect(node.wsUrl, { token: await sign('alice', 4) });
  const reply = a.frames.find((f) => f.t === 'ok' && f.client)!;
  assert.ok(reply.ttl >= 1 && reply.ttl <= 4, `ttl ${reply.ttl}`);
  const b = await RawClient.connect(node.wsUrl, { token: await sign('bob', 4) });
  const r = await b.request({ t: 'refresh', token: await sign('bob', 60) });
  assert.equal(r.t, 'ok');
  assert.ok(r.ttl > 50);
  const wrong = await b.request({ t: 'refresh', token: await sign('mallory', 60) });
  assert.equal(wrong.code, 101);
  assert.equal((await a.closed).code, 3003);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(b.closeCode, 0, 'refreshed connection survives');
  b.close();
  await node.close();
});
