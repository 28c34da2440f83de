/**
 * RFC 6455 conformance, Autobahn|Testsuite categories 1 (framing) and 2 (pings/pongs), one test
 * per Autobahn server case, over raw TCP with the frames written as hex (or built byte-exact by
 * clientFrame for long payloads). docs/operations.md "WebSocket conformance" has the table.
 *
 * We are not an echo server, so where Autobahn expects its message echoed we send a message that
 * is valid protocol input (a `connect` command padded with spaces to the case's length) and expect
 * our answer to it; a 0-byte message is not a command, and the application-level answer to it
 * (disconnect 3501 "empty message") shows it passed the WebSocket layer.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { clientFrame, hex, paddedConnect, Wire } from '../helpers/ws-wire.ts';

let node: SwitchboardNode;
const open = () => Wire.open(node.port);

before(async () => {
  node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, maxMessageBytes: 65536, pingInterval: 600 });
});
after(() => node.close());

/** Sends `frame` and expects the connect reply, then closes cleanly. */
async function expectReply(w: Wire): Promise<void> {
  const r = await w.waitJson((f) => f.id === 1);
  assert.equal(r.t, 'ok', JSON.stringify(r));
  await w.expectCleanClose();
}

describe('Autobahn 1.x framing: text and binary messages of every length class are accepted', { concurrency: 8 }, () => {
  test('1.1.1 text, payload length 0: passes the WebSocket layer (application answers 3501 "empty message")', async () => {
    const w = await open();
    await w.send(hex('81 80 37fa213d'));
    await w.waitClosed();
    const d = w.json().find((f) => f.t === 'disconnect');
    assert.equal(d?.code, 3501);
    assert.match(String(d?.reason), /empty message/);
    assert.equal(w.closes()[0]?.code, 3501);
  });
  const lengths: Array<[string, number]> = [['2', 125], ['3', 126], ['4', 127], ['5', 128], ['6', 65535], ['7', 65536]];
  for (const [n, len] of lengths) {
    test(`1.1.${n} text, payload length ${len}: processed (connect answered)`, async () => {
      const w = await open();
      await w.send(clientFrame(0x1, paddedConnect(len)));
      await expectReply(w);
    });
  }
  test('1.1.8 text, payload length 65536, sent in chops of 997 octets', async () => {
    const w = await open();
    await w.chops(clientFrame(0x1, paddedConnect(65536)), 997);
    await expectReply(w);
  });
  test('1.2.1 binary, payload length 0: passes the WebSocket layer (application answers 3501)', async () => {
    const w = await open();
    await w.send(hex('82 80 37fa213d'));
    await w.waitClosed();
    assert.equal(w.json().find((f) => f.t === 'disconnect')?.code, 3501);
  });
  for (const [n, len] of lengths) {
    test(`1.2.${n} binary, payload length ${len}: processed (connect answered)`, async () => {
      const w = await open();
      await w.send(clientFrame(0x2, paddedConnect(len)));
      await expectReply(w);
    });
  }
  test('1.2.8 binary, payload length 65536, sent in chops of 997 octets', async () => {
    const w = await open();
    await w.chops(clientFrame(0x2, paddedConnect(65536)), 997);
    await expectReply(w);
  });
});

describe('Autobahn 2.x pings and pongs', { concurrency: 8 }, () => {
  test('2.1 ping without payload → pong without payload', async () => {
    const w = await open();
    await w.send(hex('89 80 37fa213d'));
    assert.deepEqual(await w.next(), { fin: true, rsv: 0, opcode: 0xa, payload: Buffer.alloc(0) });
    await w.expectCleanClose();
  });
  test('2.2 ping with "Hello, world!" → pong with the same payload', async () => {
    const w = await open();
    // RFC 6455 §5.7 style: mask 37fa213d over "Hello, world!"
    await w.send(clientFrame(0x9, 'Hello, world!'));
    const f = await w.next();
    assert.equal(f.opcode, 0xa);
    assert.equal(f.payload.toString(), 'Hello, world!');
    await w.expectCleanClose();
  });
  test('2.3 ping with binary payload 00ff fefd fcfb 00ff → the same payload', async () => {
    const w = await open();
    await w.send(hex('89 88 00000000 00fffefdfcfb00ff'));
    const f = await w.next();
    assert.equal(f.opcode, 0xa);
    assert.equal(f.payload.toString('hex'), '00fffefdfcfb00ff');
    await w.expectCleanClose();
  });
  test('2.4 ping with a 125-byte payload → pong with it', async () => {
    const w = await open();
    await w.send(hex('89 fd 00000000' + 'fe'.repeat(125)));
    const f = await w.next();
    assert.equal(f.opcode, 0xa);
    assert.equal(f.payload.toString('hex'), 'fe'.repeat(125));
    await w.expectCleanClose();
  });
  test('2.5 ping with a 126-byte payload → 1002 (control frames carry at most 125)', async () => {
    const w = await open();
    await w.send(hex('89 fe 007e 00000000' + 'fe'.repeat(126)));
    await w.expectFailed(1002);
  });
  test('2.6 ping with a 125-byte payload sent octet by octet → pong with it', async () => {
    const w = await open();
    await w.chops(clientFrame(0x9, Buffer.alloc(125, 0xfe)), 1);
    const f = await w.next();
    assert.equal(f.opcode, 0xa);
    assert.equal(f.payload.length, 125);
    await w.expectCleanClose();
  });
  test('2.7 unsolicited pong without payload → ignored', async () => {
    const w = await open();
    await w.send(hex('8a 80 37fa213d'));
    await w.expectCleanClose();
    assert.equal(w.frames.length, 1, `only the close answer: ${w.describe()}`);
  });
  test('2.8 unsolicited pong with payload → ignored', async () => {
    const w = await open();
    await w.send(clientFrame(0xa, 'unsolicited pong payload'));
    await w.expectCleanClose();
    assert.equal(w.frames.length, 1, `only the close answer: ${w.describe()}`);
  });
  test('2.9 unsolicited pong, then ping → one pong, for the ping', async () => {
    const w = await open();
    await w.send([clientFrame(0xa, 'unsolicited pong payload'), clientFrame(0x9, 'ping payload')]);
    const f = await w.next();
    assert.equal(f.opcode, 0xa);
    assert.equal(f.payload.toString(), 'ping payload');
    await w.expectCleanClose();
    assert.equal(w.frames.length, 2);
  });
  for (const [n, chop] of [['10', 0], ['11', 1]] as const) {
    test(`2.${n} ten pings with payloads${chop ? ', sent octet by octet' : ''} → ten pongs, in order`, async () => {
      const w = await open();
      const pings = Buffer.concat(Array.from({ length: 10 }, (_, i) => clientFrame(0x9, `payload-${i}`)));
      if (chop) await w.chops(pings, chop);
      else await w.send(pings);
      for (let i = 0; i < 10; i++) {
        const f = await w.next();
        assert.equal(f.opcode, 0xa);
        assert.equal(f.payload.toString(), `payload-${i}`);
      }
      await w.expectCleanClose();
    });
  }
});
