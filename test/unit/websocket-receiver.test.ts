/**
 * Receiver behaviour added for RFC 6455 conformance (issue 11): fail-fast UTF-8 per fragment and
 * per TCP chunk, the fragment cap, the 64-bit length's most significant bit, and — as a property —
 * that a text message split into any fragments and cut into any chunks is delivered exactly when
 * TextDecoder(fatal) accepts its bytes, and refused with 1007 otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Opcode } from '../../src/transports/websocket/frame.ts';
import { isValidCloseCode, Receiver, type ReceiverHandler } from '../../src/transports/websocket/receiver.ts';
import { clientFrame, hex } from '../helpers/ws-wire.ts';

class Rec implements ReceiverHandler {
  events: string[] = [];
  messages: Buffer[] = [];
  onMessage(d: Buffer, binary: boolean) {
    this.messages.push(Buffer.from(d));
    this.events.push(`${binary ? 'bin' : 'text'}:${d.length}`);
  }
  onPing(d: Buffer) {
    this.events.push(`ping:${d}`);
  }
  onPong() {
    this.events.push('pong');
  }
  onClose(code: number) {
    this.events.push(`close:${code}`);
  }
  onError(code: number, msg: string) {
    this.events.push(`error:${code}:${msg}`);
  }
}

const fatal = new TextDecoder('utf-8', { fatal: true });
const decodes = (b: Uint8Array) => {
  try {
    fatal.decode(b);
    return true;
  } catch {
    return false;
  }
};

test('64-bit length: most significant bit set → 1002; large but legal → 1009', () => {
  const r1 = new Rec();
  new Receiver(1024, r1).write(hex('81 ff 8000000000000000 00000000'));
  assert.match(r1.events.join(), /^error:1002:64-bit payload length with the most significant bit set$/);
  const r2 = new Rec();
  new Receiver(1024, r2).write(hex('81 ff 0000000100000000 00000000'));
  assert.match(r2.events.join(), /^error:1009/);
});

test('fragment cap: maxFragments frames per message are accepted, one more → 1009; empty fragments count', () => {
  const frames = (n: number) => Buffer.concat(Array.from({ length: n }, (_, i) => clientFrame(i === 0 ? Opcode.text : Opcode.continuation, Buffer.alloc(0), { fin: i === n - 1 })));
  const ok = new Rec();
  new Receiver(1024, ok, 4).write(frames(4));
  assert.deepEqual(ok.events, ['text:0']);
  const over = new Rec();
  new Receiver(1024, over, 4).write(frames(5));
  assert.deepEqual(over.events, ['error:1009:message of more than 4 fragments']);
  // Control frames between fragments do not count.
  const ctl = new Rec();
  new Receiver(1024, ctl, 2).write(Buffer.concat([clientFrame(Opcode.text, 'a', { fin: false }), clientFrame(Opcode.ping, 'p'), clientFrame(Opcode.ping, 'q'), clientFrame(Opcode.continuation, 'b')]));
  assert.deepEqual(ctl.events, ['ping:p', 'ping:q', 'text:2']);
});

test('fail fast: the invalid second fragment is refused before the message ends', () => {
  const r = new Rec();
  const rx = new Receiver(1024, r);
  rx.write(clientFrame(Opcode.text, hex('cebae1bdb9cf83cebcceb5'), { fin: false }));
  assert.deepEqual(r.events, []);
  rx.write(clientFrame(Opcode.continuation, hex('f4908080'), { fin: false }));
  assert.deepEqual(r.events, ['error:1007:text message is not valid UTF-8']);
});

test('fail fast within one frame: a bad byte in the second TCP chunk is refused before the frame is complete', () => {
  const r = new Rec();
  const rx = new Receiver(1024, r);
  const f = clientFrame(Opcode.text, Buffer.concat([hex('cebae1bdb9cf83cebcceb5'), hex('f4908080'), Buffer.from('edited')]));
  rx.write(f.subarray(0, 6 + 12)); // header, mask, κόσμε and F4
  assert.deepEqual(r.events, []);
  rx.write(f.subarray(18, 19)); // 90
  assert.deepEqual(r.events, ['error:1007:text message is not valid UTF-8']);
});

test('a text message ending inside a code point → 1007 at its last fragment; binary is never checked', () => {
  const r = new Rec();
  new Receiver(1024, r).write(Buffer.concat([clientFrame(Opcode.text, 'ok', { fin: false }), clientFrame(Opcode.continuation, hex('e282'))]));
  assert.deepEqual(r.events, ['error:1007:text message ends inside a UTF-8 sequence']);
  const b = new Rec();
  new Receiver(1024, b).write(Buffer.concat([clientFrame(Opcode.binary, hex('ff'), { fin: false }), clientFrame(Opcode.continuation, hex('e282'))]));
  assert.deepEqual(b.events, ['bin:3']);
});

test('close codes: the valid set of RFC 6455 §7.4 and the IANA registry', () => {
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
  const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
  for (const c of valid) assert.ok(isValidCloseCode(c), `${c}`);
  for (const c of invalid) assert.ok(!isValidCloseCode(c), `${c}`);
});

test('property: any bytes as a text message, in any fragments and chunks → delivered iff TextDecoder accepts, else exactly one 1007', () => {
  const bytesArb = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }).map((s) => Buffer.from(s)),
    fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
  );
  fc.assert(
    fc.property(bytesArb, fc.array(fc.nat(60), { maxLength: 5 }), fc.integer({ min: 1, max: 9 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (payload, cuts, chunk, mask) => {
      const edges = [...new Set([0, ...cuts.filter((c) => c < payload.length), payload.length])].sort((a, b) => a - b);
      if (edges.length === 1) edges.push(0);
      const frames = edges.slice(0, -1).map((from, i) => clientFrame(i === 0 ? Opcode.text : Opcode.continuation, payload.subarray(from, edges[i + 1]), { fin: i === edges.length - 2, mask: Buffer.from(mask).toString('hex') }));
      const stream = Buffer.concat([...frames, clientFrame(Opcode.ping, 'after')]);
      const r = new Rec();
      const rx = new Receiver(4096, r);
      for (let at = 0; at < stream.length; at += chunk) rx.write(Buffer.from(stream.subarray(at, at + chunk)));
      if (decodes(payload)) {
        assert.deepEqual(r.events, [`text:${payload.length}`, 'ping:after']);
        assert.deepEqual(r.messages[0], payload);
      } else {
        assert.equal(r.events.length, 1, r.events.join());
        assert.match(r.events[0]!, /^error:1007/);
      }
    }),
    { numRuns: 2000 },
  );
});
