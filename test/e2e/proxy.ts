/**
 * An in-test HTTP proxy in front of a node that can break transports the way corporate proxies and
 * firewalls do:
 * - `websocket: 'refuse'` answers every `Upgrade` with 403; `'hang'` swallows it (never answers,
 *   the silently dropped upgrade that only a timeout detects);
 * - `sse: 'refuse'` answers `GET /connection/sse` with 403; `'hang'` buffers the stream (a
 *   buffering proxy: the response never reaches the client);
 * - `poll: 'refuse'` answers `/connection/poll` with 403.
 * Everything else is forwarded byte for byte (streaming both ways). Modes can change at run time.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export type Mode = 'pass' | 'refuse' | 'hang';

export interface ProxyModes {
  websocket: Mode;
  sse: Mode;
  poll: Mode;
}

export interface BlockingProxy {
  readonly port: number;
  readonly url: string;
  modes: ProxyModes;
  /** Counts of requests seen per transport (upgrades, SSE GETs, poll GETs). */
  readonly seen: { websocket: number; sse: number; poll: number };
  /** Cuts every open connection (as a network drop would). */
  dropAll(): void;
  close(): Promise<void>;
}

/** Starts a proxy to `target` (`http://127.0.0.1:PORT`). */
export async function startProxy(target: string, modes: Partial<ProxyModes> = {}): Promise<BlockingProxy> {
  const t = new URL(target);
  const sockets = new Set<Duplex>();
  const state: ProxyModes = { websocket: 'pass', sse: 'pass', poll: 'pass', ...modes };
  const seen = { websocket: 0, sse: 0, poll: 0 };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const kind = path === '/connection/sse' ? 'sse' : path === '/connection/poll' ? 'poll' : undefined;
    if (kind && req.method === 'GET') seen[kind]++;
    const mode = kind ? state[kind] : 'pass';
    if (mode === 'refuse') {
      req.resume();
      res.writeHead(403, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.end('blocked by test proxy');
      return;
    }
    const up = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      if (mode === 'hang' && req.method === 'GET') {
        upRes.resume(); // a buffering proxy: nothing reaches the client
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    seen.websocket++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (state.websocket === 'refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\nblocked by test proxy');
      return;
    }
    if (state.websocket === 'hang') return; // never answer
    const up = connect(Number(t.port), t.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    sockets.add(up);
    up.on('close', () => {
      sockets.delete(up);
      socket.destroy();
    });
    up.on('error', () => socket.destroy());
    socket.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get modes() {
      return state;
    },
    set modes(m: ProxyModes) {
      Object.assign(state, m);
    },
    seen,
    dropAll() {
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
