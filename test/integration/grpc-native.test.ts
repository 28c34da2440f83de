/**
 * The native gRPC path (src/api/grpc-native.ts) over a real port: a real grpc-js client for what a
 * well-behaved client does (gzip-compressed messages, deadlines, cancelling a stream, many calls at
 * once), and raw node:http2 requests for what a hostile one does (bad prefix flag, a length past
 * the limit, a truncated message, garbage protobuf, the wrong number of messages, an unknown
 * method, a malformed grpc-timeout, no key, a gzip bomb, resets mid-message, hundreds of streams),
 * each answered with the status the gRPC spec gives it and none of them hurting the next call.
 * Other content types still reach Connect (grpc+json, Connect, wrong content type).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect, constants as h2c, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { PublishRequestSchema, PublishResponseSchema, PublishStreamResponseSchema } from '../../src/api/gen/switchboard/v1/api_pb.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { runOperation } from '../../src/api/operations.ts';

const KEY = 'grpc-native-key-for-tests';
const PROTO = new URL('../../proto/switchboard/v1/api.proto', import.meta.url).pathname;
const PUBLISH = '/switchboard.v1.ApiService/Publish';
const STREAM = '/switchboard.v1.ApiService/PublishStream';
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

interface GrpcError extends Error {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

function grpcClient(address: string, options: grpc.ClientOptions = {}): any {
  const def = protoLoader.loadSync(PROTO, { longs: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { switchboard: { v1: { ApiService: grpc.ServiceClientConstructor } } };
  return new pkg.switchboard.v1.ApiService(address, grpc.credentials.createInsecure(), options);
}

function md(): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('authorization', `apikey ${KEY}`);
  return m;
}

function frame(bytes: Uint8Array, flag = 0): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = flag;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

function publishBytes(channel: string, data: unknown): Uint8Array {
  return toBinary(PublishRequestSchema, create(PublishRequestSchema, { channel, data: json(data) }));
}

interface RawAnswer {
  httpStatus: number;
  /** grpc-status from the trailers, or from the headers of a Trailers-Only answer. */
  status: string | undefined;
  message: string | undefined;
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  body: Buffer;
  /** The server's RST_STREAM code (0 NO_ERROR) when it closed the stream itself. */
  rstCode: number;
  ms: number;
}

/**
 * One raw HTTP/2 request: `chunks` written one DATA frame each (null: leave the request open; the
 * answer must come anyway), then the answer.
 */
function raw(session: ClientHttp2Session, path: string, chunks: Array<Buffer | null>, headers: OutgoingHttpHeaders = {}): Promise<RawAnswer> {
  const t0 = Date.now();
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', authorization: `apikey ${KEY}`, ...headers });
  let open = false;
  for (const c of chunks) {
    if (c === null) open = true;
    else stream.write(c);
  }
  if (!open) stream.end();
  return new Promise((resolve, reject) => {
    let h: Record<string, unknown> = {};
    let t: Record<string, unknown> = {};
    const body: Buffer[] = [];
    stream.on('response', (x) => (h = x));
    stream.on('trailers', (x) => (t = x));
    stream.on('data', (d: Buffer) => body.push(d));
    stream.on('error', () => {});
    stream.on('close', () => {
      if (h[':status'] === undefined) return reject(new Error(`no answer (rst ${stream.rstCode})`));
      resolve({
        httpStatus: Number(h[':status']),
        status: (t['grpc-status'] ?? h['grpc-status']) as string | undefined,
        message: (t['grpc-message'] ?? h['grpc-message']) as string | undefined,
        headers: h,
        trailers: t,
        body: Buffer.concat(body),
        rstCode: stream.rstCode ?? 0,
        ms: Date.now() - t0,
      });
    });
    setTimeout(() => reject(new Error(`no answer to ${path} in 10 s`)), 10_000).unref();
  });
}

function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
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

