import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, type WebSocket } from 'ws';
import type { DisconnectedEvent } from '../../src/client/index.ts';
import { makeClient, sleep, waitFor } from './client-helpers.ts';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

/**
 * A fake node that accepts `connect` (advertising ping 1 s, pong 0.5 s) and then, unless told to,
 * never sends anything again: the "silent server" (half-open TCP, a hung process).
 */
async function silentServer(opts: { pingEveryMs?: number } = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('switchboard.json') ? 'switchboard.json' : false) });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const connections: WebSocket[] = [];
  const pongs: number[] = [];
  const timers: NodeJS.Timeout[] = [];
  wss.on('connection', (ws) => {
    connections.push(ws);
    ws.on('message', (raw) => {
      for (const line of raw.toString().split('\n')) {
        const f = JSON.parse(line) as { t: string; id?: number };
        if (f.t === 'connect') ws.send(JSON.stringify({ t: 'ok', id: f.id, client: `c${connections.length}`, node: 'fake', user: '', ping: 1, pong: 0.5 }));
        if (f.t === 'pong') pongs.push(Date.now());
      }
    });
    if (opts.pingEveryMs) timers.push(setInterval(() => ws.send('{"t":"ping"}'), opts.pingEveryMs));
  });
  const port = (wss.address() as { port: number }).port;
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const t of timers) clearInterval(t);
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => r());
      }),
  );
  return { url: `ws://127.0.0.1:${port}/connection/websocket`, connections, pongs };
}

test('a silent server is detected after ping + pong seconds; the client closes and reconnects', async () => {
  const srv = await silentServer();
  const c = makeClient(srv.url, cleanup, { minDelay: 10, maxDelay: 50 });
  const disconnects: Array<DisconnectedEvent & { at: number }> = [];
  c.on('disconnected', (e) => disconnects.push({ ...e, at: Date.now() }));
  const start = Date.now();
  await c.connect();
  assert.equal(c.id, 'c1');
  await waitFor(() => srv.connections.length >= 2 && c.state === 'connected', 5000, 'reconnect');
  const d = disconnects[0]!;
  assert.equal(d.code, 1, 'local "no ping" code');
  assert.equal(d.reason, 'no ping from server');
  assert.equal(d.reconnect, true);
  const after = d.at - start;
  assert.ok(after >= 1400 && after < 2500, `detected after ${after} ms, expected ~1500 (ping 1 s + pong 0.5 s)`);
  assert.equal(c.id, 'c2');
  await waitFor(() => srv.connections[0]!.readyState === 3 /* CLOSED */, 2000, 'old socket closed by the client');
});

test('pings are answered with pong and keep the connection alive', async () => {
  const srv = await silentServer({ pingEveryMs: 400 });
  const c = makeClient(srv.url, cleanup);
  const disconnects: DisconnectedEvent[] = [];
  c.on('disconnected', (e) => disconnects.push(e));
  await c.connect();
  await sleep(2500);
  assert.deepEqual(disconnects, [], 'no reconnect while pings arrive');
  assert.equal(srv.connections.length, 1);
  assert.ok(srv.pongs.length >= 5, `answered ${srv.pongs.length} pings`);
});
