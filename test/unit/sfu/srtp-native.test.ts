/**
 * The native SRTP helper (native/sfu_native.c through src/webrtc/sfu/srtp/native.ts) against our
 * JavaScript SRTP (srtp.ts): byte for byte the same SRTP and SRTCP for both profiles, over random
 * packets (CSRCs, header extensions, empty payloads), across a rollover, in place and at an offset;
 * werift's independent SRTP decrypts what the native path wrote; bad arguments throw, never crash.
 *
 * Skipped (with the reason) when the helper is not built; CI builds it (`prepare`), and the
 * status test fails there if it did not load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { RtpHeader, RtpPacket, SrtcpSession, SrtpSession } from 'werift';
import { keyLengths, SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80, SrtpContext, type SrtpProfile } from '../../../src/webrtc/sfu/srtp/srtp.ts';
import { nativeStatus, sfuNative } from '../../../src/webrtc/sfu/srtp/native.ts';

const nat = sfuNative();
const skip = nat ? false : `native helper not in use: ${nativeStatus().reason}`;

test('the native helper loads where it was built (CI builds it)', { skip: process.env.CI && process.env.SWITCHBOARD_SFU_NATIVE !== '0' ? false : 'only checked in CI' }, () => {
  assert.equal(nativeStatus().path, 'native', nativeStatus().reason);
});

/** An RTP packet with `csrcs` CSRCs, an optional extension of `extWords` words, and `payload`. */
function rtpPacket(seq: number, ssrc: number, csrcs: number, extWords: number, payload: Buffer, tail: number): Buffer {
  const ext = extWords >= 0;
  const h = 12 + csrcs * 4 + (ext ? 4 + extWords * 4 : 0);
  const b = Buffer.alloc(h + payload.length + tail);
  b[0] = 0x80 | (ext ? 0x10 : 0) | csrcs;
  b[1] = 96 | (seq & 1 ? 0x80 : 0);
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 3000) >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  for (let i = 0; i < csrcs; i++) b.writeUInt32BE(0x1000 + i, 12 + i * 4);
  if (ext) {
    const e = 12 + csrcs * 4;
    b.writeUInt16BE(0xbede, e);
    b.writeUInt16BE(extWords, e + 2);
    randomBytes(extWords * 4).copy(b, e + 4);
  }
  payload.copy(b, h);
  return b;
}

