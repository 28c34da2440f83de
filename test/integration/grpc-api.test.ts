/**
 * The gRPC server API (proto/switchboard/v1/api.proto) over a real port, with a real grpc-js client
 * loading the shipped .proto through proto-loader, and Connect clients (Connect protocol and
 * gRPC-Web over HTTP/1.1, gRPC over HTTP/2): every rpc, the client-streaming publish, auth,
 * validation and status codes, message size and stream limits, a deadline the server enforces, and
 * UNAVAILABLE while a real (private) redis-server is hung.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Client as ConnectClient, type Interceptor, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { ApiService, PublishRequestSchema } from '../../src/api/gen/switchboard/v1/api_pb.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { Client } from '../../src/client/index.ts';
import { optionsFromEnv } from '../../src/cli/config.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { freePort, startRedis, type RedisProcess } from '../helpers/cluster-redis.ts';
import { RawClient } from '../helpers/raw-client.ts';

const KEY = 'grpc-api-key-for-tests';
const PROTO = new URL('../../proto/switchboard/v1/api.proto', import.meta.url).pathname;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** The grpc-js client, generated at run time from the shipped .proto (what any gRPC user does). */
interface GrpcError extends Error {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}
type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: GrpcError | null, res: any) => void) => void;
type GrpcClient = grpc.Client & Record<string, Unary> & { PublishStream(md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: GrpcError | null, res: any) => void): grpc.ClientWritableStream<object> };

