import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonCodec, msgpackCodec, ProtocolError, validateCommand, type Command } from '../../src/protocol/index.ts';

const jsonValue = fc.jsonValue({ maxDepth: 6 });
const str = fc.string({ maxLength: 40 });
const rec = { noNullPrototype: true } as const;
const pos = fc.record({ epoch: str, offset: fc.nat() }, rec);
const id = fc.integer({ min: 1, max: 2 ** 40 });
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ t: fc.constant('connect' as const), id }, { requiredKeys: ['t', 'id'], noNullPrototype: true }),
  fc.record({ t: fc.constant('connect' as const), id, token: str, name: str, version: str }, rec),
  fc.record({ t: fc.constant('sub' as const), id, ch: str }, rec),
  fc.record({ t: fc.constant('sub' as const), id, ch: str, recover: pos }, rec),
  fc.record({ t: fc.constant('unsub' as const), id, ch: str }, rec),
  fc.record({ t: fc.constant('pub' as const), id, ch: str, data: jsonValue.filter((v) => !JSON.stringify(v).includes('"__proto__"')).map((v) => JSON.parse(JSON.stringify(v)) as unknown) }, rec),
  fc.record({ t: fc.constant('presence' as const), id, ch: str }, rec),
  fc.record({ t: fc.constant('history' as const), id, ch: str, limit: fc.nat(), since: pos, reverse: fc.boolean() }, rec),
  fc.record({ t: fc.constant('refresh' as const), id, token: str }, rec),
  fc.constant({ t: 'pong' as const }),
);

// The one documented difference (docs/protocol.md, Transports and codecs): msgpackr decodes a map
// key "__proto__" as "__proto_", so the generator above leaves that key out, and this checks both
// behaviours: JSON keeps it as an own property, MessagePack renames it, and neither pollutes.
test('a "__proto__" key in publication data: own property over JSON, "__proto_" over MessagePack, no prototype change', () => {
  const cmd = { t: 'pub', id: 1, ch: 'c', data: JSON.parse('{"a":{"__proto__":{"x":1}}}') as unknown };
  const viaJson = validateCommand(jsonCodec.decode(jsonCodec.encodeMany([cmd as Command]))[0]) as { data: { a: object } };
  assert.deepEqual(Object.keys(viaJson.data.a), ['__proto__']);
  assert.equal(Object.getPrototypeOf(viaJson.data.a), Object.prototype);
  const viaMsgpack = validateCommand(msgpackCodec.decode(msgpackCodec.encodeMany([cmd as Command]))[0]) as { data: { a: Record<string, unknown> } };
  assert.deepEqual(Object.keys(viaMsgpack.data.a), ['__proto_']);
  assert.deepEqual(viaMsgpack.data.a.__proto_, { x: 1 });
  assert.equal((viaMsgpack.data.a as { x?: unknown }).x, undefined);
});

for (const codec of [jsonCodec, msgpackCodec]) {
  test(`${codec.name}: encode → decode → validate round-trips every command`, () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 5 }), (cmds) => {
        const decoded = codec.decode(codec.encodeMany(cmds)).map((v) => validateCommand(v));
        assert.deepEqual(decoded, cmds);
      }),
      { numRuns: 500 },
    );
  });

  test(`${codec.name}: random bytes decode to frames or throw ProtocolError, never anything else`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          const frames = codec.decode(bytes);
          for (const f of frames) {
            try {
              validateCommand(f);
            } catch (err) {
              assert.ok(err instanceof ProtocolError, String(err));
            }
          }
        } catch (err) {
          assert.ok(err instanceof ProtocolError, `${(err as Error).name}: ${(err as Error).message}`);
        }
      }),
      { numRuns: 5000 },
    );
  });
}

test('json: mutated valid messages never escape as anything but ProtocolError', () => {
  fc.assert(
    fc.property(command, fc.nat(), fc.integer({ min: 0, max: 255 }), (cmd, at, byte) => {
      const bytes = Buffer.from(jsonCodec.encode(cmd));
      bytes[at % bytes.length] = byte;
      try {
        for (const f of jsonCodec.decode(bytes)) validateCommand(f);
      } catch (err) {
        assert.ok(err instanceof ProtocolError);
      }
    }),
    { numRuns: 3000 },
  );
});

test('json: vectors', () => {
  assert.deepEqual(jsonCodec.decode('{"t":"pong"}\n\n{"t":"sub","id":1,"ch":"a","extra":1}'), [{ t: 'pong' }, { t: 'sub', id: 1, ch: 'a', extra: 1 }]);
  assert.deepEqual(validateCommand({ t: 'sub', id: 1, ch: 'a', extra: 1 }), { t: 'sub', id: 1, ch: 'a' }, 'unknown fields dropped');
  assert.deepEqual(validateCommand({ t: 'warp', id: 3 }), { t: 'unknown', id: 3, type: 'warp' });
  assert.throws(() => jsonCodec.decode(''), ProtocolError);
  assert.throws(() => jsonCodec.decode('{"t":'), /malformed JSON/);
  assert.throws(() => jsonCodec.decode(Array(300).fill('{"t":"pong"}').join('\n')), /more than 256 frames/);
  assert.throws(() => jsonCodec.decode(new Uint8Array([0xc3, 0x28])), /not valid UTF-8/);
  assert.throws(() => validateCommand({ t: 'sub', id: 1.5, ch: 'a' }), /"id" must be a positive integer/);
  assert.throws(() => validateCommand({ t: 'history', id: 1, ch: 'a', since: { epoch: 'e', offset: -1 } }), /offset/);
  assert.throws(() => validateCommand({ t: 'connect', id: 1, token: 'x'.repeat(10_000) }), /longer than/);
});

test('msgpack: vectors', () => {
  // {"t":"pong"} as a fixmap
  assert.deepEqual(msgpackCodec.decode(Buffer.from('81a174a4706f6e67', 'hex')), [{ t: 'pong' }]);
  assert.equal(Buffer.from(msgpackCodec.encode({ t: 'pong' })).toString('hex'), '81a174a4706f6e67');
  assert.throws(() => msgpackCodec.decode('text'), /must be binary/);
  assert.throws(() => msgpackCodec.decode(Buffer.from('85a174', 'hex')), ProtocolError);
  // array32 claiming 4 billion elements with no data
  assert.throws(() => msgpackCodec.decode(Buffer.from('ddffffffff01', 'hex')), ProtocolError);
  // __proto__ keys stay plain data
  const v = msgpackCodec.decode(Buffer.from('81a95f5f70726f746f5f5f81a17801', 'hex'))[0] as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
});
