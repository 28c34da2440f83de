/**
 * Lookups keyed by client input find only their own entries (issue 11 E4): a namespace, an API
 * method or a WebSocket subprotocol named after an Object.prototype member (`constructor`,
 * `__proto__`, `toString`, `valueOf`) is unknown, answered like any other unknown name.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const KEY = 'proto-keys-api-key';
const NAMES = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty'];

describe('prototype member names are unknown names', () => {
  let node: SwitchboardNode;
  before(async () => {
    node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, apiKey: KEY, defaultNamespace: { subscribe: 'anonymous', historyRead: 'anonymous', historySize: 5, presence: true, presenceRead: 'anonymous' } });
  });
  after(async () => {
    await node.close();
  });

  test('namespaces `constructor:x`, `__proto__:x`, `toString:x` … answer 102 for every command and the API', async () => {
    const c = await RawClient.connect(node.wsUrl);
    for (const ns of NAMES) {
      const ch = `${ns}:x`;
      for (const frame of [{ t: 'sub', ch }, { t: 'pub', ch, data: 1 }, { t: 'history', ch }, { t: 'presence', ch }, { t: 'presence_stats', ch }, { t: 'signal', ch, to: 'x', data: { type: 'bye' } }]) {
        const reply = await c.request(frame);
        assert.equal(reply.code, 102, `${frame.t} ${ch}: ${JSON.stringify(reply)}`);
      }
      const res = await fetch(`${node.httpUrl}/api/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `apikey ${KEY}` }, body: JSON.stringify({ channel: ch, data: 1 }) });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { error: { code: number } }).error.code, 102);
    }
    assert.equal(c.closeCode, 0, 'the connection stays open');
    c.close();
  });

  test('/api/valueOf, /api/__proto__, /api/constructor … answer 404 unknown method, not 500', async () => {
    for (const m of [...NAMES, '__defineGetter__', 'isPrototypeOf']) {
      const res = await fetch(`${node.httpUrl}/api/${m}`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `apikey ${KEY}` }, body: '{}' });
      const body = (await res.json()) as { error: { code: number; message: string } };
      assert.equal(res.status, 404, `${m}: ${JSON.stringify(body)}`);
      assert.match(body.error.message, /unknown API method/);
    }
    const ok = await fetch(`${node.httpUrl}/api/info`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `apikey ${KEY}` }, body: '{}' });
    assert.equal(ok.status, 200, 'real methods still work');
  });

  test('subprotocols `__proto__`, `toString`, `constructor` are refused like any unknown one', async () => {
    for (const p of ['__proto__', 'toString', 'constructor', 'valueOf']) {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(node.wsUrl, p);
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('open', () => {
          ws.close();
          reject(new Error(`subprotocol ${p} was accepted`));
        });
        ws.once('error', () => {});
      });
      assert.equal(status, 400, p);
    }
    const good = await RawClient.connect(node.wsUrl);
    good.close();
  });
});