function grpcClient(address: string, options: grpc.ClientOptions = {}): GrpcClient {
  const def = protoLoader.loadSync(PROTO, { longs: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { switchboard: { v1: { ApiService: grpc.ServiceClientConstructor } } };
  return new pkg.switchboard.v1.ApiService(address, grpc.credentials.createInsecure(), options) as unknown as GrpcClient;
}

function md(key: string | null = KEY): grpc.Metadata {
  const m = new grpc.Metadata();
  if (key !== null) m.set('authorization', `apikey ${key}`);
  return m;
}

/** One unary call; resolves with the response or the error (never rejects). */
function call(c: GrpcClient, method: string, req: object, opts: { key?: string | null; deadlineMs?: number } = {}): Promise<{ res?: any; err?: GrpcError }> {
  const callOpts: grpc.CallOptions = opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
  return new Promise((resolve) => c[method]!(req, md(opts.key), callOpts, (err, res) => resolve(err ? { err } : { res })));
}

async function ok(c: GrpcClient, method: string, req: object): Promise<any> {
  const r = await call(c, method, req);
  if (r.err) throw new Error(`${method} failed: ${grpc.status[r.err.code]} ${r.err.details}`);
  return r.res;
}

async function fails(c: GrpcClient, method: string, req: object, code: grpc.status, sbCode?: number, opts: { key?: string | null } = {}): Promise<GrpcError> {
  const r = await call(c, method, req, opts);
  assert.ok(r.err, `${method} ${JSON.stringify(req).slice(0, 80)} should fail with ${grpc.status[code]}`);
  assert.equal(r.err.code, code, `${grpc.status[r.err.code]}: ${r.err.details}`);
  if (sbCode !== undefined) assert.equal(r.err.metadata.get('switchboard-error-code')[0], String(sbCode));
  return r.err;
}

const auth: Interceptor = (next) => (req) => {
  req.header.set('authorization', `apikey ${KEY}`);
  return next(req);
};

function waitFor(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

describe('gRPC server API (memory broker)', () => {
  let node: SwitchboardNode;
  let c: GrpcClient;
  before(async () => {
    node = await startNode({
      port: 0,
      host: '127.0.0.1',
      allowAnonymous: true,
      apiKey: KEY,
      defaultNamespace: { subscribe: 'anonymous', historySize: 1000, presence: true },
      namespaces: { plain: { subscribe: 'anonymous' } },
    });
    await node.startGrpc(0);
    c = grpcClient(node.grpc!.address, { 'grpc.max_send_message_length': 8 << 20 });
  });
  after(async () => {
    c.close();
    await node.close();
  });

  test('Publish (grpc-js) reaches a WebSocket subscriber of the SDK; an idempotency key publishes once', async () => {
    const sdk = new Client(node.wsUrl, { minDelay: 20, maxDelay: 200 });
    try {
      await sdk.connect();
      const got: unknown[] = [];
      const sub = sdk.subscribe('news', { onPublication: (p) => got.push(p.data) });
      await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
      const r = await ok(c, 'Publish', { channel: 'news', data: json({ headline: 'over gRPC', n: [1, 2] }) });
      assert.equal(r.offset, '1');
      assert.ok(r.epoch.length > 0);
      await waitFor(() => got.length === 1, 5000, 'the publication');
      assert.deepEqual(got[0], { headline: 'over gRPC', n: [1, 2] });
      const a = await ok(c, 'Publish', { channel: 'news', data: json('once'), idempotencyKey: 'k-1' });
      const b = await ok(c, 'Publish', { channel: 'news', data: json('once'), idempotencyKey: 'k-1' });
      assert.deepEqual(a, b);
      await waitFor(() => got.length === 2, 5000, 'the keyed publication');
      assert.deepEqual(got, [{ headline: 'over gRPC', n: [1, 2] }, 'once']);
    } finally {
      sdk.close();
    }
  });

  test('Broadcast, History, Presence (paged), PresenceStats, Info, Channels, Connections, Disconnect', async () => {
    const sub = await RawClient.connect(node.wsUrl);
    const second = await RawClient.connect(node.wsUrl);
    try {
      await sub.request({ t: 'sub', ch: 'room' });
      await second.request({ t: 'sub', ch: 'room' });
      const b = await ok(c, 'Broadcast', { channels: ['room', 'plain:a', 'bad channel'], data: json({ all: true }) });
      assert.equal(b.responses.length, 3);
      assert.equal(b.responses[0].result, 'position');
      assert.equal(b.responses[0].position.offset, '1');
      assert.equal(b.responses[1].result, 'position');
      assert.equal(b.responses[2].result, 'error');
      assert.equal(b.responses[2].error.code, 112);
      await ok(c, 'Publish', { channel: 'room', data: json(2) });
      await ok(c, 'Publish', { channel: 'room', data: json('three') });

      const h = await ok(c, 'History', { channel: 'room', limit: 2 });
      // The latest `limit`, oldest first.
      assert.deepEqual(h.publications.map((p: any) => JSON.parse(p.data.toString())), [2, 'three']);
      assert.deepEqual(h.publications.map((p: any) => p.offset), ['2', '3']);
      assert.equal(h.offset, '3');
      const since = await ok(c, 'History', { channel: 'room', since: { epoch: h.epoch, offset: 1 } });
      assert.deepEqual(since.publications.map((p: any) => JSON.parse(p.data.toString())), [2, 'three']);
      const rev = await ok(c, 'History', { channel: 'room', limit: 1, reverse: true });
      assert.deepEqual(rev.publications.map((p: any) => p.offset), ['3']);

      const p1 = await ok(c, 'Presence', { channel: 'room', limit: 1 });
      assert.deepEqual(p1.presence.map((x: any) => x.client), [sub.clientId]);
      assert.ok(p1.cursor);
      const p2 = await ok(c, 'Presence', { channel: 'room', limit: 1, cursor: p1.cursor });
      assert.deepEqual(p2.presence.map((x: any) => x.client), [second.clientId]);
      assert.equal(p2.cursor, undefined);
      await fails(c, 'Presence', { channel: 'room', cursor: 'zzz' }, grpc.status.INVALID_ARGUMENT, 400);
      await fails(c, 'Presence', { channel: 'room', limit: 0 }, grpc.status.INVALID_ARGUMENT, 400);
      assert.deepEqual(await ok(c, 'PresenceStats', { channel: 'room' }), { clients: 2, users: 1 });

      const info = await ok(c, 'Info', {});
      assert.equal(info.nodes.length, 1);
      assert.equal(info.nodes[0].name, node.options.name);
      assert.ok(info.nodes[0].connections >= 2);
      node.cluster.report();
      const ch = await ok(c, 'Channels', { limit: 10 });
      assert.ok(ch.channels.some((x: any) => x.channel === 'room' && x.subscribers === 2), JSON.stringify(ch));
      assert.equal(typeof ch.partial, 'boolean');
      assert.deepEqual(await ok(c, 'Connections', { user: 'nobody' }), { connections: [] });
      await fails(c, 'Connections', { user: '' }, grpc.status.INVALID_ARGUMENT, 400);

      const d = await ok(c, 'Disconnect', { client: second.clientId, reconnect: false });
      assert.equal(d.disconnected, 1);
      assert.equal((await second.closed).code, 3503);
      assert.equal((await ok(c, 'Disconnect', { user: 'nobody' })).disconnected, 0);
      await fails(c, 'Disconnect', {}, grpc.status.INVALID_ARGUMENT, 400);
    } finally {
      sub.close();
      second.close();
    }
  });

  test('the same handlers over Connect and gRPC-Web (HTTP/1.1) and gRPC (HTTP/2) from the Connect client', async () => {
    const base = node.grpc!.url;
    const transports: Array<[string, Transport]> = [
      ['connect/1.1', createConnectTransport({ baseUrl: base, httpVersion: '1.1', interceptors: [auth] })],
      ['grpc-web/1.1', createGrpcWebTransport({ baseUrl: base, httpVersion: '1.1', interceptors: [auth] })],
      ['grpc/2', createGrpcTransport({ baseUrl: base, interceptors: [auth] })],
      ['connect/2', createConnectTransport({ baseUrl: base, httpVersion: '2', interceptors: [auth] })],
    ];
    for (const [name, t] of transports) {
      const api: ConnectClient<typeof ApiService> = createClient(ApiService, t);
      const channel = `proto-${name.replace(/\W/g, '')}`;
      const p = await api.publish({ channel, data: json({ via: name }) });
      assert.equal(p.offset, 1n, name);
      const h = await api.history({ channel });
      assert.deepEqual(JSON.parse(Buffer.from(h.publications[0]!.data).toString()), { via: name });
      await assert.rejects(api.publish({ channel: 'bad channel', data: json(1) }), (e: unknown) => {
        assert.ok(e instanceof ConnectError, name);
        assert.equal(e.code, Code.InvalidArgument, name);
        assert.equal(e.metadata.get('switchboard-error-code'), '112', name);
        assert.match(e.rawMessage, /invalid channel name/);
        return true;
      });
      const noKey = createClient(ApiService, name.startsWith('connect') ? createConnectTransport({ baseUrl: base, httpVersion: name.endsWith('2') ? '2' : '1.1' }) : name.startsWith('grpc-web') ? createGrpcWebTransport({ baseUrl: base, httpVersion: '1.1' }) : createGrpcTransport({ baseUrl: base }));
      await assert.rejects(noKey.info({}), (e: unknown) => e instanceof ConnectError && e.code === Code.Unauthenticated);
    }
  });

  test('auth: no key or a wrong key is UNAUTHENTICATED; a node without apiKey answers PERMISSION_DENIED', async () => {
    const e1 = await fails(c, 'Publish', { channel: 'news', data: json(1) }, grpc.status.UNAUTHENTICATED, 401, { key: null });
    assert.match(e1.details, /apikey KEY/);
    const e2 = await fails(c, 'Info', {}, grpc.status.UNAUTHENTICATED, 401, { key: 'wrong-key' });
    assert.equal(e2.details, 'invalid API key');
    const closed = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true });
    try {
      await closed.startGrpc(0);
      const c2 = grpcClient(closed.grpc!.address);
      const e3 = await fails(c2, 'Info', {}, grpc.status.PERMISSION_DENIED, 403, { key: 'anything' });
      assert.match(e3.details, /server API is disabled/);
      c2.close();
    } finally {
      await closed.close();
    }
  });

  test('validation: INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION with the Switchboard code in the trailers', async () => {
    const e = await fails(c, 'Publish', { channel: '', data: json(1) }, grpc.status.INVALID_ARGUMENT, 400);
    assert.match(e.details, /field "channel"/);
    await fails(c, 'Publish', { channel: 'bad channel', data: json(1) }, grpc.status.INVALID_ARGUMENT, 112);
    const d = await fails(c, 'Publish', { channel: 'news', data: Buffer.from('{not json') }, grpc.status.INVALID_ARGUMENT, 400);
    assert.match(d.details, /field "data" must be JSON-encoded UTF-8/);
    await fails(c, 'Publish', { channel: 'news', data: Buffer.from([0x22, 0xff, 0x22]) }, grpc.status.INVALID_ARGUMENT, 400);
    const deep = '['.repeat(200) + ']'.repeat(200);
    await fails(c, 'Publish', { channel: 'news', data: Buffer.from(deep) }, grpc.status.INVALID_ARGUMENT, 400);
    await fails(c, 'Publish', { channel: 'news' }, grpc.status.INVALID_ARGUMENT, 400);
    await fails(c, 'Publish', { channel: 'news', data: json(1), idempotencyKey: 'k'.repeat(129) }, grpc.status.INVALID_ARGUMENT, 400);
    await fails(c, 'Publish', { channel: 'nosuchns:x', data: json(1) }, grpc.status.NOT_FOUND, 102);
    await fails(c, 'Presence', { channel: 'plain:a' }, grpc.status.FAILED_PRECONDITION, 108);
    await fails(c, 'History', { channel: 'news', since: { epoch: '', offset: 1 } }, grpc.status.INVALID_ARGUMENT, 400);
    await fails(c, 'Broadcast', { channels: [], data: json(1) }, grpc.status.INVALID_ARGUMENT, 400);
  });

  test('hostile input: a message over 1 MiB is RESOURCE_EXHAUSTED; HTTP/2 streams per connection are bounded', async () => {
    const big = json('x'.repeat(1_100_000));
    await fails(c, 'Publish', { channel: 'news', data: big }, grpc.status.RESOURCE_EXHAUSTED);
    // Just under the limit still works.
    assert.ok((await ok(c, 'Publish', { channel: 'news', data: json('y'.repeat(1_000_000)) })).offset);
    // The server announces its concurrent-stream bound in its SETTINGS.
    const session = h2connect(node.grpc!.url);
    try {
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) => session.once('remoteSettings', resolve));
      assert.equal(settings.maxConcurrentStreams, 100);
    } finally {
      session.destroy();
    }
    // Garbage that is neither HTTP/1.1 nor HTTP/2 gets nowhere and does not hurt the next call.
    const { connect } = await import('node:net');
    const sock = connect(node.grpc!.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.resume();
    await new Promise<void>((resolve) => sock.once('connect', resolve));
    sock.write(Buffer.from([0x50, 0x52, 0x49, 0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]));
    await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    assert.ok((await ok(c, 'Info', {})).nodes.length === 1);
  });

  test('a call past maxConcurrentStreams waits for a free stream (grpc-js) and the server never runs more', async () => {
    const limited = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, apiKey: KEY });
    try {
      const { startGrpcServer } = await import('../../src/api/grpc.ts');
      const g = await startGrpcServer(limited, { port: 0, maxConcurrentStreams: 2 });
      const c2 = grpcClient(g.address);
      // Three open client streams: the third cannot start until one of the first two ends.
      const results: string[] = [];
      const open = (i: number) => {
        const s = c2.PublishStream(md(), {}, (err, res) => results.push(err ? `err ${i}` : `ok ${i} ${res.published}`));
        s.write({ channel: `s${i}`, data: json(i) });
        return s;
      };
      const s1 = open(1);
      const s2 = open(2);
      const s3 = open(3);
      await waitFor(() => limited.stats.publishes === 2, 5000, 'the first two streams to publish');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(limited.stats.publishes, 2, 'the third stream did not start while two were open');
      s1.end();
      await waitFor(() => limited.stats.publishes === 3, 5000, 'the third stream to start');
      s2.end();
      s3.end();
      await waitFor(() => results.length === 3, 5000, 'all streams to end');
      assert.deepEqual(results.sort(), ['ok 1 1', 'ok 2 1', 'ok 3 1']);
      c2.close();
      await g.close();
    } finally {
      await limited.close();
    }
  });

  test('PublishStream (client streaming): in order; a bad message is skipped and reported with its index and code', async () => {
    const n = 200;
    const res = await new Promise<any>((resolve, reject) => {
      const s = c.PublishStream(md(), {}, (err, r) => (err ? reject(err) : resolve(r)));
      for (let i = 0; i < n; i++) s.write({ channel: 'stream', data: json({ i }) });
      s.end();
    });
    assert.equal(res.published, String(n));
    assert.equal(res.failed, '0');
    assert.deepEqual(res.failures, []);
    assert.equal(res.last.offset, String(n));
    const h = await ok(c, 'History', { channel: 'stream', limit: 1000 });
    assert.deepEqual(h.publications.map((p: any) => JSON.parse(p.data.toString()).i), [...Array(n).keys()]);

    const r2 = await new Promise<any>((resolve, reject) => {
      const s = c.PublishStream(md(), {}, (e, r) => (e ? reject(e) : resolve(r)));
      for (let i = 0; i < 4; i++) s.write({ channel: 'stream2', data: json(i) });
      s.write({ channel: 'bad channel', data: json('bad') }); // index 4: invalid channel (112)
      s.write({ channel: 'stream2', data: json('after') }); // 5
      s.write({ channel: 'nosuchns:x', data: json('x') }); // 6: unknown namespace (102)
      s.write({ channel: 'stream2', data: Buffer.from('{not json') }); // 7: bad data (400)
      s.write({ channel: 'stream2', data: json('last') }); // 8
      s.end();
    });
    assert.equal(r2.published, '6');
    assert.equal(r2.failed, '3');
    assert.deepEqual(
      r2.failures.map((f: any) => [f.index, f.error.code, f.status]),
      [
        ['4', 112, grpc.status.INVALID_ARGUMENT],
        ['6', 102, grpc.status.NOT_FOUND],
        ['7', 400, grpc.status.INVALID_ARGUMENT],
      ],
    );
    assert.match(r2.failures[2].error.message, /field "data" must be JSON/);
    const h2 = await ok(c, 'History', { channel: 'stream2' });
    assert.deepEqual(h2.publications.map((p: any) => JSON.parse(p.data.toString())), [0, 1, 2, 3, 'after', 'last'], 'the good messages, in order');
    assert.equal(r2.last.offset, '6');

    // The Connect client's client streaming (HTTP/2) reaches the same handler.
    const api = createClient(ApiService, createGrpcTransport({ baseUrl: node.grpc!.url, interceptors: [auth] }));
    async function* msgs() {
      for (let i = 0; i < 10; i++) yield { channel: 'stream3', data: json(i) };
    }
    const r3 = await api.publishStream(msgs());
    assert.equal(r3.published, 10n);
  });

  test('PublishStream limits: messages and bytes per call end it with RESOURCE_EXHAUSTED, published and failed index in the trailers', async () => {
    const { startGrpcServer } = await import('../../src/api/grpc.ts');
    const g = await startGrpcServer(node, { port: 0, maxStreamMessages: 5, maxStreamBytes: 2000 });
    const c2 = grpcClient(g.address);
    const stream = (msgs: object[]) =>
      new Promise<{ res?: any; err?: GrpcError }>((resolve) => {
        const s = c2.PublishStream(md(), {}, (e, r) => resolve(e ? { err: e } : { res: r }));
        s.on('error', () => {});
        for (const m of msgs) s.write(m);
        s.end();
      });
    try {
      const five = await stream([...Array(5).keys()].map((i) => ({ channel: 'lim', data: json(i) })));
      assert.equal(five.res?.published, '5');
      const six = await stream([...Array(6).keys()].map((i) => ({ channel: 'lim', data: json(i) })));
      assert.equal(six.err?.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(six.err!.details, /at most 5 messages/);
      assert.equal(six.err!.metadata.get('switchboard-published')[0], '5');
      assert.equal(six.err!.metadata.get('switchboard-failed-index')[0], '5');
      // Bytes: three 900-byte messages (channel + data) pass 2000 at the third.
      const big = await stream([0, 1, 2].map((i) => ({ channel: 'lim2', data: json(`${i}`.repeat(894)) })));
      assert.equal(big.err?.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(big.err!.details, /at most 2000 bytes/);
      assert.equal(big.err!.metadata.get('switchboard-failed-index')[0], '2');
      assert.equal((await ok(c, 'History', { channel: 'lim2' })).publications.length, 2);
      // No key: refused before any message is read.
      const anon = await new Promise<GrpcError>((resolve) => {
        const s = c2.PublishStream(md(null), {}, (e) => resolve(e!));
        s.on('error', () => {});
        s.write({ channel: 'lim3', data: json(1) });
        s.end();
      });
      assert.equal(anon.code, grpc.status.UNAUTHENTICATED);
      assert.equal((await ok(c, 'History', { channel: 'lim3' })).publications.length, 0);
    } finally {
      c2.close();
      await g.close();
    }
  });

  test('grpcPort starts the API with the node; SWITCHBOARD_GRPC_PORT sets it', async () => {
    assert.equal(optionsFromEnv({ SWITCHBOARD_GRPC_PORT: '9123' }).grpcPort, 9123);
    const port = await freePort();
    const n2 = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, apiKey: KEY, grpcPort: port });
    try {
      assert.equal(n2.grpc?.port, port);
      const c2 = grpcClient(`127.0.0.1:${port}`);
      assert.equal((await ok(c2, 'Info', {})).nodes[0].name, n2.options.name);
      c2.close();
    } finally {
      await n2.close();
    }
    // Closed with the node: the port is free again.
    const again = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, grpcPort: port });
    await again.close();
  });
});

