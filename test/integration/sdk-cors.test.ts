/**
 * /sdk/* from another origin (issue 13 item 4): CORS headers for the origins in `allowedOrigins`
 * (`*` or a list; none by default), and revalidation by ETag (a hash of the content), on a real node.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/server/index.ts';

const nodes: Array<{ close(): Promise<void> }> = [];
after(async () => {
  for (const n of nodes) await n.close();
});

async function node(allowedOrigins: string[] | undefined): Promise<string> {
  const n = await startNode({ port: 0, host: '127.0.0.1', insecure: true, ...(allowedOrigins ? { allowedOrigins } : {}) });
  nodes.push(n);
  return n.httpUrl;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  const r = await fetch(url, { headers });
  await r.arrayBuffer();
  return r;
}

test('a listed origin gets its own origin back, an unlisted one gets none; 304 keeps the header', async () => {
  const base = await node(['https://app.example']);
  for (const path of ['/sdk/switchboard.js', '/sdk/switchboard.d.ts']) {
    const ok = await get(base + path, { Origin: 'https://app.example' });
    assert.equal(ok.status, 200, path);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(ok.headers.get('vary') ?? '', /Origin/);
    const etag = ok.headers.get('etag');
    assert.match(etag ?? '', /^"[\w-]{20}"$/, 'a content-hash ETag');
    const again = await get(base + path, { Origin: 'https://app.example', 'If-None-Match': etag! });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(again.headers.get('etag'), etag);

    const other = await get(base + path, { Origin: 'https://evil.example' });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('access-control-allow-origin'), null, 'no CORS grant for an unlisted origin');
  }
  // Not the demo: CORS is for /sdk/* only.
  const page = await get(`${base}/`, { Origin: 'https://app.example' });
  assert.equal(page.headers.get('access-control-allow-origin'), null);
});

test("'*' grants every origin; the default (same host only) grants none", async () => {
  const any = await node(['*']);
  const r = await get(`${any}/sdk/switchboard.js`, { Origin: 'https://anywhere.example' });
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const def = await node([]);
  const d = await get(`${def}/sdk/switchboard.js`, { Origin: 'https://anywhere.example' });
  assert.equal(d.status, 200);
  assert.equal(d.headers.get('access-control-allow-origin'), null);
});
