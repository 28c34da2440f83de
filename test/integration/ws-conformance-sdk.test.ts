/**
 * The SDK's side of the RFC 6455 close codes: a WebSocket-level close (1002, 1007, 1009) arrives
 * with no `disconnect` message before it, and the SDK treats it as it treats 3501/3504 — terminal,
 * no reconnect — because sending the same thing again would fail the same way.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { shouldReconnect } from '../../src/protocol/codes.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { makeClient, waitFor } from './client-helpers.ts';

const cleanup: Array<() => unknown> = [];
let node: SwitchboardNode | undefined;
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await node?.close();
});

test('close codes: 1002/1007/1009 are terminal like 3501/3504; other transport closes reconnect', () => {
  for (const code of [1002, 1007, 1009, 3501, 3504]) assert.equal(shouldReconnect(code), false, `${code}`);
  for (const code of [1000, 1001, 1006, 1011, 1012, 1013, 3000, 3004]) assert.equal(shouldReconnect(code), true, `${code}`);
});

test('SDK: the server closes with 1009 (message over its maxMessageBytes) → disconnected, reconnect false, no new connection', async () => {
  node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, maxMessageBytes: 4096 });
  // The client believes the limit is larger, so the message goes out and the server refuses it.
  const c = makeClient(node.wsUrl, cleanup, { maxMessageBytes: 1 << 20 });
  const events: Array<{ code: number; reconnect: boolean }> = [];
  c.on('disconnected', (e) => events.push({ code: e.code, reconnect: e.reconnect }));
  await c.connect();
  const attempt = c.publish('big', 'x'.repeat(10_000));
  attempt.catch(() => {});
  await waitFor(() => events.length > 0, 5000, 'disconnected');
  assert.deepEqual(events[0], { code: 1009, reconnect: false });
  assert.equal(c.state, 'disconnected');
  await new Promise((r) => setTimeout(r, 400)); // well past the client's maxDelay of 200 ms
  assert.equal(node.sessions.size, 0, 'the client did not reconnect');
  assert.equal(events.length, 1);
});
