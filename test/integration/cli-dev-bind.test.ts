// Issue 11 E1: `switchboard start --dev` (what `npm start` runs) listens on 127.0.0.1 for HTTP and
// STUN/TURN unless a host is given, says so, and allows TURN loopback peers only when bound to
// loopback. Before, dev mode listened on 0.0.0.0 with anonymous access, an open API and a TURN
// relay to loopback peers, all reachable from the LAN. The CLI runs in a child process; the
// probes go to this machine's own non-loopback interface addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Non-loopback, non-link-local interface addresses of this machine. */
function interfaceAddresses(family?: 'IPv4' | 'IPv6'): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (!i.internal && !i.address.startsWith('fe80:') && (!family || i.family === family)) out.push(i.address);
  }
  return out;
}

async function startDev(args: string[]): Promise<{ child: ChildProcess; out: () => string; port: number; turnPort: number }> {
  const [port, turnPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), SWITCHBOARD_TURN_PORT: String(turnPort) };
  for (const k of ['SWITCHBOARD_HOST', 'SWITCHBOARD_TURN_LISTEN', 'SWITCHBOARD_TURN_ALLOW_LOOPBACK', 'SWITCHBOARD_CONFIG']) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--dev', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const end = Date.now() + 20_000;
  while (!/STUN\/TURN listening/.test(out) || !/listening on http/.test(out)) {
    if (Date.now() > end || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`no start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, out: () => out, port, turnPort };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

function tcpProbe(host: string, port: number): Promise<'open' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, 1500);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve('open');
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve('refused');
    });
  });
}

/** Sends a STUN Binding request; true when a Binding success comes back. */
function stunProbe(host: string, port: number, ms = 700): Promise<boolean> {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0);
  req.writeUInt32BE(0x2112a442, 4);
  for (let i = 8; i < 20; i++) req[i] = i;
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(t);
      sock.close();
      resolve(v);
    };
    const t = setTimeout(() => done(false), ms);
    sock.on('error', () => done(false));
    sock.once('message', (m) => done(m.readUInt16BE(0) === 0x0101));
    sock.send(req, port, host);
  });
}

test('dev mode without --host: HTTP and TURN on 127.0.0.1 only, printed; not reachable on interface addresses', { timeout: 60_000 }, async () => {
  const { child, out, port, turnPort } = await startDev([]);
  try {
    assert.match(out(), /dev mode: HTTP on 127\.0\.0\.1 and STUN\/TURN on 127\.0\.0\.1 \(loopback only/);
    assert.match(out(), new RegExp(`STUN/TURN listening on udp/127\\.0\\.0\\.1:${turnPort}, tcp/127\\.0\\.0\\.1:${turnPort} \\(realm \\S+, loopback peers allowed\\)`));
    assert.match(out(), /"host":"127\.0\.0\.1"/, 'the effective configuration shows the host');
    // Reachable on loopback (the probes work) ...
    assert.equal(await tcpProbe('127.0.0.1', port), 'open');
    assert.equal(await tcpProbe('127.0.0.1', turnPort), 'open');
    assert.equal(await stunProbe('127.0.0.1', turnPort), true);
    // ... and on no other address of this machine.
    const others = interfaceAddresses();
    for (const addr of others) {
      assert.equal(await tcpProbe(addr, port), 'refused', `HTTP on ${addr}`);
      assert.equal(await tcpProbe(addr, turnPort), 'refused', `TURN/TCP on ${addr}`);
      assert.equal(await stunProbe(addr, turnPort), false, `STUN/UDP on ${addr}`);
    }
    if (others.length === 0) console.log('# no non-loopback interface: checked the printed bound addresses only');
  } finally {
    await stop(child);
  }
});

test('dev mode with --host 0.0.0.0: reachable on interface addresses, says so, and TURN loopback peers are off', { timeout: 60_000 }, async () => {
  const { child, out, port, turnPort } = await startDev(['--host', '0.0.0.0']);
  try {
    assert.match(out(), /dev mode: HTTP on 0\.0\.0\.0 and STUN\/TURN on 0\.0\.0\.0: anonymous clients from the network can connect; TURN loopback peers off/);
    assert.match(out(), new RegExp(`STUN/TURN listening on udp/0\\.0\\.0\\.0:${turnPort}, tcp/0\\.0\\.0\\.0:${turnPort} \\(realm \\S+\\)`));
    for (const addr of interfaceAddresses('IPv4')) {
      assert.equal(await tcpProbe(addr, port), 'open', `HTTP on ${addr}`);
      assert.equal(await stunProbe(addr, turnPort), true, `STUN/UDP on ${addr}`);
    }
  } finally {
    await stop(child);
  }
});
