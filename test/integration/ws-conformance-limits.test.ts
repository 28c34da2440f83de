/**
 * RFC 6455 conformance, Autobahn|Testsuite category 9 (limits and performance), one test per
 * Autobahn server case, mapped onto our limits: a node with maxMessageBytes = 1 MiB accepts every
 * message up to it (a `connect` padded to the case's size gets its reply) and refuses anything
 * larger with 1009 — from the frame header, before buffering, so the tests send only the start of
 * a refused message. docs/operations.md "WebSocket conformance" has the table.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { DEFAULT_MAX_FRAGMENTS } from '../../src/transports/websocket/receiver.ts';
import { clientFrame, paddedConnect, Wire } from '../helpers/ws-wire.ts';

const MIB = 1 << 20;
let node: SwitchboardNode;
const open = () => Wire.open(node.port);

before(async () => {
  node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, pingInterval: 600, maxMessageBytes: MIB, rateLimit: 10_000, rateBurst: 10_000 });
});
after(() => node.close());

async function answered(w: Wire): Promise<void> {
  const r = await w.waitJson((f) => f.id === 1, 10_000);
  assert.equal(r.t, 'ok', JSON.stringify(r));
  await w.expectCleanClose();
}

/** A message of `size` bytes in frames of `frag` bytes (the last may be shorter). */
function fragmented(opcode: number, payload: Buffer, frag: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; at += frag) {
    out.push(clientFrame(at === 0 ? opcode : 0x0, payload.subarray(at, at + frag), { fin: at + frag >= payload.length }));
  }
  return out;
}

const SIZES: Array<[number, number]> = [[1, 64 * 1024], [2, 256 * 1024], [3, MIB], [4, 4 * MIB], [5, 8 * MIB], [6, 16 * MIB]];
const FRAGS = [64, 256, 1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024, MIB, 4 * MIB];

for (const [cat, opcode, kind] of [['9.1', 0x1, 'text'], ['9.2', 0x2, 'binary']] as const) {
  describe(`Autobahn ${cat} ${kind} messages of 64 KiB to 16 MiB (limit 1 MiB)`, () => {
    for (const [n, size] of SIZES) {
      test(`${cat}.${n} ${kind} message of ${size / 1024} KiB → ${size <= MIB ? 'processed' : '1009'}`, async () => {
        const w = await open();
        if (size <= MIB) {
          await w.send(clientFrame(opcode, paddedConnect(size)));
          await answered(w);
        } else {
          // The 64-bit length alone is refused; send only the header and the first KiB.
          await w.send(clientFrame(opcode, Buffer.alloc(1024, 0x20), { len: BigInt(size) }).subarray(0, 14 + 1024));
          await w.expectFailed(1009);
        }
      });
    }
  });
}

for (const [cat, opcode, kind] of [['9.3', 0x1, 'text'], ['9.4', 0x2, 'binary']] as const) {
  describe(`Autobahn ${cat} fragmented ${kind} message of 4 MiB (over the 1 MiB limit), fragments of 64 B to 4 MiB`, () => {
    FRAGS.forEach((frag, i) => {
      test(`${cat}.${i + 1} 4 MiB in fragments of ${frag} B → 1009 (at the fragment that passes 1 MiB or ${DEFAULT_MAX_FRAGMENTS} fragments)`, async () => {
        const w = await open();
        // Send what the server reads before it must refuse: up to 1 MiB plus one fragment.
        const frames = fragmented(opcode, Buffer.alloc(Math.min(4 * MIB, MIB + frag), 0x20), frag);
        const last = frames.at(-1)!;
        frames[frames.length - 1] = last.subarray(0, Math.min(last.length, 14 + 64));
        await w.send(Buffer.concat(frames));
        await w.expectFailed(1009);
      });
    });
  });
  describe(`${cat} scaled to our limit (ours): fragmented ${kind} message of 1 MiB`, { concurrency: 4 }, () => {
    FRAGS.forEach((frag, i) => {
      const count = Math.ceil(MIB / frag);
      const ok = count <= DEFAULT_MAX_FRAGMENTS;
      test(`${cat}.${i + 1}' 1 MiB in ${count} fragments of ${frag} B → ${ok ? 'processed' : `1009 (over ${DEFAULT_MAX_FRAGMENTS} fragments)`}`, async () => {
        const w = await open();
        await w.send(Buffer.concat(fragmented(opcode, paddedConnect(MIB), frag)));
        if (ok) await answered(w);
        else {
          await w.expectFailed(1009);
          assert.match(w.closes()[0]!.reason, /fragments/);
        }
      });
    });
  });
}

for (const [cat, opcode, kind] of [['9.5', 0x1, 'text'], ['9.6', 0x2, 'binary']] as const) {
  describe(`Autobahn ${cat} ${kind} message of 1 MiB sent in chops of 64 to 2048 octets`, { concurrency: 3 }, () => {
    [64, 128, 256, 512, 1024, 2048].forEach((chop, i) => {
      test(`${cat}.${i + 1} chops of ${chop} → processed`, async () => {
        const w = await open();
        await w.chops(clientFrame(opcode, paddedConnect(MIB)), chop);
        await answered(w);
      });
    });
  });
}

for (const [cat, opcode, kind] of [['9.7', 0x1, 'text'], ['9.8', 0x2, 'binary']] as const) {
  describe(`Autobahn ${cat} 1000 ${kind} messages round trip`, { concurrency: 3 }, () => {
    [0, 16, 64, 256, 1024, 4096].forEach((len, i) => {
      // A command needs 22 bytes at least; 0- and 16-byte round trips are pings of that size.
      const asPing = len < 22;
      test(`${cat}.${i + 1} 1000 × ${len} bytes → 1000 answers${asPing ? ' (as pings: shorter than any command)' : ' (connect, then 999 × "already connected")'}`, async () => {
        const w = await open();
        const frames = Array.from({ length: 1000 }, (_, k) => (asPing ? clientFrame(0x9, Buffer.alloc(len, 0x2a)) : clientFrame(opcode, paddedConnect(len, k + 1))));
        await w.send(Buffer.concat(frames));
        if (asPing) {
          for (let k = 0; k < 1000; k++) assert.equal((await w.next(10_000)).opcode, 0xa);
        } else {
          await w.waitJson((f) => f.id === 1, 20_000);
          await w.waitJson((f) => f.id === 1000, 20_000);
          const replies = w.json().filter((f) => typeof f.id === 'number');
          assert.equal(replies.length, 1000);
          assert.deepEqual(new Set(replies.map((f) => f.id)).size, 1000, 'one answer per message');
          // The first connect is answered when it completes; the later ones are refused at once.
          assert.ok(replies.every((f) => (f.id === 1 ? f.t === 'ok' : f.t === 'err' && f.code === 113)), 'connect ok, then "already connected" for each later one');
        }
        await w.expectCleanClose();
      });
    });
  });
}
