/**
 * Our SRTP/SRTCP (src/webrtc/sfu/srtp/srtp.ts): RFC 3711 key-derivation vectors, and interop both
 * ways with werift's independent implementation (the one that talks to Chromium in our e2e tests)
 * for both profiles, across a sequence-number wrap; tampering, replays and SSRC floods refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RtpHeader, RtpPacket, SrtcpSession, SrtpSession } from 'werift';
import { deriveKey, keyLengths, SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80, SrtpContext, SrtpError, type SrtpProfile } from '../../../src/webrtc/sfu/srtp/srtp.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('RFC 3711 B.3 key derivation: session cipher key, salt and auth key', () => {
  const mk = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const ms = hex('0EC675AD498AFEEBB6960B3AABE6');
  assert.equal(deriveKey(mk, ms, 0, 16).toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087');
  assert.equal(deriveKey(mk, ms, 2, 14).toString('hex'), '30cbbc08863d8c85d49db34a9ae1');
  assert.equal(deriveKey(mk, ms, 1, 20).toString('hex'), 'cebe321f6ff7716b6fd4ab49af256a156d38baa4');
});

function rtp(seq: number, ssrc: number, payload: Buffer, ext = false): Buffer {
  const h = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc, marker: seq % 3 === 0 });
  if (ext) {
    h.extension = true;
    h.extensions = [{ id: 1, payload: Buffer.from([0xaa, 0xbb]) }];
  }
  return new RtpPacket(h, payload).serialize();
}

function weriftPair(profile: SrtpProfile, local: { key: Buffer; salt: Buffer }, remote: { key: Buffer; salt: Buffer }) {
  const config = { keys: { localMasterKey: local.key, localMasterSalt: local.salt, remoteMasterKey: remote.key, remoteMasterSalt: remote.salt }, profile };
  return { srtp: new SrtpSession(config), srtcp: new SrtcpSession(config) };
}

for (const [name, profile] of [['AES_CM_128_HMAC_SHA1_80', SRTP_AES128_CM_HMAC_SHA1_80], ['AEAD_AES_128_GCM', SRTP_AEAD_AES_128_GCM]] as const) {
  const len = keyLengths(profile);
  const a = { key: randomBytes(len.key), salt: randomBytes(len.salt) };
  const b = { key: randomBytes(len.key), salt: randomBytes(len.salt) };

  test(`${name}: ours → werift and werift → ours, RTP across the sequence wrap, with and without extensions`, () => {
    const oursOut = new SrtpContext(profile, a.key, a.salt);
    const oursIn = new SrtpContext(profile, b.key, b.salt);
    const werift = weriftPair(profile, b, a); // werift sends with b, receives with a
    for (let i = 0; i < 40; i++) {
      const seq = (65520 + i) & 0xffff;
      // At least 16 payload bytes: a 1-byte payload encrypts to itself 1 time in 256.
      const plain = rtp(seq, 0x11223344, randomBytes(16 + ((i * 37) % 1100)), i % 2 === 0);
      const out = Buffer.alloc(plain.length + oursOut.rtpOverhead);
      const n = oursOut.protectRtp(plain, plain.length, out);
      assert.equal(n, out.length);
      assert.notDeepEqual(out.subarray(12, plain.length), plain.subarray(12), 'payload is encrypted');
      assert.deepEqual(werift.srtp.decrypt(out), plain, `werift decrypts ours at seq ${seq}`);
      const theirs = werift.srtp.encrypt(plain.subarray(new RtpPacket(RtpHeader.deSerialize(plain), Buffer.alloc(0)).header.serializeSize), RtpHeader.deSerialize(plain));
      const copy = Buffer.from(theirs);
      const m = oursIn.unprotectRtp(copy);
      assert.deepEqual(copy.subarray(0, m), plain, `we decrypt werift's at seq ${seq}`);
    }
  });

  test(`${name}: SRTCP both ways`, () => {
    const oursOut = new SrtpContext(profile, a.key, a.salt);
    const oursIn = new SrtpContext(profile, b.key, b.salt);
    const werift = weriftPair(profile, b, a);
    for (let i = 0; i < 5; i++) {
      // A receiver report: V=2, RC=0, PT=201, length 1, SSRC; then a PLI (PSFB 206, FMT 1).
      const plain = Buffer.concat([hex('81c90001 deadbeef'), hex('81ce0002 deadbeef 01020304')]);
      assert.deepEqual(werift.srtcp.decrypt(oursOut.protectRtcp(plain)), plain);
      assert.deepEqual(oursIn.unprotectRtcp(werift.srtcp.encrypt(plain)), plain);
    }
  });

  test(`${name}: a flipped bit fails authentication and leaves the packet unchanged; a replay is refused`, () => {
    const tx = new SrtpContext(profile, a.key, a.salt);
    const rx = new SrtpContext(profile, a.key, a.salt);
    const plain = rtp(7, 42, randomBytes(200));
    const enc = Buffer.alloc(plain.length + tx.rtpOverhead);
    tx.protectRtp(plain, plain.length, enc);
    for (const at of [1, 20, enc.length - 1]) {
      const bad = Buffer.from(enc);
      bad[at]! ^= 0x01;
      const before = Buffer.from(bad);
      assert.throws(() => rx.unprotectRtp(bad), (e: unknown) => e instanceof SrtpError && e.code === 'auth');
      assert.deepEqual(bad, before);
    }
    const ok = Buffer.from(enc);
    assert.deepEqual(ok.subarray(0, rx.unprotectRtp(ok)), plain);
    assert.throws(() => rx.unprotectRtp(Buffer.from(enc)), (e: unknown) => e instanceof SrtpError && e.code === 'replay');
    const rtcp = tx.protectRtcp(hex('81c90001 0000002a'));
    rx.unprotectRtcp(Buffer.from(rtcp));
    assert.throws(() => rx.unprotectRtcp(Buffer.from(rtcp)), (e: unknown) => e instanceof SrtpError && e.code === 'replay');
  });

  test(`${name}: late packets within 64 are accepted once, older ones refused; the SSRC count is bounded`, () => {
    const tx = new SrtpContext(profile, a.key, a.salt);
    const rx = new SrtpContext(profile, a.key, a.salt, 4);
    const enc = (seq: number, ssrc = 1): Buffer => {
      const p = rtp(seq, ssrc, Buffer.from('x'));
      const o = Buffer.alloc(p.length + tx.rtpOverhead);
      tx.protectRtp(p, p.length, o);
      return o;
    };
    const early = enc(100);
    const late = enc(150);
    const tooOld = enc(10);
    rx.unprotectRtp(enc(200));
    rx.unprotectRtp(late); // 50 behind: inside the window
    assert.throws(() => rx.unprotectRtp(early), (e: unknown) => e instanceof SrtpError && e.code === 'replay'); // 100 behind
    assert.throws(() => rx.unprotectRtp(tooOld), (e: unknown) => e instanceof SrtpError && e.code === 'replay');
    for (const ssrc of [2, 3, 4]) rx.unprotectRtp(enc(1, ssrc));
    assert.throws(() => rx.unprotectRtp(enc(1, 5)), (e: unknown) => e instanceof SrtpError && e.code === 'ssrcs');
    assert.throws(() => rx.unprotectRtp(Buffer.alloc(20)), (e: unknown) => e instanceof SrtpError && e.code === 'short');
  });
}
