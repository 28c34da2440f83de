/**
 * The SFU's native UDP batch (src/webrtc/sfu/udp-batch.ts over native sendBatch): real dgram
 * sockets on loopback. Datagrams queued in one task arrive intact and in order per socket, from
 * the right socket; a fan-out larger than the arena flushes as it goes; a socket closed before the
 * flush gets nothing sent; targets that cannot be batched (IPv6, unbound) are refused.
 * Skipped when the native helper is not in use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { ARENA_BYTES, ipv4ToInt, socketFd, udpBatch } from '../../../src/webrtc/sfu/udp-batch.ts';
import { nativeStatus } from '../../../src/webrtc/sfu/srtp/native.ts';

const batch = udpBatch();
const skip = batch ? false : `native helper not in use: ${nativeStatus().reason}`;

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

function collect(s: Socket, n: number): Promise<{ data: Buffer; port: number }[]> {
  const got: { data: Buffer; port: number }[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`received ${got.length} of ${n}`)), 5000);
    s.on('message', (data, rinfo) => {
      got.push({ data, port: rinfo.port });
      if (got.length === n) {
        clearTimeout(t);
        resolve(got);
      }
    });
  });
}

test('ipv4ToInt and socketFd', async () => {
  assert.equal(ipv4ToInt('127.0.0.1'), 0x7f000001);
  assert.equal(ipv4ToInt('255.255.255.255'), -1);
  assert.equal(ipv4ToInt('256.0.0.1'), undefined);
  assert.equal(ipv4ToInt('::1'), undefined);
  assert.equal(ipv4ToInt('1.2.3'), undefined);
  const s = await bound();
  assert.ok(socketFd(s) > 2);
  s.close();
  assert.equal(socketFd(createSocket('udp4')), -1, 'an unbound socket has no fd');
});

test('a fan-out in one task arrives intact, in order, from the right sockets; more than the arena flushes as it goes', { skip }, async () => {
  const b = batch!;
  // Two sending sockets, eight receivers (one receive buffer could not hold the whole burst).
  const senders = await Promise.all([bound(), bound()]);
  const receivers = await Promise.all(Array.from({ length: 8 }, () => bound()));
  const portOf = (s: Socket): number => (s.address() as { port: number }).port;
  const targets = receivers.flatMap((r) => senders.map((s) => b.target(s, '127.0.0.1', portOf(r), {})!));
  assert.ok(targets.every((t) => t !== undefined));
  const n = Math.ceil((ARENA_BYTES * 2.5) / 1200);
  // Datagram i goes to targets[i % 16]: receiver ⌊(i % 16) / 2⌋, sender (i % 16) % 2.
  const per = receivers.map((_, k) => Array.from({ length: n }, (_, i) => i).filter((i) => Math.floor((i % targets.length) / 2) === k).length);
  const done = Promise.all(receivers.map((r, k) => collect(r, per[k]!)));
  const sentBefore = b.sent;
  const flushesBefore = b.flushes;
  for (let i = 0; i < n; i++) {
    const at = b.reserve(1200);
    b.arena.fill(i & 0xff, at, at + 1200);
    b.arena.writeUInt32BE(i, at);
    b.commit(targets[i % targets.length]!, at, 1200);
  }
  const got = await done;
  assert.equal(b.sent - sentBefore, n);
  assert.ok(b.flushes - flushesBefore >= 3, `${b.flushes - flushesBefore} native calls for ${n} datagrams of 1200 bytes`);
  for (let k = 0; k < receivers.length; k++) {
    for (const [j, s] of senders.entries()) {
      const t = 2 * k + j;
      const seen = got[k]!.filter((g) => g.port === portOf(s)).map((g) => g.data.readUInt32BE(0));
      const want = Array.from({ length: n }, (_, i) => i).filter((i) => i % targets.length === t);
      assert.deepEqual(seen, want, `receiver ${k} from sender ${j}`);
    }
    for (const g of got[k]!) {
      assert.equal(g.data.length, 1200);
      assert.equal(g.data[1199], g.data.readUInt32BE(0) & 0xff);
    }
  }
  for (const s of [...senders, ...receivers]) s.close();
});

test('a socket closed before the flush gets nothing sent; IPv6 and unbound targets are refused', { skip }, async () => {
  const b = batch!;
  const [a, rx] = await Promise.all([bound(), bound()]);
  const port = (rx.address() as { port: number }).port;
  const transport = { closed: false };
  const t = b.target(a, '127.0.0.1', port, transport)!;
  const errorsBefore = b.errors;
  const at = b.reserve(100);
  b.commit(t, at, 100);
  transport.closed = true;
  a.close();
  const got: Buffer[] = [];
  rx.on('message', (m) => got.push(m));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(got.length, 0);
  assert.equal(b.errors - errorsBefore, 1);
  assert.equal(b.target(rx, '::1', port, {}), undefined);
  assert.equal(b.target(createSocket('udp4'), '127.0.0.1', port, {}), undefined);
  assert.equal(b.target(rx, '127.0.0.1', 0, {}), undefined);
  rx.close();
});
