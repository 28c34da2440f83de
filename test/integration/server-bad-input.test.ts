/**
 * Hostile input on the WebSocket entry point: each answered with its documented code, and the
 * server keeps serving a bystander connection throughout.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const SECRET = 'test-secret-test-secret-test-secret';

async function token(claims: Record<string, unknown>, opts: { exp?: number; alg?: string; secret?: string } = {}): Promise<string> {
  const j = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'HS256' }).setIssuedAt();
  if (claims.sub !== undefined) j.setSubject(String(claims.sub));
  if (opts.exp !== undefined) j.setExpirationTime(opts.exp);
  return j.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

describe('bad input on the WebSocket entry point', () => {
  let node: SwitchboardNode;
  let bystander: RawClient;

  before(async () => {
    node = await startNode({
      port: 0,
      host: '127.0.0.1',
      jwt: { secret: SECRET },
      allowedOrigins: ['https://good.example'],
      defaultNamespace: { subscribe: 'authenticated', publish: 'authenticated' },
      maxMessageBytes: 4096,
      rateLimit: 50,
      rateBurst: 20,
      connectTimeout: 1,
      handshakeTimeout: 2,
    });
    bystander = await RawClient.connect(node.wsUrl, { token: await token({ sub: 'bystander' }) });
    await bystander.request({ t: 'sub', ch: 'watch' });
  });

  after(async () => {
    // The bystander saw every publication and was never disconnected.
    assert.equal(bystander.closeCode, 0);
    bystander.close();
    await node.close();
  });

  /** After each case: the bystander still gets publications and answers. */
  async function bystanderAlive(): Promise<void> {
    const before = bystander.pubs('watch').length;
    await node.publish('watch', 'still here');
    await bystander.waitCount((f) => f.t === 'pub' && f.ch === 'watch', before + 1);
  }

  async function authed(): Promise<RawClient> {
    return RawClient.connect(node.wsUrl, { token: await token({ sub: 'u1' }) });
  }

  async function expectClose(c: RawClient, code: number): Promise<void> {
    const { code: got } = await c.closed;
    assert.equal(got, code);
    const d = c.frames.find((f) => f.t === 'disconnect');
    assert.ok(d, 'a disconnect frame precedes the close');
    assert.equal(d.code, code);
    assert.equal(d.reconnect, code < 3500);
    await bystanderAlive();
  }

  test('malformed JSON → 3501', async () => {
    const c = await authed();
    c.sendRaw('{"t":"pub",');
    await expectClose(c, 3501);
  });

  test('malformed MessagePack → 3501', async () => {
    const c = await RawClient.open(node.wsUrl, { format: 'msgpack' });
    c.sendRaw(Buffer.from([0x85, 0xa1, 0x74]));
    await expectClose(c, 3501);
  });

  test('frame that is not an object, or a known frame with a wrong field type → 3501', async () => {
    for (const bad of ['[1,2,3]', '"str"', '{"t":"sub","id":1,"ch":42}', '{"t":"sub","id":-1,"ch":"x"}', '{"t":"pub","id":1,"ch":"x"}', '{"id":1}']) {
      const c = await authed();
      c.sendRaw(bad);
      await expectClose(c, 3501);
    }
  });

  test('deeply nested data → 3501', async () => {
    const c = await authed();
    c.sendRaw(`{"t":"pub","id":5,"ch":"watch","data":${'['.repeat(100)}${']'.repeat(100)}}`);
    await expectClose(c, 3501);
  });

  test('invalid UTF-8 in a text message → 1007 (RFC 6455 close, no disconnect message)', async () => {
    const c = await authed();
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    assert.equal((await c.closed).code, 1007);
    assert.ok(!c.frames.some((f) => f.t === 'disconnect'));
    await bystanderAlive();
  });

  test('oversize message → 1009 (refused from the header, before buffering; no disconnect message)', async () => {
    const c = await authed();
    c.sendRaw(JSON.stringify({ t: 'pub', id: 9, ch: 'watch', data: 'x'.repeat(10_000) }));
    assert.equal((await c.closed).code, 1009);
    assert.ok(!c.frames.some((f) => f.t === 'disconnect'));
    await bystanderAlive();
  });

  test('first frame not connect → 3501; no connect at all → 3502 stale', async () => {
    const c = await RawClient.open(node.wsUrl);
    c.send({ t: 'sub', id: 1, ch: 'watch' });
    await expectClose(c, 3501);
    const idle = await RawClient.open(node.wsUrl);
    await expectClose(idle, 3502);
  });

  test('unknown frame type with an id → error 104, connection kept', async () => {
    const c = await authed();
    const r = await c.request({ t: 'teleport' });
    assert.equal(r.code, 104);
    assert.equal((await c.request({ t: 'sub', ch: 'x' })).t, 'ok');
    c.close();
  });

  test('bad channel name → 112, connection kept', async () => {
    const c = await authed();
    for (const ch of ['', 'sp ace', 'semi;colon', 'x'.repeat(256), 'ünïcode']) {
      const r = await c.request({ t: 'sub', ch });
      assert.equal(r.code, 112, ch);
    }
    c.close();
  });

  test('flood past the rate limit → 111 for refused commands, then 3007 with a delay', async () => {
    const c = await authed();
    // 60 frames in one message (under the 4 KiB message limit); the bucket holds 20.
    const frames = Array.from({ length: 60 }, (_, i) => ({ t: 'pub', id: 100 + i, ch: 'flood', data: i }));
    c.send(frames);
    const errs = await c.waitCount((f) => f.t === 'err' && f.code === 111, 30);
    assert.ok(errs.length >= 30 && errs.length <= 41, `refused ${errs.length}`);
    assert.equal(errs[0]!.temporary, true);
    // Keep flooding far past 10 × burst: the server gives up on us.
    await c.floodUntilClosed((i) => Array.from({ length: 60 }, (_, j) => ({ t: 'pub', id: 1000 + i * 100 + j, ch: 'flood', data: j })));
    await expectClose(c, 3007);
    const d = c.frames.find((f) => f.t === 'disconnect')!;
    assert.ok(d.delay >= 1000, 'advises a reconnect delay');
  });

  test('bad, expired, wrong-key and alg:none tokens', async () => {
    const cases: Array<[string, number, number]> = [
      ['not.a.jwt', 101, 3500],
      [await token({ sub: 'u' }, { secret: 'another-secret-another-secret-xx' }), 101, 3500],
      [await token({ sub: 'u' }, { exp: Math.floor(Date.now() / 1000) - 10 }), 109, 3003],
      [await token({}), 101, 3500],
    ];
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url');
    cases.push([`${header}.${payload}.`, 101, 3500]);
    for (const [tok, errCode, closeCode] of cases) {
      const c = await RawClient.open(node.wsUrl);
      const r = await c.request({ t: 'connect', token: tok });
      assert.equal(r.t, 'err');
      assert.equal(r.code, errCode, tok);
      await expectClose(c, closeCode);
    }
    const anon = await RawClient.open(node.wsUrl);
    assert.equal((await anon.request({ t: 'connect' })).code, 101, 'anonymous is off here');
    await expectClose(anon, 3500);
  });

  test('wrong Origin → HTTP 403; allowed Origin and no Origin connect', async () => {
    await assert.rejects(RawClient.open(node.wsUrl, { headers: { Origin: 'https://evil.example' } }), /HTTP 403/);
    (await RawClient.open(node.wsUrl, { headers: { Origin: 'https://good.example' } })).close();
    await bystanderAlive();
  });

  test('unknown subprotocol → HTTP 400; bad upgrade requests get HTTP errors', async () => {
    await assert.rejects(RawClient.open(node.wsUrl, { protocol: 'mqtt' }), /HTTP 400/);
    const raw = async (req: string) =>
      new Promise<string>((resolve) => {
        const s = net.connect(node.port, '127.0.0.1', () => s.write(req));
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('close', () => resolve(out));
        s.on('error', () => resolve(out));
      });
    const base = 'GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
    assert.match(await raw(base + 'Sec-WebSocket-Version: 13\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await raw(base + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n'), /^HTTP\/1.1 426/);
    assert.match(await raw('GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'), /^HTTP\/1.1 404/);
    await bystanderAlive();
  });

  test('WebSocket protocol violations: unmasked frame, reserved opcode, bad close code', async () => {
    const handshake = 'GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    for (const frame of [Buffer.from([0x81, 0x02, 0x7b, 0x7d]), Buffer.from([0x83, 0x80, 1, 2, 3, 4]), Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7])]) {
      const closeCode = await new Promise<number>((resolve) => {
        const s = net.connect(node.port, '127.0.0.1', () => s.write(handshake));
        let buf = Buffer.alloc(0);
        let sent = false;
        s.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          const end = buf.indexOf('\r\n\r\n');
          if (!sent && end !== -1) {
            sent = true;
            buf = buf.subarray(end + 4);
            s.write(frame);
          }
        });
        s.on('close', () => {
          // Last frame before the close is a close frame: 0x88, len, code
          const i = buf.lastIndexOf(0x88);
          resolve(i >= 0 && buf.length >= i + 4 ? buf.readUInt16BE(i + 2) : -1);
        });
      });
      // An unmasked frame, reserved opcode 3, close code 999: each a WebSocket-level violation → 1002 (RFC 6455)
      assert.equal(closeCode, 1002, `close code ${closeCode}`);
    }
    await bystanderAlive();
  });

  test('permissions: anonymous cannot subscribe here; user-limited channels', async () => {
    const c = await authed();
    assert.equal((await c.request({ t: 'sub', ch: 'inbox:#u1' })).code, 102);
    assert.equal((await c.request({ t: 'sub', ch: 'box#u1' })).t, 'ok');
    assert.equal((await c.request({ t: 'sub', ch: 'box#u2,u3' })).code, 103);
    c.close();
  });

  test('half-open clients: a TCP connection that never completes the upgrade is closed by the server', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(node.port, '127.0.0.1', () => s.write('GET /connection/websocket HTTP/1.1\r\nHost: x\r\n'));
      s.on('close', () => resolve(true));
      s.on('error', () => {});
      setTimeout(() => {
        resolve(false);
        s.destroy();
      }, 6000).unref();
    });
    assert.ok(closed, 'handshakeTimeout closes slowloris upgrades');
  });
});

