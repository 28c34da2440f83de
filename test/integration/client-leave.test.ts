/** The SDK ends SSE and polling sessions explicitly on disconnect(): presence goes at once, not after the absence timeout. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../../src/client/index.ts';
import { startNode } from '../../src/app/index.ts';
import { freshMemory } from '../e2e/memory.ts';
import { waitFor } from './client-helpers.ts';

for (const transport of ['sse', 'poll'] as const) {
  test(`${transport}: disconnect() removes the session and its presence at once`, async () => {
    // An absence timeout far longer than the test: only an explicit leave can clear presence in time.
    const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, httpTransports: { absenceTimeout: 60 } });
    const c = new Client(node.wsUrl, { transports: [transport], transportMemory: freshMemory(), upgrade: false });
    const sub = c.subscribe('room', {});
    void c.connect();
    await waitFor(() => sub.state === 'subscribed', 5000, 'subscribed');
    assert.equal(Object.keys(await node.broker.presence('room')).length, 1);
    c.disconnect();
    await waitFor(() => node.connectionCount === 0, 3000, 'session closed on the server');
    assert.equal(Object.keys(await node.broker.presence('room')).length, 0);
    c.close();
    await node.close();
  });
}
