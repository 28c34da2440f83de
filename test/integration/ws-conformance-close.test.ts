/**
 * RFC 6455 conformance, Autobahn|Testsuite category 7 (close handling), one test per Autobahn
 * server case, over raw TCP with the frames as hex. docs/operations.md "WebSocket conformance"
 * has the table.
 *
 * The server answers a valid close with a close carrying the same code (§5.5.1; none when the peer
 * sent none), then closes TCP; after a close frame nothing the peer sends is processed. An invalid
 * close (1-byte payload, a code that must not be sent, a reason over 123 bytes) fails with 1002,
 * a reason that is not UTF-8 with 1007.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { clientClose, clientFrame, hex, Wire } from '../helpers/ws-wire.ts';

let node: SwitchboardNode;
const open = () => Wire.open(node.port);

before(async () => {
  node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, pingInterval: 600 });
});
after(() => node.close());

const CONNECT = hex('81 96 00000000 7b2274223a22636f6e6e656374222c226964223a317d');
const CLOSE_1000 = hex('88 82 00000000 03e8');
const PING = hex('89 80 00000000');

/** The server echoed one close with `code` (undefined: no code), sent nothing after it, and closed TCP. */
async function echoedClose(w: Wire, code: number | undefined): Promise<void> {
  await w.waitClosed();
  const closes = w.closes();
  assert.equal(closes.length, 1, `one close frame; frames: ${w.describe()}`);
  assert.equal(closes[0]!.code, code);
  assert.equal(w.frames.at(-1)!.opcode, 0x8, `nothing after the close; frames: ${w.describe()}`);
}

describe('Autobahn 7.1 basic close behaviour', { concurrency: 8 }, () => {
  test('7.1.1 text message, then close → message processed, close 1000 echoed', async () => {
    const w = await open();
    await w.send(CONNECT);
    assert.equal((await w.waitJson((f) => f.id === 1)).t, 'ok');
    await w.send(CLOSE_1000);
    await echoedClose(w, 1000);
  });
  test('7.1.2 close twice → one close echoed, the second ignored', async () => {
    const w = await open();
    await w.send(Buffer.concat([CLOSE_1000, CLOSE_1000]));
    await echoedClose(w, 1000);
  });
  test('7.1.3 close, then ping → no pong', async () => {
    const w = await open();
    await w.send(Buffer.concat([CLOSE_1000, PING]));
    await echoedClose(w, 1000);
    assert.ok(!w.frames.some((f) => f.opcode === 0xa));
  });
  test('7.1.4 close, then text → the text is not processed', async () => {
    const w = await open();
    await w.send(Buffer.concat([CLOSE_1000, CONNECT]));
    await echoedClose(w, 1000);
    assert.equal(w.json().length, 0);
  });
  test('7.1.5 first fragment of a text message, close, then the last fragment → close echoed, message not processed', async () => {
    const w = await open();
    await w.send(Buffer.concat([hex('01 8f 00000000 7b2274223a22636f6e6e656374222c'), CLOSE_1000, hex('80 88 00000000 226964223a317d20')]));
    await echoedClose(w, 1000);
    assert.equal(w.json().length, 0);
  });
  test('7.1.6 (informational) 256 KiB text, then text, close, ping: 256 KiB is over our maxMessageBytes (64 KiB) → 1009', async () => {
    const w = await open();
    await w.send(Buffer.concat([clientFrame(0x1, Buffer.alloc(256 * 1024, 0x2a)), CONNECT, CLOSE_1000, PING]));
    await w.expectFailed(1009);
  });
});

describe('Autobahn 7.3 close frame structure', { concurrency: 8 }, () => {
  test('7.3.1 close with an empty payload → close echoed without a code', async () => {
    const w = await open();
    await w.send(hex('88 80 00000000'));
    await echoedClose(w, undefined);
  });
  test('7.3.2 close with a 1-byte payload → 1002', async () => {
    const w = await open();
    await w.send(hex('88 81 00000000 03'));
    await w.expectFailed(1002);
  });
  test('7.3.3 close 1000 without a reason → 1000 echoed', async () => {
    const w = await open();
    await w.send(CLOSE_1000);
    await echoedClose(w, 1000);
  });
  test('7.3.4 close 1000 with reason "Hello World!" → 1000 echoed', async () => {
    const w = await open();
    await w.send(hex('88 8e 00000000 03e8 48656c6c6f20576f726c6421'));
    await echoedClose(w, 1000);
  });
  test('7.3.5 close 1000 with a 123-byte reason (125-byte payload, the most allowed) → 1000 echoed', async () => {
    const w = await open();
    await w.send(hex('88 fd 00000000 03e8' + '2a'.repeat(123)));
    await echoedClose(w, 1000);
  });
  test('7.3.6 close 1000 with a 124-byte reason (126-byte payload) → 1002', async () => {
    const w = await open();
    await w.send(hex('88 fe 007e 00000000 03e8' + '2a'.repeat(124)));
    await w.expectFailed(1002);
  });
});

describe('Autobahn 7.5 close reason', () => {
  test('7.5.1 close 1000 with a reason that is not UTF-8 (κόσμε ED A0 80 "edited") → 1007', async () => {
    const w = await open();
    await w.send(hex('88 96 00000000 03e8 cebae1bdb9cf83cebcceb5 eda080 656469746564'));
    await w.expectFailed(1007);
  });
});

describe('Autobahn 7.7 valid close codes are echoed', { concurrency: 8 }, () => {
  [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].forEach((code, i) => {
    test(`7.7.${i + 1} close ${code} → ${code} echoed`, async () => {
      const w = await open();
      await w.send(clientClose(code));
      await echoedClose(w, code);
    });
  });
});

describe('Autobahn 7.9 invalid close codes → 1002', { concurrency: 8 }, () => {
  [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999].forEach((code, i) => {
    test(`7.9.${i + 1} close ${code} → 1002`, async () => {
      const w = await open();
      await w.send(clientClose(code));
      await w.expectFailed(1002);
    });
  });
});

describe('Autobahn 7.13 close codes out of range (informational in Autobahn; we answer 1002)', { concurrency: 8 }, () => {
  [5000, 65535].forEach((code, i) => {
    test(`7.13.${i + 1} close ${code} → 1002`, async () => {
      const w = await open();
      await w.send(clientClose(code));
      await w.expectFailed(1002);
    });
  });
});
