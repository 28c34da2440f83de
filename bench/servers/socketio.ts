/**
 * socket.io 4 as typically deployed: default options (no compression, 25 s pings), one room,
 * `io.to(room).emit()` per publish. A client joins with an acknowledged `sub` event so the load
 * generator knows when it is in the room; the publisher's `pub` event is acknowledged after the
 * broadcast has been handed to every socket.
 *
 * With `BENCH_REDIS_URL` set (the crossnode scenario) it uses `@socket.io/redis-adapter` as its
 * README shows for ioredis (a pub client and a duplicate for subscribing, default options): every
 * broadcast is also PUBLISHed, and every server PSUBSCRIBEs to the namespace's channels.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { serve } from './child.ts';

const redisUrl = process.env.BENCH_REDIS_URL;

await serve('socketio', async () => {
  const http = createServer();
  const pubClient = redisUrl ? new Redis(redisUrl) : undefined;
  const subClient = pubClient?.duplicate();
  const io = new Server(http, { serveClient: false, ...(pubClient && subClient ? { adapter: createAdapter(pubClient, subClient) } : {}) });
  // The adapter subscribes in the background; a PING on the same connection answers after the
  // PSUBSCRIBE, so once it has, broadcasts from the other server reach this one.
  await subClient?.ping();
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
    close: async () => {
      await new Promise<void>((resolve) => io.close(() => resolve()));
      pubClient?.disconnect();
      subClient?.disconnect();
    },
  };
});
