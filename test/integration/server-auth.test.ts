import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { startNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

for (const alg of ['RS256', 'ES256'] as const) {
  test(`${alg} tokens verified with a configured public key; other algorithms refused`, async () => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const node = await startNode({ port: 0, host: '127.0.0.1', jwt: { publicKey: await exportSPKI(publicKey), audience: 'sb' }, defaultNamespace: { subscribe: 'authenticated' } });
    const good = await new SignJWT({ info: { name: 'Ada' } }).setProtectedHeader({ alg }).setSubject('ada').setAudience('sb').setExpirationTime('1h').sign(privateKey);
    const c = await RawClient.connect(node.wsUrl, { token: good });
    await c.request({ t: 'sub', ch: 'room' });
    assert.equal(c.frames[0]!.user, 'ada');
    c.close();
    const wrongAud = await new SignJWT({}).setProtectedHeader({ alg }).setSubject('ada').setAudience('other').sign(privateKey);
    const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setAudience('sb').sign(new TextEncoder().encode('guess'));
    for (const tok of [wrongAud, hs]) {
      const bad = await RawClient.open(node.wsUrl);
      assert.equal((await bad.request({ t: 'connect', token: tok })).code, 101);
      assert.equal((await bad.closed).code, 3500);
    }
    await node.close();
  });
}

test('token info claim is attached to presence and publications', async () => {
  const secret = 'info-secret-info-secret-info-secret';
  const node = await startNode({
    port: 0,
    host: '127.0.0.1',
    jwt: { secret },
    namespaces: { room: { subscribe: 'authenticated', publish: 'authenticated', presence: true } },
  });
  const tok = await new SignJWT({ info: { name: 'Grace' } }).setProtectedHeader({ alg: 'HS256' }).setSubject('g').sign(new TextEncoder().encode(secret));
  const c = await RawClient.connect(node.wsUrl, { token: tok });
  await c.request({ t: 'sub', ch: 'room:1' });
  await c.request({ t: 'pub', ch: 'room:1', data: 'hi' });
  const p = await c.waitFor((f) => f.t === 'pub');
  assert.deepEqual(p.info, { user: 'g', client: c.clientId, info: { name: 'Grace' } });
  const pres = await c.request({ t: 'presence', ch: 'room:1' });
  assert.deepEqual(pres.presence[c.clientId].info, { name: 'Grace' });
  c.close();
  await node.close();
});