for (const [name, profile] of [['AES_CM_128_HMAC_SHA1_80', SRTP_AES128_CM_HMAC_SHA1_80], ['AEAD_AES_128_GCM', SRTP_AEAD_AES_128_GCM]] as [string, SrtpProfile][]) {
  const len = keyLengths(profile);

  test(`${name}: native protectRtp is byte-identical to JavaScript on random packets`, { skip }, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: len.key, maxLength: len.key }),
        fc.uint8Array({ minLength: len.salt, maxLength: len.salt }),
        fc.array(fc.record({ seq: fc.integer({ min: 0, max: 0xffff }), csrcs: fc.integer({ min: 0, max: 15 }), ext: fc.integer({ min: -1, max: 6 }), payload: fc.uint8Array({ maxLength: 1400 }) }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (key, salt, packets, ssrc) => {
          const js = new SrtpContext(profile, Buffer.from(key), Buffer.from(salt), 64, false);
          const nv = new SrtpContext(profile, Buffer.from(key), Buffer.from(salt), 64, true);
          assert.equal(js.native, false);
          assert.equal(nv.native, true);
          for (const p of packets) {
            const plain = rtpPacket(p.seq, ssrc, p.csrcs, p.ext, Buffer.from(p.payload), 0);
            const a = Buffer.alloc(plain.length + js.rtpOverhead);
            const b = Buffer.alloc(plain.length + nv.rtpOverhead);
            const na = js.protectRtp(plain, plain.length, a);
            const nb = nv.protectRtp(plain, plain.length, b);
            assert.equal(nb, na);
            assert.deepEqual(b, a);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test(`${name}: native and JavaScript agree across a sequence-number wrap (ROC 0 → 2), in place at an offset`, { skip }, () => {
    const key = randomBytes(len.key);
    const salt = randomBytes(len.salt);
    const js = new SrtpContext(profile, key, salt, 64, false);
    const nv = new SrtpContext(profile, key, salt, 64, true);
    const rx = new SrtpContext(profile, key, salt, 64, false);
    const arena = Buffer.alloc(4096);
    for (let k = 0; k < 2 * 0x10000 + 300; k += 97) {
      const seq = (0xff00 + k) & 0xffff;
      const plain = rtpPacket(seq, 0xcafe, k % 3, k % 2 ? 1 : -1, randomBytes(16 + (k % 200)), 0);
      const a = Buffer.alloc(plain.length + js.rtpOverhead);
      const na = js.protectRtp(plain, plain.length, a);
      const off = 1 + (k % 1000);
      plain.copy(arena, off);
      const nb = nv.protectRtpAt(arena, off, plain.length);
      assert.equal(nb, na);
      assert.deepEqual(arena.subarray(off, off + nb), a, `seq ${seq}`);
      const back = Buffer.from(a);
      assert.equal(rx.unprotectRtp(back), plain.length);
      assert.deepEqual(back.subarray(0, plain.length), plain);
    }
  });

  test(`${name}: native protectRtcp is byte-identical to JavaScript and decrypts with werift`, { skip }, () => {
    const key = randomBytes(len.key);
    const salt = randomBytes(len.salt);
    const js = new SrtpContext(profile, key, salt, 64, false);
    const nv = new SrtpContext(profile, key, salt, 64, true);
    const werift = new SrtcpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt }, profile });
    for (let k = 0; k < 50; k++) {
      const body = randomBytes(4 * (1 + (k % 30)));
      const rtcp = Buffer.alloc(8 + body.length);
      rtcp[0] = 0x81;
      rtcp[1] = 200 + (k % 6);
      rtcp.writeUInt16BE(rtcp.length / 4 - 1, 2);
      rtcp.writeUInt32BE(0x1234 + (k % 3), 4);
      body.copy(rtcp, 8);
      const a = js.protectRtcp(rtcp);
      const b = nv.protectRtcp(rtcp);
      assert.deepEqual(b, a);
      assert.deepEqual(werift.decrypt(b), rtcp);
    }
  });

  test(`${name}: werift's SRTP decrypts a native stream`, { skip }, () => {
    const key = randomBytes(len.key);
    const salt = randomBytes(len.salt);
    const nv = new SrtpContext(profile, key, salt, 64, true);
    const werift = new SrtpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt }, profile });
    for (let seq = 0; seq < 300; seq++) {
      // werift re-serializes what it decrypts: packets it builds itself, with and without an extension.
      const h = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 777, marker: seq % 3 === 0 });
      if (seq % 2) {
        h.extension = true;
        h.extensions = [{ id: 1, payload: Buffer.from([0xaa, 0xbb]) }];
      }
      const plain = new RtpPacket(h, randomBytes(20 + seq)).serialize();
      const out = Buffer.alloc(plain.length + nv.rtpOverhead);
      const n = nv.protectRtp(plain, plain.length, out);
      assert.deepEqual(werift.decrypt(out.subarray(0, n)), plain);
    }
  });
}

