/**
 * src/api/grpc-codec.ts: the hand-written PublishResponse frame is byte-for-byte the generated
 * schema's `toBinary` (behind a gRPC prefix) for every varint length, defaults, UTF-8 and random values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { PublishResponseSchema } from '../../src/api/gen/switchboard/v1/api_pb.ts';
import { publishResponseFrame } from '../../src/api/grpc-codec.ts';
import { frameMessage } from '../../src/api/grpc-wire.ts';

function reference(epoch: string, offset: bigint): Buffer {
  return frameMessage(toBinary(PublishResponseSchema, create(PublishResponseSchema, { epoch, offset })));
}

test('publishResponseFrame equals frameMessage(toBinary(PublishResponse))', () => {
  const epochs = ['', 'a', 'Xk3v9QaZ', 'é✓ épоch', 'e'.repeat(127), 'e'.repeat(128), 'e'.repeat(20_000)];
  const offsets = [0n, 1n, 127n, 128n, 16_383n, 16_384n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
  for (let k = 1; k < 64; k++) offsets.push((1n << BigInt(k)) - 1n, 1n << BigInt(k));
  for (const e of epochs) for (const o of offsets) assert.deepEqual(publishResponseFrame(e, o), reference(e, o), `${e.slice(0, 10)} ${o}`);
  for (let i = 0; i < 2000; i++) {
    const e = randomBytes(i % 40).toString('base64url');
    const o = randomBytes(8).readBigUInt64BE() >> BigInt(i % 64);
    const f = publishResponseFrame(e, o);
    assert.deepEqual(f, reference(e, o));
    const back = fromBinary(PublishResponseSchema, f.subarray(5));
    assert.equal(back.epoch, e);
    assert.equal(back.offset, o);
  }
});

test('publishResponseFrame refuses offsets outside uint64', () => {
  assert.throws(() => publishResponseFrame('e', -1n), RangeError);
  assert.throws(() => publishResponseFrame('e', 2n ** 64n), RangeError);
});
