/**
 * RFC 6455 conformance, Autobahn|Testsuite category 6 (UTF-8 handling), one test per Autobahn
 * server case: 6.1–6.4 as Autobahn sends them, 6.5–6.23 every vector (test/helpers/utf8-vectors.ts).
 * docs/operations.md "WebSocket conformance" has the table.
 *
 * Invalid UTF-8 in a text message fails the connection with 1007 alone — at the fragment (or TCP
 * chunk) holding the bad byte, not at the end of the message (6.4.x). Valid text is processed as
 * protocol input: where Autobahn's text is not a command of ours, the application answers it
 * (disconnect 3501 "malformed JSON"), which shows the WebSocket layer accepted it; where we can, the
 * text travels inside a `connect` command and gets the ok reply.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { clientFrame, hex, sleep, Wire } from '../helpers/ws-wire.ts';
import { UTF8_SECTIONS } from '../helpers/utf8-vectors.ts';

let node: SwitchboardNode;
const open = () => Wire.open(node.port);

before(async () => {
  node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, pingInterval: 600 });
});
after(() => node.close());

/** The message passed the WebSocket layer and reached the codec, which refused it as not a command. */
async function reachedApplication(w: Wire, why: RegExp): Promise<void> {
  await w.waitClosed();
  const d = w.json().find((f) => f.t === 'disconnect');
  assert.equal(d?.code, 3501, `application-level answer; frames: ${w.describe()}`);
  assert.match(String(d?.reason), why);
  assert.equal(w.closes()[0]?.code, 3501);
}

async function connectAnswered(w: Wire): Promise<void> {
  const r = await w.waitJson((f) => f.id === 1);
  assert.equal(r.t, 'ok', JSON.stringify(r));
  await w.expectCleanClose();
}

/** `{"t":"connect","id":1,"name":"<text>"}` */
const connectNamed = (text: Buffer) => Buffer.concat([Buffer.from('{"t":"connect","id":1,"name":"'), text, Buffer.from('"}')]);
/** Frames of `payload` cut at `cuts` (a text frame, then continuations; FIN on the last). */
function fragments(payload: Buffer, cuts: number[]): Buffer[] {
  const edges = [0, ...cuts, payload.length];
  return edges.slice(0, -1).map((from, i) => clientFrame(i === 0 ? 0x1 : 0x0, payload.subarray(from, edges[i + 1]), { fin: i === edges.length - 2 }));
}

const KOSME = hex('cebae1bdb9cf83cebcceb5');
const HELLO_UTF8 = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!');
/** Autobahn 6.3.1 / 6.4.x payload: κόσμε, then an invalid sequence, then "edited". */
const INVALID_631 = Buffer.concat([KOSME, hex('eda080'), Buffer.from('edited')]);
const INVALID_641 = Buffer.concat([KOSME, hex('f4908080'), Buffer.from('edited')]);