describe('native gRPC path', () => {
  let node: SwitchboardNode;
  let session: ClientHttp2Session;
  before(async () => {
    node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, apiKey: KEY, defaultNamespace: { historySize: 1000 } });
    await node.startGrpc(0);
    session = h2connect(node.grpc!.url);
    session.on('error', () => {});
  });
  after(async () => {
    session.destroy();
    await node.close();
  });

  /** A good call on the shared session: the previous hostile one did not break it. */
  async function stillServes(what: string): Promise<void> {
    const r = await raw(session, PUBLISH, [frame(publishBytes('after', what))]);
    assert.equal(r.status, '0', `after ${what}: ${r.message}`);
    const res = fromBinary(PublishResponseSchema, r.body.subarray(5));
    assert.ok(res.offset > 0n, what);
    assert.equal(node.grpc!.nativeCalls, 0, `no call left running after ${what}`);
  }

  test('a raw unary Publish: HEADERS, one length-prefixed PublishResponse, grpc-status 0 in the trailers', async () => {
    const r = await raw(session, PUBLISH, [frame(publishBytes('raw', { n: 1 }))]);
    assert.equal(r.httpStatus, 200);
    assert.equal(r.headers['content-type'], 'application/grpc');
    assert.equal(r.trailers['grpc-status'], '0');
    assert.equal(r.body[0], 0);
    assert.equal(r.body.readUInt32BE(1), r.body.length - 5);
    const res = fromBinary(PublishResponseSchema, r.body.subarray(5));
    assert.equal(res.offset, 1n);
    // `application/grpc+proto` and a parameter are native gRPC too; the message may come split in bytes.
    const m = frame(publishBytes('raw', { n: 2 }));
    const r2 = await raw(session, PUBLISH, [...m].map((b) => Buffer.from([b])), { 'content-type': 'application/grpc+proto; charset=utf-8' });
    assert.equal(r2.status, '0', r2.message);
    assert.equal(fromBinary(PublishResponseSchema, r2.body.subarray(5)).offset, 2n);
  });

  test('hostile framing: bad flag, length past 1 MiB (answered before the body), truncated, garbage protobuf, 0 or 2 messages', async () => {
    const good = publishBytes('hostile', 1);
    const badFlag = await raw(session, PUBLISH, [frame(good, 7)]);
    assert.equal(badFlag.status, String(grpc.status.INTERNAL));
    assert.match(badFlag.message!, /compressed flag 7/);

    // Only the 5-byte prefix of a 2 MiB message, the request left open: the answer comes anyway and the stream is closed.
    const prefix = Buffer.from([0, 0, 0x20, 0, 0]);
    const big = await raw(session, PUBLISH, [prefix, null]);
    assert.equal(big.status, String(grpc.status.RESOURCE_EXHAUSTED));
    assert.match(big.message!, /2097152 bytes is larger than the limit of 1048576/);
    assert.equal(big.rstCode, h2c.NGHTTP2_NO_ERROR);
    const huge = await raw(session, PUBLISH, [Buffer.from([0, 0xff, 0xff, 0xff, 0xff]), null]);
    assert.equal(huge.status, String(grpc.status.RESOURCE_EXHAUSTED));

    const cut = await raw(session, PUBLISH, [frame(good).subarray(0, 9)]);
    assert.equal(cut.status, String(grpc.status.INTERNAL));
    assert.match(cut.message!, /truncated/);
    const cutPrefix = await raw(session, PUBLISH, [Buffer.from([0, 0])]);
    assert.equal(cutPrefix.status, String(grpc.status.INTERNAL));

    const garbage = await raw(session, PUBLISH, [frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]))]);
    assert.equal(garbage.status, String(grpc.status.INTERNAL));
    assert.match(garbage.message!, /cannot parse the PublishRequest message/);

    const none = await raw(session, PUBLISH, []);
    assert.equal(none.status, String(grpc.status.UNIMPLEMENTED));
    assert.match(none.message!, /exactly one request message, got none/);
    const two = await raw(session, PUBLISH, [Buffer.concat([frame(good), frame(good)])]);
    assert.equal(two.status, String(grpc.status.UNIMPLEMENTED));
    assert.match(two.message!, /got more/);
    // Validation past the framing is the handlers': the Switchboard code in the trailers.
    const badChannel = await raw(session, PUBLISH, [frame(publishBytes('bad channel', 1))]);
    assert.equal(badChannel.status, String(grpc.status.INVALID_ARGUMENT));
    assert.equal(badChannel.trailers['switchboard-error-code'] ?? badChannel.headers['switchboard-error-code'], '112');
    await stillServes('hostile framing');
  });

  test('headers: unknown method UNIMPLEMENTED, malformed grpc-timeout INVALID_ARGUMENT, no or wrong key UNAUTHENTICATED before the body', async () => {
    const msg = frame(publishBytes('headers', 1));
    const unknown = await raw(session, '/switchboard.v1.ApiService/Nope', [msg]);
    assert.equal(unknown.status, String(grpc.status.UNIMPLEMENTED));
    assert.match(unknown.message!, /unknown method/);
    const otherService = await raw(session, '/grpc.health.v1.Health/Check', [Buffer.from([0, 0, 0, 0, 0])]);
    assert.equal(otherService.status, String(grpc.status.UNIMPLEMENTED));
    for (const t of ['soon', '10', '10x', '123456789S', '-5m', '1.5S']) {
      const r = await raw(session, PUBLISH, [msg], { 'grpc-timeout': t });
      assert.equal(r.status, String(grpc.status.INVALID_ARGUMENT), t);
      assert.match(r.message!, /malformed grpc-timeout/);
    }
    // The longest deadline the format allows (~11 years) is no deadline in practice, not an expired one.
    const far = await raw(session, PUBLISH, [msg], { 'grpc-timeout': '99999999H' });
    assert.equal(far.status, '0', far.message);
    const farStream = session.request({ ':method': 'POST', ':path': STREAM, 'content-type': 'application/grpc', authorization: `apikey ${KEY}`, 'grpc-timeout': '99999999H' });
    const farDone = new Promise<unknown>((resolve) => {
      let st: unknown;
      farStream.on('trailers', (x) => (st = x['grpc-status']));
      farStream.on('response', (x) => (st ??= x['grpc-status']));
      farStream.on('data', () => {});
      farStream.on('close', () => resolve(st));
    });
    await new Promise((r) => setTimeout(r, 50));
    farStream.end(msg);
    assert.equal(await farDone, '0', 'a stream with the longest deadline is still open after 50 ms');
    const before = node.stats.publishes;
    const noKey = await raw(session, PUBLISH, [msg], { authorization: 'Bearer x' });
    assert.equal(noKey.status, String(grpc.status.UNAUTHENTICATED));
    assert.equal(noKey.headers['switchboard-error-code'], '401');
    assert.match(noKey.message!, /apikey KEY/);
    const wrong = await raw(session, PUBLISH, [msg], { authorization: 'apikey wrong' });
    assert.equal(wrong.status, String(grpc.status.UNAUTHENTICATED));
    // Refused from the headers alone: an open request body is not waited for.
    const open = await raw(session, PUBLISH, [null], { authorization: 'apikey wrong' });
    assert.equal(open.status, String(grpc.status.UNAUTHENTICATED));
    assert.equal(node.stats.publishes, before, 'nothing published');
    await stillServes('header checks');
  });

  test('compression: gzip messages are decompressed (bounded: a gzip bomb is RESOURCE_EXHAUSTED); no or unknown grpc-encoding is refused', async () => {
    const gz = gzipSync(publishBytes('gz', { zipped: true }));
    const r = await raw(session, PUBLISH, [frame(gz, 1)], { 'grpc-encoding': 'gzip' });
    assert.equal(r.status, '0', r.message);
    const h = await runOperation(node, 'history', { channel: 'gz', limit: 10 });
    assert.deepEqual(h.publications.map((p) => p.data), [{ zipped: true }]);
    const bomb = gzipSync(toBinary(PublishRequestSchema, create(PublishRequestSchema, { channel: 'gz', data: Buffer.alloc(4 << 20, 0x20) })));
    assert.ok(bomb.length < 10_000);
    const b = await raw(session, PUBLISH, [frame(bomb, 1)], { 'grpc-encoding': 'gzip' });
    assert.equal(b.status, String(grpc.status.RESOURCE_EXHAUSTED), b.message);
    const notGzip = await raw(session, PUBLISH, [frame(Buffer.from('not gzip at all'), 1)], { 'grpc-encoding': 'gzip' });
    assert.equal(notGzip.status, String(grpc.status.INTERNAL));
    const noEncoding = await raw(session, PUBLISH, [frame(gz, 1)]);
    assert.equal(noEncoding.status, String(grpc.status.INTERNAL));
    assert.match(noEncoding.message!, /without grpc-encoding/);
    const br = await raw(session, PUBLISH, [frame(gz, 1)], { 'grpc-encoding': 'br' });
    assert.equal(br.status, String(grpc.status.UNIMPLEMENTED));
    // An uncompressed message under a declared encoding is fine (the flag says per message).
    const plain = await raw(session, PUBLISH, [frame(publishBytes('gz', 2))], { 'grpc-encoding': 'br' });
    assert.equal(plain.status, '0', plain.message);

    // grpc-js with gzip for every message, unary and client streaming.
    const c = grpcClient(node.grpc!.address, { 'grpc.default_compression_algorithm': 2 });
    try {
      const res = await new Promise<any>((resolve, reject) => c.Publish({ channel: 'gzjs', data: json('x'.repeat(5000)) }, md(), (e: Error | null, v: any) => (e ? reject(e) : resolve(v))));
      assert.equal(res.offset, '1');
      const sres = await new Promise<any>((resolve, reject) => {
        const s = c.PublishStream(md(), (e: Error | null, v: any) => (e ? reject(e) : resolve(v)));
        for (let i = 0; i < 50; i++) s.write({ channel: 'gzjs', data: json({ i, pad: 'y'.repeat(i * 10) }) });
        s.end();
      });
      assert.equal(sres.published, '50');
      assert.equal(sres.last.offset, '51');
      const hist = await runOperation(node, 'history', { channel: 'gzjs', limit: 100 });
      assert.deepEqual(hist.publications.slice(1).map((p) => (p.data as { i: number }).i), Array.from({ length: 50 }, (_, i) => i), 'in order');
    } finally {
      c.close();
    }
    await stillServes('compression');
  });

  test('PublishStream over raw HTTP/2: messages split across DATA frames; a bad frame mid-stream ends it with the stored count', async () => {
    const wire = Buffer.concat(Array.from({ length: 20 }, (_, i) => frame(publishBytes('rawstream', i))));
    const chunks: Buffer[] = [];
    for (let at = 0; at < wire.length; at += 13) chunks.push(wire.subarray(at, at + 13));
    const r = await raw(session, STREAM, chunks);
    assert.equal(r.status, '0', r.message);
    const res = fromBinary(PublishStreamResponseSchema, r.body.subarray(5));
    assert.equal(res.published, 20n);
    assert.equal(res.last?.offset, 20n);
    const bad = await raw(session, STREAM, [frame(publishBytes('rawstream', 'a')), frame(publishBytes('rawstream', 'b')), Buffer.from([9, 0, 0, 0, 1, 0])]);
    assert.equal(bad.status, String(grpc.status.INTERNAL));
    assert.equal(bad.trailers['switchboard-published'] ?? bad.headers['switchboard-published'], '2');
    assert.equal(bad.trailers['switchboard-failed-index'] ?? bad.headers['switchboard-failed-index'], '2');
    const oversized = await raw(session, STREAM, [frame(publishBytes('rawstream', 'c')), Buffer.from([0, 0, 0x20, 0, 0]), null]);
    assert.equal(oversized.status, String(grpc.status.RESOURCE_EXHAUSTED));
    // A stream's deadline: the server ends it (DEADLINE_EXCEEDED) while the client keeps it open.
    const slow = await raw(session, STREAM, [frame(publishBytes('rawstream', 'd')), null], { 'grpc-timeout': '200m' });
    assert.equal(slow.status, String(grpc.status.DEADLINE_EXCEEDED));
    assert.ok(slow.ms >= 150 && slow.ms < 5000, `${slow.ms} ms`);
    await stillServes('raw streams');
  });

  test('cancel and reset: grpc-js cancelling a PublishStream, raw resets mid-message; no call is left running', async () => {
    const c = grpcClient(node.grpc!.address);
    try {
      const before = node.stats.publishes;
      let err: GrpcError | undefined;
      const s = c.PublishStream(md(), (e: GrpcError | null) => (err = e ?? undefined));
      for (let i = 0; i < 3; i++) s.write({ channel: 'cancelled', data: json(i) });
      await waitFor(() => node.stats.publishes === before + 3, 5000, 'three published');
      assert.equal(node.grpc!.nativeCalls, 1);
      s.cancel();
      await waitFor(() => err !== undefined, 5000, 'the cancel');
      assert.equal(err!.code, grpc.status.CANCELLED);
      await waitFor(() => node.grpc!.nativeCalls === 0, 5000, 'the server to drop the call');
    } finally {
      c.close();
    }
    // 200 raw streams reset with half a message sent (RST_STREAM CANCEL).
    const half = frame(publishBytes('reset', 1)).subarray(0, 12);
    const streams = Array.from({ length: 200 }, () => {
      const st = session.request({ ':method': 'POST', ':path': STREAM, 'content-type': 'application/grpc', authorization: `apikey ${KEY}` });
      st.on('error', () => {});
      st.write(half);
      return st;
    });
    await new Promise((r) => setTimeout(r, 100));
    for (const st of streams) st.close(h2c.NGHTTP2_CANCEL);
    await waitFor(() => node.grpc!.nativeCalls === 0, 5000, 'every reset call dropped');
    await stillServes('resets');
  });

  test('many concurrent streams: 100 at once (the SETTINGS bound) on one session and 300 over three, all answered in order per channel', async () => {
    const sessions = [session, h2connect(node.grpc!.url), h2connect(node.grpc!.url)];
    try {
      for (const s of sessions) s.on('error', () => {});
      const one = await Promise.all(Array.from({ length: 100 }, (_, i) => raw(session, PUBLISH, [frame(publishBytes(`many${i % 10}`, i))])));
      assert.deepEqual(one.map((r) => r.status), Array(100).fill('0'));
      const three = await Promise.all(Array.from({ length: 300 }, (_, i) => raw(sessions[i % 3]!, PUBLISH, [frame(publishBytes(`many${i % 10}`, i))])));
      assert.deepEqual(three.map((r) => r.status), Array(300).fill('0'));
      const offsets = three.map((r) => fromBinary(PublishResponseSchema, r.body.subarray(5)).offset);
      // Each channel got 40 publications with distinct offsets 1..40.
      for (let ch = 0; ch < 10; ch++) {
        const mine = [...one.map((r) => fromBinary(PublishResponseSchema, r.body.subarray(5)).offset).filter((_, i) => i % 10 === ch), ...offsets.filter((_, i) => i % 10 === ch)];
        assert.deepEqual(mine.map(Number).sort((a, b) => a - b), Array.from({ length: 40 }, (_, k) => k + 1), `channel many${ch}`);
      }
      // grpc-js: 500 calls in flight on one channel.
      const c = grpcClient(node.grpc!.address);
      try {
        const results = await Promise.all(Array.from({ length: 500 }, (_, i) => new Promise<string>((resolve) => c.Publish({ channel: 'manyjs', data: json(i) }, md(), (e: Error | null, v: any) => resolve(e ? `err ${e.message}` : v.offset)))));
        assert.deepEqual(results.map(Number).sort((a, b) => a - b), Array.from({ length: 500 }, (_, k) => k + 1));
      } finally {
        c.close();
      }
    } finally {
      sessions[1]!.destroy();
      sessions[2]!.destroy();
    }
    await stillServes('many streams');
  });

  test('not native gRPC: grpc+json still goes to Connect; a wrong content type gets HTTP 415; GET is not gRPC', async () => {
    const body = Buffer.from(JSON.stringify({ channel: 'json', data: Buffer.from(JSON.stringify({ via: 'grpc+json' })).toString('base64') }));
    const r = await raw(session, PUBLISH, [frame(body)], { 'content-type': 'application/grpc+json' });
    assert.equal(r.status, '0', r.message);
    assert.equal(r.headers['content-type'], 'application/grpc+json');
    assert.deepEqual(JSON.parse(r.body.subarray(5).toString()), { epoch: JSON.parse(r.body.subarray(5).toString()).epoch, offset: '1' });
    const wrong = await raw(session, PUBLISH, [frame(publishBytes('x', 1))], { 'content-type': 'text/plain' });
    assert.equal(wrong.httpStatus, 415);
    const get = await raw(session, PUBLISH, [], { ':method': 'GET' });
    assert.notEqual(get.httpStatus, 200);
    await stillServes('Connect routes');
  });

  test('shutdown: a running native call ends with UNAVAILABLE', async () => {
    const n2 = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, apiKey: KEY });
    await n2.startGrpc(0);
    const s2 = h2connect(n2.grpc!.url);
    s2.on('error', () => {});
    try {
      const pending = raw(s2, STREAM, [frame(publishBytes('bye', 1)), null]);
      await waitFor(() => n2.stats.publishes === 1, 5000, 'the stream to publish');
      await n2.grpc!.close();
      const r = await pending;
      assert.equal(r.status, String(grpc.status.UNAVAILABLE));
      assert.match(r.message!, /shutting down/);
    } finally {
      s2.destroy();
      await n2.close();
    }
  });
});
