/**
 * The incremental UTF-8 validator (src/transports/websocket/utf8.ts): every Autobahn 6.x vector,
 * whole and cut at every position, and properties against the platform's fatal TextDecoder — for
 * any bytes and any cutting, "every piece accepted and complete at the end" equals "decodes", and
 * the first refusal comes exactly at the piece holding the first byte that no valid continuation
 * could follow.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Utf8Validator } from '../../src/transports/websocket/utf8.ts';
import { UTF8_VECTORS } from '../helpers/utf8-vectors.ts';

const fatal = new TextDecoder('utf-8', { fatal: true });
function decodes(b: Uint8Array): boolean {
  try {
    fatal.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Validates `bytes` cut at `cuts`; true when every piece is accepted and the end is complete. */
function validate(bytes: Uint8Array, cuts: number[]): boolean {
  const v = new Utf8Validator();
  let at = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (!v.write(bytes, at, c)) return false;
    at = c;
  }
  return v.complete;
}

/** Length of the longest prefix of `bytes` that some valid UTF-8 string starts with (by the decoder). */
function validPrefix(bytes: Uint8Array): number {
  // A prefix p is extendable iff p + (a completion) decodes; checking the last ≤3 bytes' needs is
  // what the decoder's streaming mode does: decode with stream: true never throws on a cut sequence.
  const d = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < bytes.length; i++) {
    try {
      d.decode(bytes.subarray(i, i + 1), { stream: true });
    } catch {
      return i;
    }
  }
  return bytes.length;
}

test('utf8: every Autobahn 6.5–6.23 vector, whole and cut at every position', () => {
  assert.ok(UTF8_VECTORS.length > 130, `${UTF8_VECTORS.length} vectors`);
  for (const { id, valid, bytes } of UTF8_VECTORS) {
    assert.equal(decodes(bytes), valid, `${id}: the vector's verdict agrees with TextDecoder`);
    assert.equal(validate(bytes, []), valid, `${id} whole`);
    for (let cut = 1; cut < bytes.length; cut++) assert.equal(validate(bytes, [cut]), valid, `${id} cut at ${cut}`);
    assert.equal(validate(bytes, Array.from({ length: bytes.length }, (_, i) => i)), valid, `${id} byte by byte`);
  }
});

test('utf8: fails fast — the piece holding the first impossible byte is refused (Autobahn 6.4.x)', () => {
  // κόσμε, then F4 90 80 80 (above U+10FFFF: refused at the 90), then "edited"
  const part1 = Buffer.from('cebae1bdb9cf83cebcceb5', 'hex');
  const v = new Utf8Validator();
  assert.equal(v.write(part1), true);
  assert.equal(v.complete, true);
  assert.equal(v.write(Buffer.from([0xf4])), true, 'F4 may start a valid sequence');
  assert.equal(v.complete, false);
  assert.equal(v.write(Buffer.from([0x90])), false, 'F4 90 cannot');
  const w = new Utf8Validator();
  assert.equal(w.write(Buffer.from('65646974656465ed', 'hex')), true);
  assert.equal(w.write(Buffer.from([0xa0, 0x80])), false, 'ED A0 is a surrogate');
});

test('utf8: reset() starts over', () => {
  const v = new Utf8Validator();
  assert.equal(v.write(Buffer.from([0xe2, 0x82])), true);
  v.reset();
  assert.equal(v.write(Buffer.from('ok')), true);
  assert.equal(v.complete, true);
});

/** Bytes biased toward UTF-8 structure: lead bytes, continuations, boundaries, ASCII. */
const utf8ish = fc.array(
  fc.oneof(
    fc.integer({ min: 0, max: 0x7f }),
    fc.integer({ min: 0x80, max: 0xbf }),
    fc.constantFrom(0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff),
    fc.integer({ min: 0, max: 0xff }),
  ),
  { maxLength: 40 },
);
const validText = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => Buffer.from(s, 'utf8'));

test('utf8 property: for any bytes and any cutting, the verdict equals TextDecoder(fatal)', () => {
  fc.assert(
    fc.property(fc.oneof(utf8ish.map((a) => Uint8Array.from(a)), validText), fc.array(fc.nat(41), { maxLength: 8 }), (bytes, cuts) => {
      assert.equal(validate(bytes, cuts), decodes(bytes));
    }),
    { numRuns: 3000 },
  );
});

test('utf8 property: fed byte by byte, the first refusal is at the first byte no valid text could continue with', () => {
  fc.assert(
    fc.property(utf8ish.map((a) => Uint8Array.from(a)), (bytes) => {
      const v = new Utf8Validator();
      let refusedAt = bytes.length;
      for (let i = 0; i < bytes.length; i++) {
        if (!v.write(bytes, i, i + 1)) {
          refusedAt = i;
          break;
        }
      }
      assert.equal(refusedAt, validPrefix(bytes));
    }),
    { numRuns: 3000 },
  );
});

test('utf8: large valid input takes the native path and is still judged right at chunk edges', () => {
  const text = Buffer.from('€'.repeat(100_000) + 'x' + '😀'.repeat(50_000));
  for (const step of [1000, 4096, 65536, 65537]) {
    const v = new Utf8Validator();
    for (let at = 0; at < text.length; at += step) assert.equal(v.write(text, at, Math.min(text.length, at + step)), true, `step ${step} at ${at}`);
    assert.equal(v.complete, true);
  }
  const bad = Buffer.from(text);
  bad[bad.length - 2] = 0x20; // break the last emoji
  assert.equal(validate(bad, [65536, 131072]), false);
});
