/**
 * The admin API's paged connection list over real HTTP (issue 13, item 7): two nodes on one
 * broker, real WebSocket clients (named users by JWT, and anonymous ones). The secret is
 * required; bad parameters are coded 400s; paging with a small page size lists every connection
 * that stays exactly once, even while others arrive and leave between pages; the anonymous
 * filter finds anonymous connections; a `node=` request and a cursor of the other node are
 * forwarded to that node.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { encodeCursor } from '../../src/admin/connections.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const ADMIN = 'admin-connections-secret';
const JWT = 'admin-connections-jwt-secret-0123456789';
const broker = new MemoryBroker();
const opts = { host: '127.0.0.1', port: 0, allowAnonymous: true, jwt: { secret: JWT }, adminSecret: ADMIN, nodeInfoInterval: 0.1, defaultNamespace: { subscribe: 'anonymous' as const, publish: 'anonymous' as const } };
let a: SwitchboardNode;
let b: SwitchboardNode;
const onA: RawClient[] = [];
const onB: RawClient[] = [];

interface Row { client: string; user: string; anonymous: boolean; transport: string; remoteAddress: string; since: number; connectedSince: string; channels: number }
interface Page { node: string; connections: Row[]; total: number; next?: string }
interface Err { error: { code: number; reason: string; message: string } }

const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).sign(new TextEncoder().encode(JWT));

async function get(node: SwitchboardNode, query: string, secret: string | null = ADMIN): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${node.httpUrl}/admin/api/connections${query}`, { headers: secret === null ? {} : { 'X-Admin-Secret': secret } });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  a = await startNode({ ...opts, name: 'conn-a', broker });
  b = await startNode({ ...opts, name: 'conn-b', broker: broker.peer() });
  // 25 named connections (users u0..u4, five each), 12 anonymous, on A; 3 anonymous on B.
  for (let i = 0; i < 25; i++) {
    const c = await RawClient.connect(a.wsUrl, { token: await token(`u${i % 5}`) });
    if (i % 3 === 0) await c.request({ t: 'sub', ch: `room-${i}` });
    onA.push(c);
  }
  for (let i = 0; i < 12; i++) onA.push(await RawClient.connect(a.wsUrl));
  for (let i = 0; i < 3; i++) onB.push(await RawClient.connect(b.wsUrl));
  const end = Date.now() + 5000;
  while ((a.clusterInfo().length < 2 || b.clusterInfo().length < 2) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
});

after(async () => {
  for (const c of [...onA, ...onB]) c.close();
  await a.close();
  await b.close();
  await broker.close();
});

test('refused without the admin secret or with a wrong one', async () => {
  assert.equal((await get(a, '?limit=10', null)).status, 401);
  assert.equal((await get(a, '?limit=10', 'wrong')).status, 401);
  assert.equal((await get(a, '?limit=10')).status, 200);
});

test('bad parameters are 400s with a reason naming the problem', async () => {
  const cases: Array<[string, string]> = [
    ['?limit=0', 'bad_limit'],
    ['?limit=201', 'bad_limit'],
    ['?limit=abc', 'bad_limit'],
    ['?limit=-1', 'bad_limit'],
    ['?limit=1.5', 'bad_limit'],
    ['?limit=99999', 'bad_limit'],
    ['?cursor=%%%', 'bad_cursor'],
    ['?cursor=' + 'A'.repeat(401), 'bad_cursor'],
    ['?cursor=' + Buffer.from('not json').toString('base64url'), 'bad_cursor'],
    ['?cursor=' + Buffer.from('{"a":1}').toString('base64url'), 'bad_cursor'],
    ['?cursor=' + Buffer.from('["conn-a",-5,"x"]').toString('base64url'), 'bad_cursor'],
    ['?cursor=' + encodeCursor('conn-b', 1, 'x') + '&node=conn-a', 'bad_cursor'],
    ['?user=' + 'u'.repeat(257), 'bad_user'],
    ['?user=', 'bad_user'],
    ['?user=u1&anonymous=1', 'bad_user'],
    ['?anonymous=yes', 'bad_anonymous'],
    ['?limit=10&limit=20', 'repeated_param'],
    ['?sort=desc', 'unknown_param'],
    ['?node=' + 'n'.repeat(257), 'bad_node'],
  ];
  for (const [q, reason] of cases) {
    const r = await get(a, q);
    assert.equal(r.status, 400, `${q} → ${JSON.stringify(r.body)}`);
    const e = (r.body as Err).error;
    assert.equal(e.code, 400);
    assert.equal(e.reason, reason, `${q}: ${e.message}`);
    assert.ok(e.message.length > 0 && e.message.length < 300);
  }
  // A node that is not in the registry: 404 with a reason, not a hang.
  const r = await get(a, '?node=no-such-node');
  assert.equal(r.status, 404);
  assert.equal((r.body as Err).error.reason, 'unknown_node');
});

test('pages of 10 list every connection that stays exactly once, while others come and go', async () => {
  const stay = new Set(onA.map((c) => c.clientId));
  const seen: string[] = [];
  let cursor = '';
  let pages = 0;
  const arrived: RawClient[] = [];
  for (;;) {
    const r = await get(a, `?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const p = r.body as Page;
    assert.equal(p.node, 'conn-a');
    assert.ok(p.connections.length <= 10);
    for (const row of p.connections) {
      seen.push(row.client);
      assert.equal(row.transport, 'websocket');
      assert.match(row.remoteAddress, /127\.0\.0\.1/);
      assert.equal(new Date(row.connectedSince).getTime(), row.since);
    }
    pages++;
    if (pages === 1) {
      // Churn between pages: one already listed leaves, two new ones arrive.
      const gone = onA.find((c) => c.clientId === p.connections[0]!.client)!;
      gone.close();
      stay.delete(gone.clientId);
      for (let i = 0; i < 2; i++) arrived.push(await RawClient.connect(a.wsUrl));
    }
    if (!p.next) break;
    cursor = p.next;
    assert.ok(pages < 20, 'paging ends');
  }
  assert.equal(new Set(seen).size, seen.length, 'no duplicates');
  for (const id of stay) assert.ok(seen.includes(id), `connection ${id} that stayed was listed`);
  // Newcomers sort after everyone older, so they are on the later pages.
  for (const c of arrived) assert.ok(seen.includes(c.clientId), 'a connection that arrived during paging is on a later page');
  assert.equal(pages, 4, '37 + 2 connections in pages of 10');
  for (const c of arrived) c.close();
  const end = Date.now() + 5000;
  while (a.connectionCount !== 36 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(a.connectionCount, 36);
});

test('the anonymous filter and the user filter', async () => {
  const anon = (await get(a, '?anonymous=1&limit=200')).body as Page;
  assert.equal(anon.total, 12);
  assert.equal(anon.connections.length, 12);
  assert.ok(anon.connections.every((r) => r.anonymous && r.user === ''));
  const u3 = (await get(a, '?user=u3&limit=2')).body as Page;
  assert.equal(u3.total, 5);
  assert.equal(u3.connections.length, 2);
  assert.ok(u3.connections.every((r) => r.user === 'u3' && !r.anonymous));
  const rest = (await get(a, `?user=u3&limit=10&cursor=${u3.next}`)).body as Page;
  assert.equal(rest.connections.length, 3);
  assert.equal(rest.next, undefined);
  // Channels per connection: of u0's connections (i = 0, 5, 10, 15, 20) i = 0 and 15 subscribed to
  // one room, and i = 0 left during the paging test.
  const u0 = ((await get(a, '?user=u0&limit=200')).body as Page).connections;
  assert.deepEqual(u0.map((r) => r.channels).sort(), [0, 0, 0, 1]);
  assert.equal(((await get(a, '?user=nobody')).body as Page).total, 0);
});

test('node= and a cursor of the other node are forwarded to that node (behind a balancer)', async () => {
  const first = await get(a, '?node=conn-b&limit=2');
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const p = first.body as Page;
  assert.equal(p.node, 'conn-b');
  assert.equal(p.total, 3);
  assert.deepEqual(new Set(p.connections.map((r) => r.client)).size, 2);
  assert.ok(p.next);
  // The next page asked from A with only the cursor: A forwards it to B.
  const second = (await get(a, `?limit=2&cursor=${p.next}`)).body as Page;
  assert.equal(second.node, 'conn-b');
  assert.equal(second.connections.length, 1);
  assert.deepEqual(new Set([...p.connections, ...second.connections].map((r) => r.client)), new Set(onB.map((c) => c.clientId)));
  // The other node checks the secret itself; a stats request is forwarded the same way.
  const stats = await fetch(`${a.httpUrl}/admin/api/stats?node=conn-b`, { headers: { 'X-Admin-Secret': ADMIN } });
  assert.equal(((await stats.json()) as { node: string; connections: number }).node, 'conn-b');
  // A request already forwarded once is not forwarded again.
  const loop = await fetch(`${b.httpUrl}/admin/api/stats?node=conn-a`, { headers: { 'X-Admin-Secret': ADMIN, 'X-Switchboard-Admin-Forwarded': 'conn-a' } });
  assert.equal(loop.status, 404);
  assert.equal(((await loop.json()) as Err).error.reason, 'unknown_node');
});
