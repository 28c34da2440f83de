/**
 * The plain `ws` baseline: the broadcast idiom from the ws README (send each message to every
 * other open client), plus a one-byte ack `k` to the sender so the publisher can keep the same
 * window of unacknowledged publishes as with the other systems. No pre-framing, no batching: this
 * is what a straightforward ws server does, not the best a ws server can do.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { serve } from './child.ts';

await serve('ws', async () => {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      for (const client of wss.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      }
      ws.send('k');
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => http.close(() => resolve()));
      }),
  };
});
