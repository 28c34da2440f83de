/**
 * src/api/grpc-wire.ts: the length-prefixed message reader over every way a stream can be cut into
 * chunks, its bounds (oversized before buffering, bad flag, truncation), `grpc-timeout` and
 * `grpc-message` encoding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, ConnectError } from '@connectrpc/connect';
import { frameMessage, grpcPercentEncode, MessageReader, parseGrpcTimeout, type WireMessage } from '../../src/api/grpc-wire.ts';

function read(chunks: Buffer[], max = 1 << 20): { messages: WireMessage[]; idle: boolean } {
  const messages: WireMessage[] = [];
  const r = new MessageReader(max, (m) => messages.push({ compressed: m.compressed, data: Buffer.from(m.data) }));
  for (const c of chunks) r.push(c);
  return { messages, idle: r.idle };
}

test('frameMessage: flag 0, big-endian length, the bytes', () => {
  assert.deepEqual(frameMessage(Buffer.from('hi')), Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]));
  assert.deepEqual(frameMessage(new Uint8Array(0)), Buffer.from([0, 0, 0, 0, 0]));
});

test('MessageReader: the same messages however the stream is split (every split point, 1-byte chunks, one chunk)', () => {
  const msgs = [Buffer.from('first message'), Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(300, 7)];
  const wire = Buffer.concat(msgs.map((m) => frameMessage(m)));
  const want = msgs.map((data) => ({ compressed: false, data }));
  assert.deepEqual(read([wire]).messages, want);
  assert.deepEqual(read([...wire].map((b) => Buffer.from([b]))).messages, want);
  for (let i = 1; i < wire.length; i++) {
    const got = read([wire.subarray(0, i), wire.subarray(i)]);
    assert.deepEqual(got.messages, want, `split at ${i}`);
    assert.equal(got.idle, true);
  }
  for (let i = 1; i < wire.length - 1; i += 7) {
    for (let j = i + 1; j < wire.length; j += 11) assert.deepEqual(read([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)]).messages, want, `split at ${i}, ${j}`);
  }
});

test('MessageReader: the compressed flag is passed on; a flag past 1 is INTERNAL', () => {
  const m = frameMessage(Buffer.from('zz'));
  m[0] = 1;
  assert.deepEqual(read([m]).messages, [{ compressed: true, data: Buffer.from('zz') }]);
  m[0] = 2;
  assert.throws(() => read([m]), (e: unknown) => e instanceof ConnectError && e.code === Code.Internal && /compressed flag 2/.test(e.rawMessage));
  // Split inside the prefix: the same check.
  assert.throws(() => read([m.subarray(0, 2), m.subarray(2)]), (e: unknown) => e instanceof ConnectError && e.code === Code.Internal);
});

test('MessageReader: a length past the limit is RESOURCE_EXHAUSTED from the prefix alone; the limit itself is fine', () => {
  const prefix = Buffer.from([0, 0, 0, 0, 0]);
  prefix.writeUInt32BE(101, 1);
  assert.throws(() => read([prefix], 100), (e: unknown) => e instanceof ConnectError && e.code === Code.ResourceExhausted);
  assert.throws(() => read([prefix.subarray(0, 3), prefix.subarray(3)], 100), (e: unknown) => e instanceof ConnectError && e.code === Code.ResourceExhausted);
  prefix.writeUInt32BE(0xffffffff, 1);
  assert.throws(() => read([prefix], 1 << 20), (e: unknown) => e instanceof ConnectError && e.code === Code.ResourceExhausted);
  assert.equal(read([frameMessage(Buffer.alloc(100))], 100).messages.length, 1);
});

test('MessageReader: a stream stopping inside a prefix or a message is not idle', () => {
  const m = frameMessage(Buffer.from('truncated'));
  assert.equal(read([m.subarray(0, 3)]).idle, false);
  assert.equal(read([m.subarray(0, 5)]).idle, false);
  assert.equal(read([m.subarray(0, m.length - 1)]).idle, false);
  assert.equal(read([m]).idle, true);
  assert.equal(read([]).idle, true);
});

test('parseGrpcTimeout: every unit; malformed values are undefined', () => {
  assert.equal(parseGrpcTimeout('250m'), 250);
  assert.equal(parseGrpcTimeout('2S'), 2000);
  assert.equal(parseGrpcTimeout('1M'), 60_000);
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('5000u'), 5);
  assert.equal(parseGrpcTimeout('3000000n'), 3);
  assert.equal(parseGrpcTimeout('99999999S'), 99_999_999_000);
  for (const bad of ['', 'm', '10', '10x', '10s', '-1S', '1.5S', ' 1S', '123456789S', '１S', 'abcS']) assert.equal(parseGrpcTimeout(bad), undefined, JSON.stringify(bad));
});

test('grpcPercentEncode: only bytes outside 0x20–0x7E and % are encoded (UTF-8)', () => {
  assert.equal(grpcPercentEncode('plain: text, with (punctuation)'), 'plain: text, with (punctuation)');
  assert.equal(grpcPercentEncode('100% é\n'), '100%25 %C3%A9%0A');
  assert.equal(decodeURIComponent(grpcPercentEncode('naïve ✓ 50%')), 'naïve ✓ 50%');
});
