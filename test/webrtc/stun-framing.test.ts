import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  StreamFramer,
  StunDecodeError,
  decodeChannelData,
  encodeChannelData,
  encodeStunMessage,
  newTransactionId,
  looksLikeChannelData,
  looksLikeStun,
} from '../../src/webrtc/stun/index.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('ChannelData decode: exact, padded, and the RFC 8656 §12.4 checks', () => {
  assert.deepEqual(decodeChannelData(hex('4000 0003 616263')), { channel: 0x4000, data: Buffer.from('abc') });
  assert.deepEqual(decodeChannelData(hex('4fff 0003 61626300')), { channel: 0x4fff, data: Buffer.from('abc') });
  assert.deepEqual(decodeChannelData(hex('4001 0000')), { channel: 0x4001, data: Buffer.alloc(0) });
  assert.throws(() => decodeChannelData(hex('4000 00')), StunDecodeError);
  assert.throws(() => decodeChannelData(hex('8000 0000')), /outside 0x4000-0x7FFF/);
  assert.throws(() => decodeChannelData(hex('3fff 0000')), /outside/);
  assert.equal(decodeChannelData(hex('7fff 0000')).channel, 0x7fff);
  assert.throws(() => decodeChannelData(hex('4000 0005 616263')), /runs past/);
  assert.throws(() => decodeChannelData(hex('4000 0001 61 000000 00')), /trailing/);
  assert.deepEqual(encodeChannelData(0x4000, Buffer.from('abcde'), true), hex('4000 0005 6162636465 000000'));
  assert.deepEqual(encodeChannelData(0x4000, Buffer.from('abcde')), hex('4000 0005 6162636465'));
  assert.ok(looksLikeChannelData(hex('4000 0000')));
  assert.ok(!looksLikeChannelData(hex('0001 0000')));
});

test('StreamFramer cuts STUN and padded ChannelData at any chunk boundary', () => {
  const stun = encodeStunMessage({ method: 1, cls: 0, transactionId: newTransactionId(), attributes: [{ type: 0x8022, value: Buffer.from('hello') }] });
  const cd = encodeChannelData(0x4001, Buffer.from('abcde'), true);
  const stream = Buffer.concat([stun, cd, stun, encodeChannelData(0x4002, Buffer.alloc(0), true)]);
  for (let step = 1; step <= stream.length; step++) {
    const f = new StreamFramer();
    const frames: Buffer[] = [];
    for (let i = 0; i < stream.length; i += step) frames.push(...f.push(stream.subarray(i, i + step)).map((b) => Buffer.from(b)));
    assert.equal(frames.length, 4, `step ${step}`);
    assert.deepEqual(frames[0], stun);
    assert.deepEqual(frames[1], cd);
    assert.ok(looksLikeStun(frames[2]!));
    assert.equal(f.buffered, 0);
  }
});

test('StreamFramer throws on a byte that starts neither STUN nor ChannelData, and on overlong buffering', () => {
  assert.throws(() => new StreamFramer().push(hex('8000 0000')), /neither STUN nor ChannelData/);
  assert.throws(() => new StreamFramer().push(hex('0001 0003 2112a442')), /multiple of 4/);
  const f = new StreamFramer(64);
  assert.throws(() => f.push(Buffer.concat([hex('4000 ffff'), Buffer.alloc(100)])), /buffered/);
});
