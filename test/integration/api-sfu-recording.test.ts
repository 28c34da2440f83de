/**
 * The SFU recording methods of the HTTP server API without a browser: API-key auth as every
 * method, field validation (400 naming the field), 108 on a node without an SFU, 108 for a room
 * this node's SFU does not hold, 107 for an unknown recording, an empty list. The recording
 * itself, with Chromium publishing, is test/e2e/sfu-recording.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/app/index.ts';
import { createSfu } from '../../src/webrtc/sfu/index.ts';

const KEY = 'api-key-for-tests';
const nodes: { close(): Promise<void> }[] = [];
after(async () => {
  for (const n of nodes) await n.close();
});

async function call(base: string, method: string, body: unknown, key: string | null = KEY): Promise<{ status: number; body: { result?: any; error?: { code: number; message: string } } }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (key !== null) headers.Authorization = `apikey ${key}`;
  const res = await fetch(`${base}/api/${method}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

test('sfu_record_start / sfu_record_stop / sfu_recordings: auth, validation and coded refusals', async () => {
  const plain = await startNode({ port: 0, host: '127.0.0.1', apiKey: KEY, allowAnonymous: true });
  nodes.push(plain);
  const none = await call(plain.httpUrl, 'sfu_recordings', {});
  assert.equal(none.status, 400);
  assert.equal(none.body.error?.code, 108, 'no SFU on this node');

  const sfu = createSfu({ recordDir: '/nonexistent-never-created' });
  const node = await startNode({ port: 0, host: '127.0.0.1', apiKey: KEY, allowAnonymous: true, namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous' } }, sfu });
  nodes.push(node);
  const u = node.httpUrl;
  assert.equal((await call(u, 'sfu_recordings', {}, null)).status, 401);
  assert.equal((await call(u, 'sfu_recordings', {}, 'wrong')).status, 401);
  assert.deepEqual((await call(u, 'sfu_recordings', {})).body, { result: { recordings: [] } });
  const bad: [unknown, RegExp][] = [
    [{}, /"room" is required/],
    [{ room: 7 }, /"room" must be a non-empty string/],
    [{ room: 'x'.repeat(257) }, /"room" must be at most 256/],
    [{ room: 'sfu:a', client: 'c'.repeat(129) }, /"client" must be at most 128/],
    [{ room: 'sfu:a', layer: 3 }, /"layer" must be 0, 1 or 2/],
    [{ room: 'sfu:a', layer: -1 }, /"layer" must be a non-negative integer/],
    [{ room: 'sfu:a', dir: '/etc' }, /unknown field "dir"/],
  ];
  for (const [body, msg] of bad) {
    const r = await call(u, 'sfu_record_start', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.error!.message, msg);
  }
  const noRoom = await call(u, 'sfu_record_start', { room: 'sfu:empty' });
  assert.equal(noRoom.body.error?.code, 108);
  assert.match(noRoom.body.error!.message, /no participants on this node/);
  const noId = await call(u, 'sfu_record_stop', { id: 'rec_0000' });
  assert.equal(noId.body.error?.code, 107);
  assert.equal((await call(u, 'sfu_record_stop', {})).status, 400);
});
