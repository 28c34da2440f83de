/** The Redis broker's pub/sub message decoder: the forms the publish script builds, and hostile input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeWire } from '../../src/broker/redis-wire.ts';

const alice = { user: 'alice', client: 'c1' };

test('one publication, a batch, a join and a leave', () => {
  assert.deepEqual(decodeWire('{"o":7,"e":"ep","d":{"x":1}}'), { kind: 'pubs', epoch: 'ep', pubs: [{ offset: 7, data: { x: 1 } }] });
  assert.deepEqual(decodeWire(`{"o":7,"e":"ep","d":null,"i":${JSON.stringify(alice)}}`), { kind: 'pubs', epoch: 'ep', pubs: [{ offset: 7, data: null, info: alice }] });
  assert.deepEqual(decodeWire(`{"o":3,"e":"ep","b":[[1],["two",${JSON.stringify(alice)}],[null]]}`), {
    kind: 'pubs',
    epoch: 'ep',
    pubs: [
      { offset: 3, data: 1 },
      { offset: 4, data: 'two', info: alice },
      { offset: 5, data: null },
    ],
  });
  assert.deepEqual(decodeWire(`{"j":${JSON.stringify(alice)}}`), { kind: 'join', info: alice });
  assert.deepEqual(decodeWire(`{"l":${JSON.stringify(alice)}}`), { kind: 'leave', info: alice });
});

test('anything else is null, never a throw or a half-built publication', () => {
  for (const bad of [
    '',
    'not json',
    'null',
    '[1,2]',
    '42',
    '{}',
    '{"o":0,"e":"ep","d":1}', // offsets start at 1
    '{"o":-1,"e":"ep","d":1}',
    '{"o":1.5,"e":"ep","d":1}',
    '{"o":"1","e":"ep","d":1}',
    '{"o":1,"e":"","d":1}',
    `{"o":1,"e":"${'x'.repeat(65)}","d":1}`,
    '{"o":1,"e":5,"d":1}',
    '{"o":1,"e":"ep"}', // neither d nor b
    '{"o":1,"e":"ep","d":1,"i":"alice"}',
    '{"o":1,"e":"ep","d":1,"i":{"user":"alice"}}',
    '{"o":1,"e":"ep","b":[]}',
    '{"o":1,"e":"ep","b":{}}',
    '{"o":1,"e":"ep","b":[1]}',
    '{"o":1,"e":"ep","b":[[1],[]]}',
    '{"o":1,"e":"ep","b":[[1,{"user":"a","client":"b"},3]]}',
    '{"o":1,"e":"ep","b":[[1,null]]}',
    `{"o":${Number.MAX_SAFE_INTEGER},"e":"ep","b":[[1],[2]]}`, // the second offset is not safe
    '{"j":null}',
    '{"j":[1]}',
    '{"l":{"user":1,"client":"c"}}',
  ]) {
    assert.equal(decodeWire(bad), null, bad);
  }
});

test('arbitrary JSON and arbitrary strings never throw; whatever decodes is well-formed', () => {
  const check = (s: string) => {
    const ev = decodeWire(s);
    if (ev === null) return;
    if (ev.kind === 'pubs') {
      assert.ok(ev.pubs.length >= 1 && typeof ev.epoch === 'string');
      ev.pubs.forEach((p, k) => {
        assert.ok(Number.isSafeInteger(p.offset) && p.offset >= 1);
        assert.equal(p.offset, ev.pubs[0]!.offset + k);
        if (p.info) assert.ok(typeof p.info.user === 'string' && typeof p.info.client === 'string');
      });
    } else assert.ok(typeof ev.info.user === 'string' && typeof ev.info.client === 'string');
  };
  fc.assert(fc.property(fc.string(), check), { numRuns: 2000 });
  fc.assert(fc.property(fc.json(), check), { numRuns: 2000 });
  const info = fc.record({ user: fc.string(), client: fc.string() });
  const item = fc.oneof(fc.tuple(fc.jsonValue()), fc.tuple(fc.jsonValue(), info));
  fc.assert(
    fc.property(fc.integer({ min: -2, max: 2 ** 53 }), fc.string({ maxLength: 70 }), fc.array(item, { maxLength: 8 }), (o, e, b) => check(JSON.stringify({ o, e, b }))),
    { numRuns: 2000 },
  );
});
