import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { closeFrame, frame, Opcode, textFrame } from '../../src/transports/websocket/frame.ts';
import { Receiver, type ReceiverHandler } from '../../src/transports/websocket/receiver.ts';

const hex = (b: Buffer) => b.toString('hex');

test('server frames: RFC 6455 §5.7 examples and length encodings', () => {
  // "Hello", unmasked text frame
  assert.equal(hex(textFrame('Hello')), '810548656c6c6f');
  assert.equal(hex(frame(Opcode.pong, Buffer.from('Hello'))), '8a0548656c6c6f');
  // 256 bytes binary: 16-bit extended length
  assert.equal(hex(frame(Opcode.binary, Buffer.alloc(256)).subarray(0, 4)), '827e0100');
  // 65536 bytes: 64-bit extended length
  assert.equal(hex(frame(Opcode.binary, Buffer.alloc(65536)).subarray(0, 10)), '827f0000000000010000');
  assert.equal(hex(closeFrame(3004, 'slow')), '88060bbc736c6f77');
  assert.equal(closeFrame(3000, 'x'.repeat(300)).length, 2 + 125, 'close payload capped at 125');
  assert.equal(textFrame('é').toString('hex'), '8102c3a9');
});

/** Builds a masked client frame. */
function clientFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; mask?: Buffer } = {}): Buffer {
  const mask = opts.mask ?? Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0, 0x80 | len]) : len < 65536 ? Buffer.from([0, 0x80 | 126, len >> 8, len & 255]) : (() => {
    const h = Buffer.alloc(10);
    h[1] = 0x80 | 127;
    h.writeUInt32BE(len, 6);
    return h;
  })();
  head[0] = (opts.fin === false ? 0 : 0x80) | opcode;
  const body = Buffer.from(payload);
  for (let i = 0; i < len; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

class Rec implements ReceiverHandler {
  events: string[] = [];
  onMessage(d: Buffer, binary: boolean) {
    this.events.push(`${binary ? 'bin' : 'text'}:${d.toString()}`);
  }
  onPing(d: Buffer) {
    this.events.push(`ping:${d}`);
  }
  onPong(d: Buffer) {
    this.events.push(`pong:${d}`);
  }
  onClose(code: number, reason: string) {
    this.events.push(`close:${code}:${reason}`);
  }
  onError(code: number, msg: string) {
    this.events.push(`error:${code}:${msg}`);
  }
}

test('receiver: RFC 6455 §5.7 masked "Hello"', () => {
  const r = new Rec();
  new Receiver(1024, r).write(Buffer.from('818537fa213d7f9f4d5158', 'hex'));
  assert.deepEqual(r.events, ['text:Hello']);
});

test('receiver: fragments with an interleaved ping, fed one byte at a time', () => {
  const r = new Rec();
  const rx = new Receiver(1024, r);
  const bytes = Buffer.concat([
    clientFrame(Opcode.text, Buffer.from('Hel'), { fin: false }),
    clientFrame(Opcode.ping, Buffer.from('p')),
    clientFrame(Opcode.continuation, Buffer.from('lo'), { fin: true }),
    clientFrame(Opcode.binary, Buffer.alloc(300, 0x61)),
    clientFrame(Opcode.close, Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65])),
  ]);
  for (const b of bytes) rx.write(Buffer.from([b]));
  assert.deepEqual(r.events, ['ping:p', 'text:Hello', `bin:${'a'.repeat(300)}`, 'close:1000:bye']);
});

test('receiver: protocol errors', () => {
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.from('810548656c6c6f', 'hex'), /error:1002:client frames must be masked/],
    [Buffer.from([0xc1, 0x80, 0, 0, 0, 0]), /error:1002:RSV/],
    [Buffer.from([0x83, 0x80, 0, 0, 0, 0]), /error:1002:reserved opcode/],
    [Buffer.from([0x09, 0x80, 0, 0, 0, 0]), /error:1002:fragmented control/],
    [Buffer.from([0x80, 0x80, 0, 0, 0, 0]), /error:1002:continuation frame without/],
    [clientFrame(Opcode.close, Buffer.from([0x03])), /error:1002:close frame with a 1-byte/],
    [clientFrame(Opcode.close, Buffer.from([0x03, 0xed])), /error:1002:invalid close code 1005/],
    [clientFrame(Opcode.text, Buffer.from([0xff, 0xfe])), /error:1007/],
    [Buffer.from([0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]), /error:1009/],
    [Buffer.from([0x81, 0xfe, 0xff, 0xff]), /error:1009:message over 1024/],
    [Buffer.concat([clientFrame(Opcode.text, Buffer.alloc(600), { fin: false }), clientFrame(Opcode.continuation, Buffer.alloc(600))]), /error:1009/],
    [Buffer.concat([clientFrame(Opcode.text, Buffer.from('a'), { fin: false }), clientFrame(Opcode.text, Buffer.from('b'))]), /error:1002:new message before/],
  ];
  for (const [bytes, want] of cases) {
    const r = new Rec();
    new Receiver(1024, r).write(bytes);
    assert.match(r.events.join(' '), want, bytes.toString('hex').slice(0, 40));
    assert.equal(r.events.filter((e) => e.startsWith('error')).length, 1, 'stops after the first error');
  }
});

test('receiver: any chunking of a valid stream yields the same messages (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 400 })), { minLength: 1, maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
      (msgs, cuts) => {
        const stream = Buffer.concat(msgs.map(([bin, p]) => clientFrame(bin ? Opcode.binary : Opcode.text, bin ? Buffer.from(p) : Buffer.from(Buffer.from(p).toString('hex')))));
        const r = new Rec();
        const rx = new Receiver(4096, r);
        let at = 0;
        let i = 0;
        while (at < stream.length) {
          const n = cuts[i++ % cuts.length]!;
          rx.write(stream.subarray(at, at + n));
          at += n;
        }
        assert.deepEqual(
          r.events,
          msgs.map(([bin, p]) => (bin ? `bin:${Buffer.from(p).toString()}` : `text:${Buffer.from(p).toString('hex')}`)),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('receiver: random bytes never throw; at most one error is reported', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      const r = new Rec();
      new Receiver(1024, r).write(Buffer.from(bytes));
      assert.ok(r.events.filter((e) => e.startsWith('error')).length <= 1);
    }),
    { numRuns: 2000 },
  );
});
