/**
 * The origin check and forwarding (issue 11, E3), without a browser: two nodes on one broker with
 * the default `allowedOrigins` (same host only). The node a request reached checks its Origin
 * against the Host it was sent to, then signs the forwarded copy; the owner accepts a valid proof
 * instead of comparing the Origin with its own address. A copy claiming to be forwarded without a
 * valid proof gets the ordinary check.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { FORWARD_AUTH_HEADER, signForward } from '../../src/server/cluster-trust.ts';
import { FORWARDED_HEADER, keyOwner } from '../../src/server/forward.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';

const opts = { host: '127.0.0.1', port: 0, allowAnonymous: true, nodeInfoInterval: 0.1, httpTransports: { pollTimeout: 1 } };
const broker = new MemoryBroker();
let a: SwitchboardNode;
let b: SwitchboardNode;

before(async () => {
  a = await startNode({ ...opts, name: 'fo-a', broker });
  b = await startNode({ ...opts, name: 'fo-b', broker: broker.peer() });
  const end = Date.now() + 5000;
  while (b.clusterInfo().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
});

after(async () => {
  await a.close();
  await b.close();
  await broker.close();
});

/** A POST with explicit Host and Origin headers (fetch would not let us set Host). */
function post(url: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'text/plain', ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function sessionOnA(): Promise<string> {
  const first = (await (await fetch(`${a.httpUrl}/connection/poll`)).json()) as { session: string };
  assert.equal(keyOwner(first.session), 'fo-a');
  return first.session;
}

test('a same-origin browser POST that lands on the other node is forwarded and accepted', async () => {
  const key = encodeURIComponent(await sessionOnA());
  const lbHost = 'switchboard.example:8443';
  const before = b.stats.forwarded;
  const status = await post(`${b.httpUrl}/connection/poll?session=${key}`, { Host: lbHost, Origin: `https://${lbHost}` }, '{"t":"connect","id":1}');
  assert.equal(status, 204);
  assert.equal(b.stats.forwarded, before + 1);
});

test('a cross-origin POST is refused by the node it reached and not forwarded', async () => {
  const key = encodeURIComponent(await sessionOnA());
  const before = b.stats.forwarded;
  const status = await post(`${b.httpUrl}/connection/poll?session=${key}`, { Host: 'switchboard.example', Origin: 'https://evil.example' }, '{"t":"connect","id":1}');
  assert.equal(status, 403);
  assert.equal(b.stats.forwarded, before);
});

test('a request that claims to be forwarded needs a valid proof to skip the origin check', async () => {
  const path = `/connection/poll?session=${encodeURIComponent(await sessionOnA())}`;
  const evil = { Host: 'switchboard.example', Origin: 'https://evil.example', [FORWARDED_HEADER]: 'fo-b' };
  assert.equal(await post(`${a.httpUrl}${path}`, evil, '{}'), 403, 'no proof');
  assert.equal(await post(`${a.httpUrl}${path}`, { ...evil, [FORWARD_AUTH_HEADER]: signForward('a-guessed-secret-0123456789', 'fo-b', 'POST', path, Date.now()) }, '{}'), 403, 'wrong key');
  assert.equal(await post(`${a.httpUrl}${path}`, { ...evil, [FORWARD_AUTH_HEADER]: signForward(a.clusterKey!, 'fo-b', 'POST', path + '&x=1', Date.now()) }, '{}'), 403, 'proof for another target');
  assert.equal(await post(`${a.httpUrl}${path}`, { ...evil, [FORWARD_AUTH_HEADER]: signForward(a.clusterKey!, 'fo-b', 'POST', path, Date.now() - 60_000) }, '{}'), 403, 'expired proof');
  assert.equal(await post(`${a.httpUrl}${path}`, { ...evil, [FORWARD_AUTH_HEADER]: signForward(a.clusterKey!, 'fo-b', 'POST', path, Date.now()) }, '{"t":"connect","id":1}'), 204, 'a valid proof');
});
