/**
 * RFC 6455 server duties beyond Autobahn's cases: the opening handshake's MUSTs (§4.2.1), and
 * bounded memory for the frames the server writes on its own — a client that pings and never
 * reads must meet the slow-consumer policy (maxQueueBytes), not grow the server's socket buffer.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { clientFrame, sleep, UPGRADE_REQUEST, Wire } from '../helpers/ws-wire.ts';

const MAX_QUEUE = 64 * 1024;
let node: SwitchboardNode;

before(async () => {
  node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, pingInterval: 600, maxQueueBytes: MAX_QUEUE });
});
after(() => node.close());

/** Sends a raw HTTP request and returns the status line of the answer. */
function statusOf(request: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(node.port, '127.0.0.1', () => s.write(request));
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(text.split('\r\n')[0] ?? ''));
    setTimeout(() => s.destroy(), 3000);
  });
}

describe('opening handshake MUSTs (RFC 6455 §4.2.1)', () => {
  test('HTTP/1.1 with Host → 101', async () => {
    assert.match(await new Promise<string>((resolve) => {
      const s = net.connect(node.port, '127.0.0.1', () => s.write(UPGRADE_REQUEST()));
      s.once('data', (d) => {
        resolve(d.toString().split('\r\n')[0]!);
        s.destroy();
      });
    }), / 101 /);
  });
  test('HTTP/1.0 → 400', async () => {
    assert.match(await statusOf(UPGRADE_REQUEST('x', '', 'HTTP/1.0')), /^HTTP\/1\.1 400 /);
  });
  test('no Host header → 400', async () => {
    assert.match(await statusOf(UPGRADE_REQUEST('')), /^HTTP\/1\.1 400 /);
  });
});

describe('frames the server writes on its own count against maxQueueBytes', () => {
  test('a client that sends pings with payload and never reads is disconnected as a slow consumer; the queue stays bounded', async () => {
    const w = await Wire.open(node.port);
    w.pause(); // never read: the kernel buffers fill, then the server's socket buffer would grow
    const session = [...node.sessions].at(-1)!;
    const slowBefore = node.stats.slowDisconnects;
    const ping = clientFrame(0x9, Buffer.alloc(125, 0x70));
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => ping));
    let maxQueued = 0;
    let sent = 0;
    // Up to 64 MiB of pings (≈ 500,000 pongs): far more than loopback's kernel buffers hold.
    while (sent < 64 * 1024 * 1024 && node.sessions.has(session)) {
      await new Promise<void>((r) => w.socket.write(batch, () => r()));
      sent += batch.length;
      maxQueued = Math.max(maxQueued, session.queuedBytes);
      await sleep(1);
    }
    assert.ok(!node.sessions.has(session), `still connected after ${sent} bytes of pings; server queue at ${session.queuedBytes} bytes`);
    assert.equal(node.stats.slowDisconnects, slowBefore + 1, 'closed by the slow-consumer policy');
    // One event-loop turn of pongs may be queued before the flush judges the budget.
    assert.ok(maxQueued <= MAX_QUEUE + 2 * batch.length, `queued at most ~maxQueueBytes (saw ${maxQueued})`);
    w.destroy();
  });
});
