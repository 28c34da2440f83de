/**
 * WebSocketTransport.write over real loopback sockets: a batch of chunks is concatenated once and
 * the buffer is reused for the next transport given the same chunks (a fan-out), never for a batch
 * that differs anywhere, even in the middle with the same count and size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { WebSocketTransport } from '../../src/transports/websocket/transport.ts';
import { wsJson } from '../../src/transports/websocket/format.ts';

async function pair(): Promise<{ server: Socket; client: Socket; close(): void }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  const [server] = await accepted;
  return {
    server,
    client,
    close: () => {
      client.destroy();
      server.destroy();
      srv.close();
    },
  };
}

function collect(s: Socket, bytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  return new Promise((resolve) => {
    s.on('data', (d: Buffer) => {
      parts.push(d);
      n += d.length;
      if (n >= bytes) resolve(Buffer.concat(parts));
    });
  });
}

test('same chunks share one joined buffer; a batch differing in the middle gets its own bytes', async () => {
  const pairs = await Promise.all([pair(), pair(), pair(), pair()]);
  try {
    const a = Buffer.from('first-');
    const b = Buffer.from('middle');
    const x = Buffer.from('MIDDLE'); // same length as b: same count and total
    const c = Buffer.from('-last');
    const batches = [[a, b, c], [a, b, c], [a, x, c], [a, b, c]];
    const got = pairs.map((p, i) => collect(p.client, batches[i]!.reduce((s, ch) => s + ch.length, 0)));
    pairs.forEach((p, i) => new WebSocketTransport(p.server, wsJson, 1024).write(batches[i]!));
    const out = (await Promise.all(got)).map((buf) => buf.toString());
    assert.deepEqual(out, ['first-middle-last', 'first-middle-last', 'first-MIDDLE-last', 'first-middle-last']);
  } finally {
    for (const p of pairs) p.close();
  }
});