test('too many connections from one address → HTTP 429; maxConnections → HTTP 503', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, maxConnectionsPerIp: 3, maxConnections: 5 });
  const ok = await Promise.all([1, 2, 3].map(() => RawClient.connect(node.wsUrl)));
  await assert.rejects(RawClient.open(node.wsUrl), /HTTP 429/);
  ok[0]!.close();
  await ok[0]!.closed;
  await new Promise((r) => setTimeout(r, 50));
  const again = await RawClient.connect(node.wsUrl);
  assert.equal(again.closeCode, 0, 'a slot freed by a close is usable again');
  for (const c of [...ok, again]) c.close();
  await node.close();
  const full = await startNode({ port: 0, host: '127.0.0.1', insecure: true, maxConnections: 2 });
  const two = await Promise.all([1, 2].map(() => RawClient.connect(full.wsUrl)));
  await assert.rejects(RawClient.open(full.wsUrl), /HTTP 503/);
  for (const c of two) c.close();
  await full.close();
});

test('maxPendingPerIp bounds raw connections that never send a request', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, maxPendingPerIp: 5, handshakeTimeout: 30 });
  const open = (): Promise<{ sock: net.Socket; closedEarly: boolean }> =>
    new Promise((resolve) => {
      const sock = net.connect(node.port, '127.0.0.1');
      sock.on('error', () => {});
      let settled = false;
      sock.once('close', () => {
        if (!settled) resolve({ sock, closedEarly: true });
        settled = true;
      });
      sock.once('connect', () =>
        setTimeout(() => {
          if (!settled) resolve({ sock, closedEarly: false });
          settled = true;
        }, 150),
      );
    });
  const idle = [];
  for (let i = 0; i < 8; i++) idle.push(await open());
  assert.deepEqual(idle.map((c) => c.closedEarly), [false, false, false, false, false, true, true, true]);
  await assert.rejects(RawClient.open(node.wsUrl), /socket hang up|ECONNRESET|closed|HTTP/);
  for (const c of idle) c.sock.destroy();
  await new Promise((r) => setTimeout(r, 100));
  const ok = await RawClient.connect(node.wsUrl);
  assert.equal(ok.closeCode, 0, 'slots come back when the idle sockets close');
  ok.close();
  await node.close();
});

test('a node refuses to start with neither a JWT key nor anonymous access', async () => {
  await assert.rejects(startNode({ port: 0, host: '127.0.0.1' }), (err: Error) => err.name === 'ConfigError' && /no JWT key configured/.test(err.message));
});

test('WebSocket library interop: ws client ping gets a pong; close handshake echoes', async () => {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true });
  const ws = new WebSocket(node.wsUrl, 'switchboard.json');
  await new Promise((r) => ws.once('open', r));
  const pong = new Promise((r) => ws.once('pong', r));
  ws.ping(Buffer.from('abc'));
  assert.equal(String(await pong), 'abc');
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  ws.close(1000);
  assert.equal(await closed, 1000);
  await node.close();
});