describe('Autobahn 6.1–6.4 UTF-8: empty, fragmented, invalid, fail-fast', { concurrency: 8 }, () => {
  test('6.1.1 empty text message → passes (application answers "empty message")', async () => {
    const w = await open();
    await w.send(hex('81 80 37fa213d'));
    await reachedApplication(w, /empty message/);
  });
  test('6.1.2 text message of 3 empty fragments → passes (application answers "empty message")', async () => {
    const w = await open();
    await w.send(Buffer.concat([hex('01 80 37fa213d'), hex('00 80 37fa213d'), hex('80 80 37fa213d')]));
    await reachedApplication(w, /empty message/);
  });
  test('6.1.3 fragments: empty, non-empty, empty → processed', async () => {
    const w = await open();
    await w.send(Buffer.concat([hex('01 80 37fa213d'), clientFrame(0x0, '{"t":"connect","id":1}', { fin: false }), hex('80 80 37fa213d')]));
    await connectAnswered(w);
  });
  test('6.2.1 valid UTF-8 in one fragment → processed', async () => {
    const w = await open();
    await w.send(clientFrame(0x1, connectNamed(HELLO_UTF8)));
    await connectAnswered(w);
  });
  test('6.2.2 valid UTF-8 in two fragments, cut on a code point boundary → processed', async () => {
    const w = await open();
    const msg = connectNamed(HELLO_UTF8);
    await w.send(fragments(msg, [msg.indexOf(Buffer.from('üàá'))]));
    await connectAnswered(w);
  });
  test('6.2.3 valid UTF-8 in 1-octet fragments (cuts inside code points) → processed', async () => {
    const w = await open();
    const msg = connectNamed(HELLO_UTF8);
    await w.send(Buffer.concat(fragments(msg, Array.from({ length: msg.length - 1 }, (_, i) => i + 1))));
    await connectAnswered(w);
  });
  test('6.2.4 κόσμε in 1-octet fragments → processed', async () => {
    const w = await open();
    const msg = connectNamed(KOSME);
    await w.send(Buffer.concat(fragments(msg, Array.from({ length: msg.length - 1 }, (_, i) => i + 1))));
    await connectAnswered(w);
  });
  test('6.3.1 invalid UTF-8, unfragmented → 1007', async () => {
    const w = await open();
    await w.send(clientFrame(0x1, INVALID_631));
    await w.expectFailed(1007);
  });
  test('6.3.2 invalid UTF-8 in 1-octet fragments → 1007', async () => {
    const w = await open();
    await w.send(Buffer.concat(fragments(INVALID_631, Array.from({ length: INVALID_631.length - 1 }, (_, i) => i + 1))));
    await w.expectFailed(1007);
  });

  /** Sends `first`, checks the connection is still open, sends `second` and expects 1007 before anything else is sent. */
  async function failsFast(first: Buffer, second: Buffer): Promise<void> {
    const w = await open();
    await w.send(first);
    await sleep(150);
    assert.equal(w.tcpClosed, false, `open after the valid part: ${w.describe()}`);
    assert.equal(w.frames.length, 0);
    await w.send(second);
    // The rest of the message is never sent: the server must judge the bad part on its own.
    await w.expectFailed(1007);
  }
  test('6.4.1 three fragments, the 2nd makes it invalid (F4 90 80 80 > U+10FFFF) → 1007 at the 2nd, before the 3rd', async () => {
    await failsFast(clientFrame(0x1, KOSME, { fin: false }), clientFrame(0x0, hex('f4908080'), { fin: false }));
  });
  test('6.4.2 three fragments: bytes 0–11 (valid prefix ending in F4), byte 12 (90) → 1007 at the 2nd', async () => {
    await failsFast(clientFrame(0x1, INVALID_641.subarray(0, 12), { fin: false }), clientFrame(0x0, INVALID_641.subarray(12, 13), { fin: false }));
  });
  test('6.4.3 one frame in three chops, the 2nd chop invalid → 1007 at the 2nd chop', async () => {
    const f = clientFrame(0x1, INVALID_641);
    const head = 6; // 2-byte header + 4-byte mask key
    await failsFast(f.subarray(0, head + KOSME.length), f.subarray(head + KOSME.length, head + KOSME.length + 4));
  });
  test('6.4.4 one frame in three chops: bytes 0–11, then byte 12 → 1007 at byte 12', async () => {
    const f = clientFrame(0x1, INVALID_641);
    await failsFast(f.subarray(0, 6 + 12), f.subarray(6 + 12, 6 + 13));
  });
});

for (const section of UTF8_SECTIONS) {
  describe(`Autobahn ${section.id} ${section.title}`, { concurrency: 8 }, () => {
    for (const v of section.vectors) {
      test(`${v.id} ${v.valid ? 'valid' : 'invalid'}: ${v.bytes.toString('hex').slice(0, 48)}${v.bytes.length > 24 ? '…' : ''} → ${v.valid ? 'passes the WebSocket layer' : '1007'}`, async () => {
        const w = await open();
        await w.send(clientFrame(0x1, v.bytes));
        if (v.valid) await reachedApplication(w, /malformed JSON/);
        else await w.expectFailed(1007);
      });
    }
  });
}
