// Interop with coturn's own clients (Debian package "coturn") against our in-process server:
// turnutils_stunclient for Binding, turnutils_uclient for TURN over UDP and TCP, with a
// turnutils_peer echo peer or client-to-client (-y), long-term (-w) and REST-secret (-W)
// credentials, -G extra requests, -s Send indications, -x IPv6 relays. Every run must report
// no loss and equal sent/received totals — the check coturn's CI makes against coturn itself.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { TurnServer } from '../../src/webrtc/turn/index.ts';
import { coturnBinary, freeUdpPort, parseUclient, run, startChild } from './helpers.ts';

let server: TurnServer;
let port = 0;
let peerPort = 0;
let stopPeer: (() => Promise<void>) | undefined;

before(async () => {
  server = new TurnServer({
    listeningAddresses: ['127.0.0.1', '::1'],
    port: 0,
    realm: 'north.gov',
    authSecret: 'secret',
    users: { user: 'pass' },
    allowLoopbackPeers: true,
    userQuota: 0,
    relayPortMin: 40000,
    relayPortMax: 60000,
  });
  const bound = await server.listen();
  port = bound[0]!.port;
});

after(async () => {
  await stopPeer?.();
  await server.close();
  await server.close(); // idempotent
});

test('turnutils_stunclient gets its reflexive address over IPv4 and IPv6', async (t) => {
  const bin = coturnBinary(t, 'turnutils_stunclient');
  if (!bin) return;
  const v4 = await run(bin, ['-p', String(port), '127.0.0.1'], 10_000);
  assert.match(v4.stdout, /UDP reflexive addr: 127\.0\.0\.1:\d+/, v4.stdout);
  const v6 = await run(bin, ['-p', String(port), '::1'], 10_000);
  assert.match(v6.stdout, /UDP reflexive addr: ::1:\d+/, v6.stdout);
  assert.ok(server.metrics.bindingRequests >= 2);
});

interface Case {
  name: string;
  args: string[];
  expectMsgs: number;
  peer?: boolean;
}

test('turnutils_uclient: UDP and TCP, with a peer and client-to-client, both credential kinds', { concurrency: true }, async (t) => {
  const uclient = coturnBinary(t, 'turnutils_uclient');
  const peerBin = coturnBinary(t, 'turnutils_peer');
  if (!uclient || !peerBin) return;
  peerPort = await freeUdpPort();
  stopPeer = startChild(peerBin, ['-p', String(peerPort), '-L', '127.0.0.1', '-L', '::1']);
  await new Promise((r) => setTimeout(r, 300));
  const P = String(peerPort);
  // Without -c every client also runs an RTCP session: 1 client = 2 sessions, -y pairs = 4.
  const cases: Case[] = [
    { name: 'coturn CI recipe, UDP: -e peer -X -g -u user -W secret', args: ['-e', '127.0.0.1', '-r', P, '-X', '-g', '-u', 'user', '-W', 'secret'], expectMsgs: 10 },
    { name: 'coturn CI recipe, TCP: -t -e peer -X -g -u user -W secret', args: ['-t', '-e', '127.0.0.1', '-r', P, '-X', '-g', '-u', 'user', '-W', 'secret'], expectMsgs: 10 },
    { name: 'UDP client-to-client -y, long-term -w', args: ['-y', '-X', '-g', '-u', 'user', '-w', 'pass'], expectMsgs: 20 },
    { name: 'TCP client-to-client -t -y, long-term -w', args: ['-t', '-y', '-u', 'user', '-w', 'pass'], expectMsgs: 20 },
    { name: 'UDP -G extra permissions/channels, REST secret', args: ['-G', '-e', '127.0.0.1', '-r', P, '-X', '-g', '-u', 'user', '-W', 'secret'], expectMsgs: 10 },
    { name: 'TCP -G -y, REST secret', args: ['-t', '-G', '-y', '-u', 'user', '-W', 'secret'], expectMsgs: 20 },
    { name: 'UDP Send/Data indications -s', args: ['-s', '-e', '127.0.0.1', '-r', P, '-u', 'user', '-w', 'pass'], expectMsgs: 10 },
    { name: 'TCP Send/Data indications -t -s -y', args: ['-t', '-s', '-y', '-u', 'user', '-w', 'pass'], expectMsgs: 20 },
    { name: 'IPv6 relay -x to an IPv6 peer', args: ['-x', '-e', '::1', '-r', P, '-u', 'user', '-w', 'pass'], expectMsgs: 10, peer: true },
    { name: '4 clients x 50 messages, no RTCP (-m 4 -n 50 -c)', args: ['-m', '4', '-n', '50', '-c', '-e', '127.0.0.1', '-r', P, '-u', 'user', '-W', 'secret'], expectMsgs: 200 },
  ];
  await Promise.all(
    cases.map((c) =>
      t.test(c.name, async () => {
        const target = c.args.includes('-x') ? '::1' : '127.0.0.1';
        const res = await run(uclient, ['-p', String(port), ...c.args, target], 60_000);
        const totals = parseUclient(res.stdout);
        assert.ok(totals, `no totals in output:\n${res.stdout.slice(-2000)}`);
        assert.equal(res.code, 0, res.stdout.slice(-2000));
        assert.equal(totals.sentMsgs, c.expectMsgs, res.stdout.slice(-1500));
        assert.equal(totals.recvMsgs, c.expectMsgs, res.stdout.slice(-1500));
        assert.equal(totals.lost, 0);
        assert.equal(totals.sendDropped, 0);
        assert.equal(totals.recvBytes, totals.sentBytes);
        assert.equal(totals.sentBytes, c.expectMsgs * 100);
      }),
    ),
  );
  const m = server.metrics;
  assert.ok(m.packetsToPeers > 0 && m.packetsFromPeers > 0, JSON.stringify(m));
  assert.ok(m.allocationsTotal >= cases.length * 2, JSON.stringify(m));
});

test('turnutils_uclient with a wrong password cannot allocate, and the server counts it', async (t) => {
  const uclient = coturnBinary(t, 'turnutils_uclient');
  if (!uclient) return;
  const before = server.metrics.authFailures;
  const res = await run(uclient, ['-p', String(port), '-e', '127.0.0.1', '-r', String(peerPort || 3480), '-u', 'user', '-w', 'wrong', '-n', '1', '127.0.0.1'], 20_000);
  assert.notEqual(res.code, 0);
  assert.match(res.stdout, /error 401|Cannot complete Allocation/);
  assert.ok(server.metrics.authFailures > before);
});
