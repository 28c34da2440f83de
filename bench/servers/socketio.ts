/**
 * socket.io 4 as typically deployed: default options (no compression, 25 s pings), one room,
 * `io.to(room).emit()` per publish. A client joins with an acknowledged `sub` event so the load
 * generator knows when it is in the room; the publisher's `pub` event is acknowledged after the
 * broadcast has been handed to every socket.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { serve } from './child.ts';

await serve('socketio', async () => {
  const http = createServer();
  const io = new Server(http, { serveClient: false });
  io.on('connection', (socket) => {
    socket.on('sub', (room: unknown, ack?: () => void) => {
      if (typeof room === 'string') void socket.join(room);
      ack?.();
    });
    socket.on('pub', (data: unknown, ack?: () => void) => {
      io.to('bench').emit('m', data);
      ack?.();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
});