test('native functions throw coded errors on bad arguments, never crash', { skip }, () => {
  const n = nat!;
  const key = Buffer.alloc(16, 1);
  const s = n.createSession(SRTP_AES128_CM_HMAC_SHA1_80, key, Buffer.alloc(14), Buffer.alloc(20), key, Buffer.alloc(14), Buffer.alloc(20));
  const bad: Array<[() => unknown, string]> = [
    [() => n.createSession(3, key, Buffer.alloc(14), Buffer.alloc(20), key, Buffer.alloc(14), Buffer.alloc(20)), 'ERR_SFU_NATIVE_PROFILE'],
    [() => n.createSession(1, key, Buffer.alloc(12), Buffer.alloc(20), key, Buffer.alloc(14), Buffer.alloc(20)), 'ERR_SFU_NATIVE_KEYS'],
    [() => (n.createSession as (...a: unknown[]) => unknown)(1, 'key'), 'ERR_SFU_NATIVE_ARG'],
    [() => n.protectRtp({} as never, Buffer.alloc(100), 0, 20, 0), 'ERR_SFU_NATIVE_ARG'],
    [() => n.protectRtp(s, 'packet' as unknown as Buffer, 0, 20, 0), 'ERR_SFU_NATIVE_ARG'],
    [() => n.protectRtp(s, Buffer.alloc(100), 0, 95, 0), 'ERR_SFU_NATIVE_ROOM'],
    [() => n.protectRtp(s, Buffer.alloc(100), 101, 10, 0), 'ERR_SFU_NATIVE_RANGE'],
    [() => n.protectRtp(s, Buffer.alloc(100), 0, 11, 0), 'ERR_SFU_NATIVE_SHORT'],
    [() => n.protectRtp(s, Buffer.from([0x8f, ...Buffer.alloc(40)]), 0, 20, 0), 'ERR_SFU_NATIVE_SHORT'],
    [() => n.protectRtp(s, Buffer.alloc(100), 0, 20, -1), 'ERR_SFU_NATIVE_RANGE'],
    [() => n.protectRtp(s, Buffer.alloc(100), 0.5, 20, 0), 'ERR_SFU_NATIVE_RANGE'],
    [() => n.protectRtp(s, Buffer.alloc(100), 0, Number.NaN, 0), 'ERR_SFU_NATIVE_RANGE'],
    [() => (n.protectRtp as (...a: unknown[]) => unknown)(s), 'ERR_SFU_NATIVE_ARG'],
    [() => n.protectRtcp(s, Buffer.alloc(20), 0, 7, 0), 'ERR_SFU_NATIVE_ROOM'],
    [() => n.protectRtcp(s, Buffer.alloc(40), 0, 7, 0), 'ERR_SFU_NATIVE_SHORT'],
    [() => n.protectRtcp(s, Buffer.alloc(40), 0, 8, 0x80000000), 'ERR_SFU_NATIVE_RANGE'],
    [() => n.sendBatch(new Uint32Array(5) as unknown as Int32Array, Buffer.alloc(10), 1), 'ERR_SFU_NATIVE_ARG'],
    [() => n.sendBatch(new Int32Array(5), Buffer.alloc(10), 2), 'ERR_SFU_NATIVE_RANGE'],
    [() => n.sendBatch(Int32Array.from([3, 0x7f000001, 9, 8, 5]), Buffer.alloc(10), 1), 'ERR_SFU_NATIVE_RANGE'],
    [() => n.sendBatch(Int32Array.from([-1, 0x7f000001, 9, 0, 5]), Buffer.alloc(10), 1), 'ERR_SFU_NATIVE_RANGE'],
  ];
  for (const [f, code] of bad) assert.throws(f, (e: Error & { code?: string }) => e.code === code, `${f.toString()} → ${code}`);
  // Header extension claiming more words than the packet has: refused, buffer untouched.
  const cut = Buffer.alloc(60);
  cut[0] = 0x90;
  cut.writeUInt16BE(0xbede, 12);
  cut.writeUInt16BE(100, 14);
  const copy = Buffer.from(cut);
  assert.throws(() => n.protectRtp(s, cut, 0, 40, 0), (e: Error & { code?: string }) => e.code === 'ERR_SFU_NATIVE_SHORT');
  assert.deepEqual(cut, copy);
});

test('the helper loads and protects in a worker thread (context-aware)', { skip }, async () => {
  // As worker-pool.ts starts its workers from sources: tsx registered inside the worker.
  const srtp = new URL('../../../src/webrtc/sfu/srtp/srtp.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(srtp)}); }).then(({ SrtpContext }) => {
      const c = new SrtpContext(1, Buffer.alloc(16, 7), Buffer.alloc(14, 3));
      const p = Buffer.alloc(50); p[0] = 0x80; p.writeUInt16BE(5, 2);
      parentPort.postMessage({ native: c.native, n: c.protectRtp(p, 40, p), bytes: p.toString('hex') });
    });`;
  const ref = new SrtpContext(1, Buffer.alloc(16, 7), Buffer.alloc(14, 3), 64, false);
  const p = Buffer.alloc(50);
  p[0] = 0x80;
  p.writeUInt16BE(5, 2);
  const n = ref.protectRtp(p, 40, p);
  const w = new Worker(code, { eval: true });
  const got = await new Promise<{ native: boolean; n: number; bytes: string }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  assert.equal(got.native, true);
  assert.equal(got.n, n);
  assert.equal(got.bytes, p.toString('hex'));
});
