/**
 * /sdk/* from another origin (issue 13 item 4): CORS headers for the origins in `allowedOrigins`
 * (`*` or a list; none by default), and revalidation by ETag (a hash of the content), on a real node.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/app/index.ts';

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

test('content-hashed SDK: /sdk/switchboard.<hash>.js is immutable, named by Link and /sdk/manifest.json; the plain name revalidates', async () => {
  const { createHash } = await import('node:crypto');
  const base = await node(['https://app.example']);
  const origin = { Origin: 'https://app.example' };
  const plainUrl = `${base}/sdk/switchboard.js`;
  const plain = await fetch(plainUrl, { headers: origin });
  const body = Buffer.from(await plain.arrayBuffer());
  assert.equal(plain.headers.get('cache-control'), 'no-cache');
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  assert.equal(plain.headers.get('link'), `<switchboard.${hash}.js>; rel="canonical"`);
  assert.match(plain.headers.get('access-control-expose-headers') ?? '', /Link/);

  const hashedUrl = new URL(`switchboard.${hash}.js`, plainUrl).href;
  const hashed = await fetch(hashedUrl, { headers: origin });
  assert.equal(hashed.status, 200);
  assert.deepEqual(Buffer.from(await hashed.arrayBuffer()), body, 'the same bytes');
  assert.equal(hashed.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(hashed.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(hashed.headers.get('content-type') ?? '', /^text\/javascript/);
  const again = await get(hashedUrl, { ...origin, 'If-None-Match': hashed.headers.get('etag')! });
  assert.equal(again.status, 304);

  const m = await fetch(`${base}/sdk/manifest.json`, { headers: origin });
  assert.equal(m.headers.get('access-control-allow-origin'), 'https://app.example');
  const manifest = (await m.json()) as { js: string; integrity: string; hash: string; types: string };
  assert.deepEqual(manifest, { js: `switchboard.${hash}.js`, integrity: `sha384-${createHash('sha384').update(body).digest('base64')}`, hash, types: 'switchboard.d.ts' });

  const wrong = await get(`${base}/sdk/switchboard.0123456789abcdef.js`);
  assert.equal(wrong.status, 404);
  assert.equal(wrong.headers.get('cache-control'), 'no-store');
});

test('under a path prefix the relative Link resolves to the hashed file', async () => {
  const n = await startNode({ port: 0, host: '127.0.0.1', insecure: true, path: '/rt' });
  nodes.push(n);
  const origin = new URL(n.httpUrl).origin;
  const plainUrl = `${origin}/rt/sdk/switchboard.js`;
  const plain = await get(plainUrl);
  assert.equal(plain.status, 200);
  const link = /^<([^>]+)>/.exec(plain.headers.get('link') ?? '')?.[1];
  assert.ok(link);
  const hashed = await get(new URL(link, plainUrl).href);
  assert.equal(hashed.status, 200);
  assert.equal(hashed.headers.get('cache-control'), 'public, max-age=31536000, immutable');
});
