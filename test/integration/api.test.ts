/** HTTP server API, /healthz and /metrics. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const KEY = 'api-key-for-tests';

describe('HTTP server API', () => {
  let node: SwitchboardNode;
  let sub: RawClient;
  before(async () => {
    node = await startNode({
      port: 0,
      host: '127.0.0.1',
      allowAnonymous: true,
      apiKey: KEY,
      defaultNamespace: { subscribe: 'anonymous', historySize: 10, presence: true },
      namespaces: { plain: { subscribe: 'anonymous' } },
    });
    sub = await RawClient.connect(node.wsUrl);
    await sub.request({ t: 'sub', ch: 'news' });
  });
  after(async () => {
    sub.close();
    await node.close();
  });

  async function call(method: string, body: unknown, opts: { key?: string | null; type?: string; raw?: string; httpMethod?: string } = {}) {
    const headers: Record<string, string> = { 'Content-Type': opts.type ?? 'application/json' };
    if (opts.key !== null) headers.Authorization = `apikey ${opts.key ?? KEY}`;
    const res = await fetch(`${node.httpUrl}/api/${method}`, {
      method: opts.httpMethod ?? 'POST',
      headers,
      ...(opts.httpMethod === 'GET' ? {} : { body: opts.raw ?? JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  test('publish reaches WebSocket subscribers and returns the position', async () => {
    const r = await call('publish', { channel: 'news', data: { headline: 'x' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.result.offset, 1);
    const p = await sub.waitFor((f) => f.t === 'pub');
    assert.deepEqual(p.data, { headline: 'x' });
    const again = await call('publish', { channel: 'news', data: 1, idempotencyKey: 'k' });
    const dup = await call('publish', { channel: 'news', data: 1, idempotencyKey: 'k' });
    assert.deepEqual(again.body.result, dup.body.result);
  });

  test('broadcast, history, presence, presence_stats, info', async () => {
    const b = await call('broadcast', { channels: ['news', 'plain:a', 'bad channel'], data: 'all' });
    assert.equal(b.status, 200);
    assert.equal(b.body.result.responses.length, 3);
    assert.ok(b.body.result.responses[0].offset > 0);
    assert.equal(b.body.result.responses[2].error.code, 112);
    const h = await call('history', { channel: 'news', limit: 2 });
    assert.deepEqual(h.body.result.publications.map((p: any) => p.data), [1, 'all']);
    // `offset` spelled out as in publish answers, not the client wire protocol's `o` (issue 13 item 8).
    assert.deepEqual(h.body.result.publications.map((p: any) => [p.offset, 'o' in p]), [[h.body.result.offset - 1, false], [h.body.result.offset, false]]);
    const pr = await call('presence', { channel: 'news' });
    assert.deepEqual(Object.keys(pr.body.result.presence), [sub.clientId]);
    assert.deepEqual((await call('presence_stats', { channel: 'news' })).body.result, { clients: 1, users: 1 });
    const second = await RawClient.connect(node.wsUrl);
    await second.request({ t: 'sub', ch: 'news' });
    const page1 = await call('presence', { channel: 'news', limit: 1 });
    assert.deepEqual(Object.keys(page1.body.result.presence), [sub.clientId]);
    const page2 = await call('presence', { channel: 'news', limit: 1, cursor: page1.body.result.cursor });
    assert.deepEqual([Object.keys(page2.body.result.presence), page2.body.result.cursor], [[second.clientId], undefined]);
    assert.equal((await call('presence', { channel: 'news', cursor: 'zzz' })).status, 400);
    assert.equal((await call('presence', { channel: 'news', limit: 0 })).status, 400);
    const info = await call('info', {});
    assert.equal(info.body.result.nodes[0].connections, 2);
    second.close();
  });

  test('disconnect by client, with and without reconnect', async () => {
    const c = await RawClient.connect(node.wsUrl);
    const r = await call('disconnect', { client: c.clientId, reconnect: false });
    assert.deepEqual(r.body.result, { disconnected: 1 });
    assert.equal((await c.closed).code, 3503);
    assert.deepEqual((await call('disconnect', { user: 'nobody' })).body.result, { disconnected: 0 });
  });

  test('bad API key, missing key, wrong method, unknown method → 401/405/404', async () => {
    assert.equal((await call('publish', { channel: 'news', data: 1 }, { key: 'wrong' })).status, 401);
    assert.equal((await call('publish', { channel: 'news', data: 1 }, { key: null })).status, 401);
    assert.equal((await call('publish', undefined, { httpMethod: 'GET' })).status, 405);
    const u = await call('explode', {});
    assert.equal(u.status, 404);
    assert.match(u.body.error.message, /unknown API method/);
  });

  test('invalid bodies → 400/413/415 with a message naming the problem', async () => {
    const cases: Array<[string, unknown, number, RegExp, { raw?: string; type?: string }?]> = [
      ['publish', {}, 400, /"channel" is required/],
      ['publish', { channel: 'news' }, 400, /"data" is required/],
      ['publish', { channel: 42, data: 1 }, 400, /"channel" must be/],
      ['publish', { channel: 'news', data: 1, extra: true }, 400, /unknown field "extra"/],
      ['publish', { channel: 'nope:x', data: 1 }, 400, /namespace/],
      ['publish', null, 400, /malformed JSON|JSON object/, { raw: '{"channel":' }],
      ['publish', null, 400, /JSON object/, { raw: '[1,2]' }],
      ['publish', null, 400, /deeper/, { raw: `{"channel":"news","data":${'['.repeat(50)}${']'.repeat(50)}}` }],
      ['publish', null, 415, /Content-Type/, { raw: 'channel=news', type: 'application/x-www-form-urlencoded' }],
      ['publish', null, 413, /body over/, { raw: JSON.stringify({ channel: 'news', data: 'z'.repeat(1_100_000) }) }],
      ['broadcast', { channels: 'news', data: 1 }, 400, /"channels" must be/],
      ['history', { channel: 'plain:a' }, 400, /history is off/],
      ['history', { channel: 'news', limit: -1 }, 400, /non-negative integer/],
      ['history', { channel: 'news', since: { offset: 1 } }, 400, /"epoch" is required/],
      ['disconnect', {}, 400, /give "user" or "client"/],
      ['disconnect', { client: 'x', reconnect: 'yes' }, 400, /"reconnect" must be a boolean/],
    ];
    for (const [method, body, status, msg, opts] of cases) {
      const r = await call(method, body, opts ?? {});
      assert.equal(r.status, status, `${method} ${JSON.stringify(body)?.slice(0, 60)}`);
      assert.match(r.body.error.message, msg);
    }
    // The node still serves.
    assert.equal((await call('publish', { channel: 'news', data: 'after' })).status, 200);
  });

  test('/healthz and /metrics', async () => {
    const h = await fetch(`${node.httpUrl}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(((await h.json()) as any).status, 'ok');
    const m = await (await fetch(`${node.httpUrl}/metrics`)).text();
    for (const name of ['switchboard_connections', 'switchboard_publications_total', 'switchboard_deliveries_total', 'switchboard_errors_total', 'switchboard_slow_consumer_disconnects_total', 'switchboard_frames_sent_total', 'switchboard_bytes_sent_total']) {
      assert.match(m, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(m, /^switchboard_connections\{[^}]*\} 1$/m);
  });
});

test('without an API key the server API is disabled (outside dev mode)', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true });
  const r = await fetch(`${node.httpUrl}/api/info`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 403);
  await node.close();
});
