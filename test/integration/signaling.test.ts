/** WebRTC signaling rooms and ICE server config handed to clients. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { createServer } from 'node:net';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { anonymousTurnUser, restPassword } from '../../src/server/turn-credentials.ts';
import { RawClient } from '../helpers/raw-client.ts';

const SDP = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n';
const CANDIDATE = 'candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0';
const room = { subscribe: 'anonymous', publish: 'anonymous', presence: true, presenceRead: 'anonymous', signaling: true } as const;

describe('signaling rooms across two nodes', () => {
  let broker: MemoryBroker;
  let a: SwitchboardNode;
  let b: SwitchboardNode;
  before(async () => {
    broker = new MemoryBroker();
    const common = { port: 0, host: '127.0.0.1', insecure: true, namespaces: { call: room, chat: { subscribe: 'anonymous' as const } }, ice: { urls: ['stun:127.0.0.1:3478', 'turn:127.0.0.1:3478?transport=udp'], secret: 's3cret', ttl: 600 } };
    a = await startNode({ ...common, name: 'a', broker });
    b = await startNode({ ...common, name: 'b', broker: broker.peer() });
  });
  after(async () => {
    await a.close();
    await b.close();
    await broker.close();
  });

  test('offer, answer and candidates reach only the addressed member, on another node too', async () => {
    const alice = await RawClient.connect(a.wsUrl);
    const bob = await RawClient.connect(b.wsUrl);
    const carol = await RawClient.connect(b.wsUrl);
    for (const c of [alice, bob, carol]) await c.request({ t: 'sub', ch: 'call:r1' });
    const ok = await alice.request({ t: 'signal', ch: 'call:r1', to: bob.clientId, data: { type: 'offer', sdp: SDP, junk: 1 } });
    assert.equal(ok.t, 'ok');
    const got = await bob.waitFor((f) => f.t === 'signal');
    assert.deepEqual(got, { t: 'signal', ch: 'call:r1', from: { user: '', client: alice.clientId }, data: { type: 'offer', sdp: SDP } });
    await bob.request({ t: 'signal', ch: 'call:r1', to: alice.clientId, data: { type: 'answer', sdp: SDP } });
    await bob.request({ t: 'signal', ch: 'call:r1', to: alice.clientId, data: { type: 'candidate', candidate: { candidate: CANDIDATE, sdpMid: '0', sdpMLineIndex: 0 } } });
    await bob.request({ t: 'signal', ch: 'call:r1', to: alice.clientId, data: { type: 'candidate', candidate: null } });
    const toAlice = await alice.waitCount((f) => f.t === 'signal', 3);
    assert.deepEqual(toAlice.map((f) => f.data.type), ['answer', 'candidate', 'candidate']);
    assert.equal(toAlice[2]!.data.candidate, null);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(carol.frames.filter((f) => f.t === 'signal').length, 0, 'a third member gets nothing addressed to others');
    for (const c of [alice, bob, carol]) c.close();
  });

  test('non-members, wrong namespaces and hostile payloads are refused; a target outside the room gets nothing', async () => {
    const alice = await RawClient.connect(a.wsUrl);
    const outsider = await RawClient.connect(b.wsUrl);
    await alice.request({ t: 'sub', ch: 'call:r2' });
    await outsider.request({ t: 'sub', ch: 'call:other' });
    const code = async (c: RawClient, frame: Record<string, unknown>) => (await c.request({ t: 'signal', ...frame })).code;
    assert.equal(await code(outsider, { ch: 'call:r2', to: alice.clientId, data: { type: 'bye' } }), 103, 'not a member');
    await alice.request({ t: 'sub', ch: 'chat:x' });
    assert.equal(await code(alice, { ch: 'chat:x', to: outsider.clientId, data: { type: 'bye' } }), 108, 'not a signaling namespace');
    assert.equal(await code(alice, { ch: 'call:r2', to: alice.clientId, data: { type: 'bye' } }), 107, 'self');
    const hostile: unknown[] = [
      'string',
      { type: 'offer' },
      { type: 'offer', sdp: 'x=1' },
      { type: 'offer', sdp: 'v=0\r\n<script>' },
      { type: 'offer', sdp: 'v=0\r\n' + 'a=x\r\n'.repeat(5000) },
      { type: 'candidate', candidate: { candidate: 'rm -rf /' } },
      { type: 'candidate', candidate: { candidate: CANDIDATE, sdpMLineIndex: -1 } },
      { type: 'candidate', candidate: 'x' },
      { type: 'teleport' },
    ];
    for (const data of hostile) assert.equal(await code(alice, { ch: 'call:r2', to: outsider.clientId, data }), 107, JSON.stringify(data).slice(0, 60));
    // A well-formed signal to someone who is not in the room is accepted for relay but not delivered.
    assert.equal((await alice.request({ t: 'signal', ch: 'call:r2', to: outsider.clientId, data: { type: 'bye' } })).t, 'ok');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(outsider.frames.filter((f) => f.t === 'signal').length, 0);
    alice.close();
    outsider.close();
  });

  test('connect reply carries iceServers with coturn-compatible time-limited TURN credentials', async () => {
    const c = await RawClient.connect(a.wsUrl);
    const reply = c.frames.find((f) => f.t === 'ok' && f.client)!;
    const [stun, turn] = reply.iceServers;
    assert.deepEqual(stun, { urls: ['stun:127.0.0.1:3478'] });
    assert.deepEqual(turn.urls, ['turn:127.0.0.1:3478?transport=udp']);
    const [expiry, user] = turn.username.split(':');
    // Anonymous: one TURN identity per remote address, not per connection (issue 11 D1).
    assert.equal(user, anonymousTurnUser('s3cret', '127.0.0.1'));
    assert.ok(Number(expiry) > Date.now() / 1000 + 590 && Number(expiry) <= Date.now() / 1000 + 601);
    assert.equal(turn.credential, restPassword('s3cret', turn.username));
    c.close();
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

test('switchboard start --dev runs STUN/TURN beside the node and hands clients ICE servers for it', async () => {
  const [port, turnPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--dev', '--host', '127.0.0.1'], {
    env: { ...process.env, PORT: String(port), SWITCHBOARD_TURN_PORT: String(turnPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    const end = Date.now() + 20_000;
    while (!/STUN\/TURN listening/.test(out) || !/listening on http/.test(out)) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`no start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Dev mode: TURN listens beside HTTP, on the given host (issue 11 E1).
    assert.match(out, new RegExp(`udp/127\\.0\\.0\\.1:${turnPort}`));
    const c = await RawClient.connect(`ws://127.0.0.1:${port}/connection/websocket`);
    const reply = c.frames.find((f) => f.t === 'ok' && f.client)!;
    assert.ok(reply.iceServers[0].urls.includes(`stun:127.0.0.1:${turnPort}`));
    assert.ok(reply.iceServers[1].urls.includes(`turn:127.0.0.1:${turnPort}?transport=udp`));
    c.close();
    // A real STUN Binding request to the advertised port gets a success response (RFC 8489 §6.3).
    const sock = dgram.createSocket('udp4');
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0);
    req.writeUInt32BE(0x2112a442, 4);
    for (let i = 8; i < 20; i++) req[i] = i;
    const res = await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no STUN answer')), 3000);
      sock.once('message', (m) => {
        clearTimeout(t);
        resolve(m);
      });
      sock.send(req, turnPort, '127.0.0.1');
    });
    sock.close();
    assert.equal(res.readUInt16BE(0), 0x0101, 'Binding success response');
    assert.ok(res.subarray(8, 20).equals(req.subarray(8, 20)), 'same transaction id');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
