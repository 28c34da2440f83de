/**
 * WebTransport over HTTP/3, Node side: the QUIC binding as the client (test/helpers/
 * webtransport-client.ts) against a real node on loopback — SETTINGS, extended CONNECT, the
 * Session over a WebTransport stream (and a WebSocket client on the same channel), and bad HTTP/3
 * input answered with its RFC 9114 / RFC 9204 error code.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { loadQuiche } from '../../src/transports/webtransport/binding.ts';
import { CapsuleReader } from '../../src/transports/webtransport/capsules.ts';
import { H3ErrorCode } from '../../src/transports/webtransport/errors.ts';
import { FrameReader, FrameType, encodeFrame } from '../../src/transports/webtransport/frames.ts';
import { frameMessage } from '../../src/transports/webtransport/framer.ts';
import { encodeFieldSection } from '../../src/transports/webtransport/qpack.ts';
import { SettingId, decodeSettings, encodeSettingsFrame, encodeSettingsPayload } from '../../src/transports/webtransport/settings.ts';
import { encodeVarint } from '../../src/transports/webtransport/varint.ts';
import { CLIENT_SETTINGS, H3TestClient } from '../helpers/webtransport-client.ts';
import { RawClient } from '../helpers/raw-client.ts';

let node: SwitchboardNode;
let port = 0;
const clients: H3TestClient[] = [];

async function client(opts: { settings?: boolean } = {}): Promise<H3TestClient> {
  const c = await H3TestClient.connect(port, opts);
  clients.push(c);
  return c;
}

const json = (o: unknown) => Buffer.from(JSON.stringify(o));

before(async () => {
  // The binding is an optional dependency; this suite is about it, so its absence is a failure.
  assert.ok(await loadQuiche(), '@matrixai/quic must be installed for the WebTransport tests');
  node = await startNode({
    port: 0,
    host: '127.0.0.1',
    allowAnonymous: true,
    namespaces: { chat: { subscribe: 'anonymous', publish: 'anonymous' } },
    webtransport: { port: 0 },
  });
  assert.ok(node.webtransport?.endpoint, 'WebTransport listener started');
  port = node.webtransport.port;
});

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await node?.close();
});

test('GET /connection/webtransport: URL and the dev certificate hash (ECDSA P-256, < 14 days)', async () => {
  const r = await fetch(`${node.httpUrl}/connection/webtransport`);
  assert.equal(r.status, 200);
  const info = (await r.json()) as { available: boolean; url: string; certificateHashes: Array<{ algorithm: string; value: string }> };
  assert.equal(info.available, true);
  assert.equal(info.url, `https://127.0.0.1:${port}/connection/webtransport`);
  assert.equal(info.certificateHashes[0]?.algorithm, 'sha-256');
  assert.equal(Buffer.from(info.certificateHashes[0]!.value, 'base64').length, 32);
  const cert = new X509Certificate(
    (node.webtransport as unknown as { cert: { certPem: string } }).cert.certPem,
  );
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(Date.parse(cert.validTo) - Date.parse(cert.validFrom) < 14 * 24 * 3600_000);
  assert.deepEqual(cert.fingerprint256.replaceAll(':', '').toLowerCase(), Buffer.from(info.certificateHashes[0]!.value, 'base64').toString('hex'));
});

test('server SETTINGS: draft-02 WebTransport, datagrams, extended CONNECT, no QPACK dynamic table', async () => {
  const c = await client();
  await c.until(() => (c.streams.get(3)?.length ?? 0) > 0);
  const raw = Buffer.concat(c.streams.get(3)!);
  assert.equal(raw[0], 0x00, 'control stream type');
  const frames = new FrameReader().push(raw.subarray(1));
  const first = frames[0];
  assert.ok(first?.kind === 'frame' && first.type === FrameType.settings, 'SETTINGS first');
  const s = decodeSettings(first.payload);
  assert.equal(s.get(SettingId.enableWebTransportDraft02), 1);
  assert.equal(s.get(SettingId.h3Datagram), 1);
  assert.equal(s.get(SettingId.enableConnectProtocol), 1);
  assert.equal(s.get(SettingId.qpackMaxTableCapacity), 0);
  await c.until(() => c.streams.has(7) && c.streams.has(11));
  assert.equal(Buffer.concat(c.streams.get(7)!)[0], 0x02, 'QPACK encoder stream');
  assert.equal(Buffer.concat(c.streams.get(11)!)[0], 0x03, 'QPACK decoder stream');
});

test('CONNECT: 200 with the draft header; wrong path 404; plain GET 404; bad format 400', async () => {
  const c = await client();
  const ok = await c.connectSession(0);
  assert.deepEqual(ok, [[':status', '200'], ['sec-webtransport-http3-draft', 'draft02']]);
  const c2 = await client();
  assert.deepEqual((await c2.connectSession(0, { path: '/nope' }))[0], [':status', '404']);
  const c3 = await client();
  c3.send(0, encodeFrame(FrameType.headers, encodeFieldSection([[':method', 'GET'], [':scheme', 'https'], [':authority', 'x'], [':path', '/']])), true);
  assert.deepEqual((await c3.responseHeaders(0))[0], [':status', '404']);
  const c4 = await client();
  assert.deepEqual((await c4.connectSession(0, { path: '/connection/webtransport?format=xml' }))[0], [':status', '400']);
  const c5 = await client();
  assert.deepEqual((await c5.connectSession(0, { origin: 'https://evil.example' }))[0], [':status', '403']);
});

test('session stream: connect, subscribe, publish — delivered to WebTransport and WebSocket subscribers alike', async () => {
  const c = await client();
  await c.connectSession(0);
  c.openSessionStream(4, 0, [json({ t: 'connect', id: 1 }), json({ t: 'sub', id: 2, ch: 'chat:room' })]);
  const [connected, subscribed] = (await c.messages(4, 2)).map((m) => JSON.parse(m));
  assert.equal(connected.t, 'ok');
  assert.equal(connected.id, 1);
  assert.equal(subscribed.id, 2);
  const ws = await RawClient.connect(node.wsUrl);
  await ws.request({ t: 'sub', ch: 'chat:room' });
  c.send(4, frameMessage(json({ t: 'pub', id: 3, ch: 'chat:room', data: { text: 'over quic' } })));
  const msgs = (await c.messages(4, 4)).map((m) => JSON.parse(m));
  const pub = msgs.find((m) => m.t === 'pub');
  assert.deepEqual(pub?.data, { text: 'over quic' });
  const got = await ws.waitFor((f) => f.t === 'pub');
  assert.deepEqual(got.data, { text: 'over quic' });
  ws.close();
  assert.equal([...node.sessions].filter((s) => s.transport.kind === 'webtransport').length >= 1, true);
});

test('a protocol error on the session stream: disconnect frame, then CLOSE_WEBTRANSPORT_SESSION with the code', async () => {
  const c = await client();
  await c.connectSession(0);
  c.openSessionStream(4, 0, [Buffer.from('not json')]);
  const [d] = (await c.messages(4, 1)).map((m) => JSON.parse(m));
  assert.equal(d.t, 'disconnect');
  assert.equal(d.code, 3501);
  await c.until(() => c.fins.has(0));
  const capsules = new CapsuleReader().push(Buffer.concat(new FrameReader().push(Buffer.concat(c.streams.get(0)!)).flatMap((e) => (e.kind === 'data' ? [e.chunk] : []))));
  assert.deepEqual(capsules.map((x) => x.type === 'close' && x.code), [3501]);
});

test('a message over maxMessageBytes is refused from its length prefix', async () => {
  const c = await client();
  await c.connectSession(0);
  c.send(4, Buffer.concat([encodeVarint(0x41), encodeVarint(0), encodeVarint(10_000_000)]));
  const [d] = (await c.messages(4, 1)).map((m) => JSON.parse(m));
  assert.equal(d.code, 3504);
});

test('a stream for an unknown session is reset; a second session on one connection is refused', async () => {
  const c = await client();
  c.send(4, Buffer.concat([encodeVarint(0x41), encodeVarint(0)]));
  await c.until(() => c.resets.has(4));
  assert.equal(c.resets.get(4), H3ErrorCode.wtBufferedStreamRejected);
  await c.connectSession(8);
  assert.deepEqual((await c.connectSession(12))[0], [':status', '429']);
});

async function expectConnectionError(send: (c: H3TestClient) => void, code: number, opts: { settings?: boolean } = {}): Promise<void> {
  const c = await client(opts);
  send(c);
  const e = await c.closedWith();
  assert.ok(e, 'server closed the connection with an error');
  assert.equal(e.isApp, true);
  assert.equal(e.errorCode, code, `got 0x${e.errorCode.toString(16)} (${e.reason}), want 0x${code.toString(16)}`);
}

test('bad HTTP/3 input gets its error code (RFC 9114 §8.1, RFC 9204 §6)', async () => {
  const control = (c: H3TestClient, frames: Buffer) => c.send(2, Buffer.concat([encodeVarint(0x00), frames]));
  // DATA on the control stream.
  await expectConnectionError((c) => control(c, Buffer.concat([encodeSettingsFrame(CLIENT_SETTINGS), encodeFrame(FrameType.data, Buffer.from('x'))])), H3ErrorCode.frameUnexpected, { settings: false });
  // First control frame not SETTINGS.
  await expectConnectionError((c) => control(c, encodeFrame(FrameType.goaway, encodeVarint(0))), H3ErrorCode.missingSettings, { settings: false });
  // Duplicate setting identifier.
  await expectConnectionError((c) => control(c, encodeFrame(FrameType.settings, encodeSettingsPayload([[0x33, 1], [0x33, 1]]))), H3ErrorCode.settingsError, { settings: false });
  // Second SETTINGS.
  await expectConnectionError((c) => control(c, Buffer.concat([encodeSettingsFrame(CLIENT_SETTINGS), encodeSettingsFrame(CLIENT_SETTINGS)])), H3ErrorCode.frameUnexpected, { settings: false });
  // Truncated SETTINGS payload.
  await expectConnectionError((c) => control(c, encodeFrame(FrameType.settings, Buffer.from([0x33]))), H3ErrorCode.frameError, { settings: false });
  // HTTP/2 PRIORITY frame type on a request stream.
  await expectConnectionError((c) => c.send(0, encodeFrame(0x02, Buffer.alloc(0))), H3ErrorCode.frameUnexpected);
  // A QPACK dynamic table reference in HEADERS.
  await expectConnectionError((c) => c.send(0, encodeFrame(FrameType.headers, Buffer.from([0x02, 0x00, 0x80]))), H3ErrorCode.qpackDecompressionFailed);
  // A dynamic table insert on the QPACK encoder stream.
  await expectConnectionError((c) => c.send(6, Buffer.from([0x3f, 0xe1, 0x1f])), H3ErrorCode.qpackEncoderStreamError);
  await expectConnectionError((c) => c.send(6, Buffer.from([0xc0 | 15, 0x01, 0x61])), H3ErrorCode.qpackEncoderStreamError);
  // A second control stream.
  await expectConnectionError((c) => c.send(14, Buffer.concat([encodeVarint(0x00), encodeSettingsFrame(CLIENT_SETTINGS)])), H3ErrorCode.streamCreationError);
  // Closing the control stream.
  await expectConnectionError((c) => c.send(2, Buffer.concat([encodeVarint(0x00), encodeSettingsFrame(CLIENT_SETTINGS)]), true), H3ErrorCode.closedCriticalStream, { settings: false });
  // An oversize HEADERS frame (length over maxFieldSectionBytes, refused from the header).
  await expectConnectionError((c) => c.send(0, Buffer.concat([encodeVarint(FrameType.headers), encodeVarint(1 << 20)])), H3ErrorCode.excessiveLoad);
});

test('unknown unidirectional stream types are refused with STOP_SENDING, the connection stays up', async () => {
  const c = await client();
  c.send(14, Buffer.concat([encodeVarint(0x1f * 5 + 0x21), Buffer.from('grease')]));
  assert.deepEqual((await c.connectSession(0))[0], [':status', '200']);
});

test('more than the stream window in flight: partial stream writes are queued and arrive whole, in order', async () => {
  const c = await client();
  await c.connectSession(0);
  c.openSessionStream(4, 0, [json({ t: 'connect', id: 1 }), json({ t: 'sub', id: 2, ch: 'chat:big' })]);
  await c.messages(4, 2);
  const text = (i: number) => `${i}:`.padEnd(50_000, 'x');
  // 12 × 50 kB = 600 kB against a 256 KiB per-stream window: quiche takes part, the rest waits for MAX_STREAM_DATA.
  for (let i = 0; i < 12; i++) c.send(4, frameMessage(json({ t: 'pub', id: 10 + i, ch: 'chat:big', data: { text: text(i) } })));
  const msgs = (await c.messages(4, 2 + 24, 10_000)).map((m) => JSON.parse(m));
  const pubs = msgs.filter((m) => m.t === 'pub');
  if (pubs.length !== 12) console.log(msgs.map((m) => JSON.stringify(m).slice(0, 200)));
  assert.equal(pubs.length, 12);
  pubs.forEach((p, i) => assert.equal(p.data.text, text(i)));
});