describe('gRPC server API against a hung Redis', () => {
  let redis: RedisProcess;
  let probing: RedisBroker;
  let silent: RedisBroker;
  let fast: SwitchboardNode;
  let slow: SwitchboardNode;
  before(async () => {
    redis = await startRedis();
    // One broker notices a hang within 200 ms (UNAVAILABLE); the other never probes, so its calls
    // simply hang — what a deadline is for.
    probing = new RedisBroker({ url: redis.url, probeMs: 200, log: () => {} });
    silent = new RedisBroker({ url: redis.url, probeMs: 0, log: () => {} });
    fast = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker: probing });
    slow = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker: silent });
    await fast.startGrpc(0);
    await slow.startGrpc(0);
  });
  after(async () => {
    redis.proc.kill('SIGCONT');
    await fast.close();
    await slow.close();
    await probing.close();
    await silent.close();
    await redis.stop();
  });

  test('broker down: UNAVAILABLE with 114 (temporary) at once, Info still answers; a deadline is DEADLINE_EXCEEDED, enforced by the server', async () => {
    const cf = grpcClient(fast.grpc!.address);
    const cs = grpcClient(slow.grpc!.address);
    try {
      await waitFor(() => probing.connected && silent.connected, 5000, 'brokers connected');
      assert.equal((await ok(cf, 'Publish', { channel: 'news', data: json(1) })).offset, '1');
      // A PublishStream open across the hang: what was stored is counted, the rest is refused at once.
      let streamDone: { err?: GrpcError; res?: any } | undefined;
      const s = cf.PublishStream(md(), {}, (err, res) => (streamDone = err ? { err } : { res }));
      s.on('error', () => {});
      for (let i = 0; i < 3; i++) s.write({ channel: 'midstream', data: json(i) });
      await waitFor(() => fast.stats.publishes === 4, 3000, 'three stream messages stored');
      redis.proc.kill('SIGSTOP');
      await waitFor(() => !probing.connected, 3000, 'the hang noticed');
      s.write({ channel: 'midstream', data: json(3) });
      s.end();
      await waitFor(() => streamDone !== undefined, 3000, 'the stream to end');
      assert.equal(streamDone!.err?.code, grpc.status.UNAVAILABLE, JSON.stringify(streamDone!.res));
      assert.equal(streamDone!.err!.metadata.get('switchboard-error-code')[0], '114');
      assert.equal(streamDone!.err!.metadata.get('switchboard-published')[0], '3');
      assert.equal(streamDone!.err!.metadata.get('switchboard-failed-index')[0], '3');
      const t0 = Date.now();
      const e = await fails(cf, 'Publish', { channel: 'news', data: json(2) }, grpc.status.UNAVAILABLE, 114);
      assert.ok(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms`);
      assert.equal(e.metadata.get('switchboard-temporary')[0], 'true');
      assert.match(e.details, /broker unavailable/);
      await fails(cf, 'History', { channel: 'news' }, grpc.status.UNAVAILABLE, 114);
      assert.equal((await ok(cf, 'Info', {})).nodes.length >= 1, true);

      // The slow node still believes in its broker: the call hangs until the deadline.
      const t1 = Date.now();
      const r = await call(cs, 'Publish', { channel: 'news', data: json(3) }, { deadlineMs: 300 });
      assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
      assert.ok(Date.now() - t1 < 3000);
      // The server itself ends the call at the deadline (grpc-status 4 from the server, not a
      // client-side cancel): a raw HTTP/2 request with grpc-timeout and no client timer.
      const raw = await rawGrpcPublish(slow.grpc!.url, '250m');
      assert.equal(raw.status, '4', JSON.stringify(raw));
      assert.ok(raw.ms >= 200 && raw.ms < 3000, `server answered after ${raw.ms} ms`);

      redis.proc.kill('SIGCONT');
      await waitFor(() => probing.connected, 5000, 'broker back');
      assert.ok((await ok(cf, 'Publish', { channel: 'news', data: json(4) })).offset);
    } finally {
      redis.proc.kill('SIGCONT');
      cf.close();
      cs.close();
    }
  });
});

/** A gRPC Publish over a bare HTTP/2 stream with a `grpc-timeout` header; the server's status. */
async function rawGrpcPublish(url: string, timeout: string): Promise<{ status: string | undefined; message: string | undefined; ms: number }> {
  const session = h2connect(url);
  session.on('error', () => {});
  try {
    const msg = toBinary(PublishRequestSchema, create(PublishRequestSchema, { channel: 'news', data: json('raw') }));
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    frame.set(msg, 5);
    const t0 = Date.now();
    const stream = session.request({ ':method': 'POST', ':path': '/switchboard.v1.ApiService/Publish', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': timeout });
    stream.on('data', () => {});
    stream.end(frame);
    const out = await new Promise<{ status: string | undefined; message: string | undefined }>((resolve, reject) => {
      let headers: Record<string, unknown> = {};
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => resolve({ status: t['grpc-status'] as string | undefined, message: t['grpc-message'] as string | undefined }));
      stream.on('end', () => resolve({ status: headers['grpc-status'] as string | undefined, message: headers['grpc-message'] as string | undefined }));
      stream.on('error', reject);
      setTimeout(() => reject(new Error('no answer in 10 s')), 10_000).unref();
    });
    return { ...out, ms: Date.now() - t0 };
  } finally {
    session.destroy();
  }
}
