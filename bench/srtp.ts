/**
 * SRTP per-packet cost: our SrtpContext (src/webrtc/sfu/srtp/srtp.ts) on its JavaScript path and
 * with the native helper (srtp/native.ts, native/; encrypt only: decryption is JavaScript) against
 * werift's SrtpSession, the same 1,100-byte RTP packets, both profiles, in one run.
 *
 *     npx tsx bench/srtp.ts [--packets 200000] [--json]
 *
 * Encrypt is what the SFU pays once per forwarded packet (per consumer); decrypt once per received
 * packet. Times are wall-clock per packet on one core (CPU-bound loop, nothing else in the process).
 */
import { randomBytes } from 'node:crypto';
import { RtpHeader, RtpPacket, SrtpSession } from 'werift';
import { keyLengths, SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80, SrtpContext, type SrtpProfile } from '../src/webrtc/sfu/srtp/srtp.ts';
import { nativeStatus } from '../src/webrtc/sfu/srtp/native.ts';

const i = process.argv.indexOf('--packets');
const N = i >= 0 ? Number(process.argv[i + 1]) : 200_000;
const json = process.argv.includes('--json');
const rows: Array<{ scenario: string; system: string; profile: string; op: string; usPerPacket: number }> = [];

function time(fn: (k: number) => void): number {
  for (let k = 0; k < 2000; k++) fn(k); // warm-up
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < N; k++) fn(k);
  return Number(process.hrtime.bigint() - t0) / 1000 / N;
}

for (const [name, profile] of [['AES_CM_128_HMAC_SHA1_80', SRTP_AES128_CM_HMAC_SHA1_80], ['AEAD_AES_128_GCM', SRTP_AEAD_AES_128_GCM]] as [string, SrtpProfile][]) {
  const len = keyLengths(profile);
  const key = randomBytes(len.key);
  const salt = randomBytes(len.salt);
  const payload = randomBytes(1100 - 12);
  const header = (k: number): RtpHeader => new RtpHeader({ payloadType: 96, sequenceNumber: k & 0xffff, timestamp: k * 900, ssrc: 1234, marker: true });
  const plain = new RtpPacket(header(0), payload).serialize();
  const ours = new SrtpContext(profile, key, salt, 64, false);
  const out = Buffer.alloc(plain.length + ours.rtpOverhead);
  const oursEnc = time((k) => {
    plain.writeUInt16BE(k & 0xffff, 2);
    ours.protectRtp(plain, plain.length, out);
  });
  const nat = new SrtpContext(profile, key, salt, 64, true);
  const natEnc = nat.native
    ? time((k) => {
        plain.writeUInt16BE(k & 0xffff, 2);
        nat.protectRtp(plain, plain.length, out);
      })
    : NaN;
  const werift = new SrtpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt }, profile });
  const h = header(0);
  const weriftEnc = time((k) => {
    h.sequenceNumber = k & 0xffff;
    werift.encrypt(payload, h);
  });
  // Decrypt: a pre-encrypted stream, each packet once.
  const tx = new SrtpContext(profile, key, salt, 64, false);
  const M = Math.min(N, 65_000);
  const stream = Array.from({ length: M + 2000 }, (_, k) => {
    plain.writeUInt16BE(k & 0xffff, 2);
    const o = Buffer.alloc(plain.length + tx.rtpOverhead);
    tx.protectRtp(plain, plain.length, o);
    return o;
  });
  const rx = new SrtpContext(profile, key, salt, 64, false);
  const copies = stream.map((b) => Buffer.from(b));
  let j = 0;
  const savedN = N;
  const oursDec = (() => {
    for (let k = 0; k < 2000; k++) rx.unprotectRtp(copies[j++]!);
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < M; k++) rx.unprotectRtp(copies[j++]!);
    return Number(process.hrtime.bigint() - t0) / 1000 / M;
  })();
  const wrx = new SrtpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt }, profile });
  j = 0;
  const weriftDec = (() => {
    for (let k = 0; k < 2000; k++) wrx.decrypt(stream[j++]!);
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < M; k++) wrx.decrypt(stream[j++]!);
    return Number(process.hrtime.bigint() - t0) / 1000 / M;
  })();
  void savedN;
  if (nat.native) rows.push({ scenario: 'srtp', system: 'switchboard-native', profile: name, op: 'encrypt', usPerPacket: Number(natEnc.toFixed(2)) });
  rows.push({ scenario: 'srtp', system: 'switchboard', profile: name, op: 'encrypt', usPerPacket: Number(oursEnc.toFixed(2)) });
  rows.push({ scenario: 'srtp', system: 'werift', profile: name, op: 'encrypt', usPerPacket: Number(weriftEnc.toFixed(2)) });
  rows.push({ scenario: 'srtp', system: 'switchboard', profile: name, op: 'decrypt', usPerPacket: Number(oursDec.toFixed(2)) });
  rows.push({ scenario: 'srtp', system: 'werift', profile: name, op: 'decrypt', usPerPacket: Number(weriftDec.toFixed(2)) });
}

if (json) process.stdout.write(`${JSON.stringify({ rows, native: nativeStatus() }, null, 2)}\n`);
else {
  const at = (profile: string, op: string, system: string): number | undefined => rows.find((r) => r.profile === profile && r.op === op && r.system === system)?.usPerPacket;
  process.stdout.write(`native helper: ${nativeStatus().path} (${nativeStatus().reason})\n`);
  process.stdout.write('| profile | op | switchboard native µs/packet | switchboard JS µs/packet | werift µs/packet | werift / native | werift / JS |\n|---|---|--:|--:|--:|--:|--:|\n');
  for (const profile of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM']) {
    for (const op of ['encrypt', 'decrypt']) {
      const n = at(profile, op, 'switchboard-native');
      const j = at(profile, op, 'switchboard')!;
      const w = at(profile, op, 'werift')!;
      process.stdout.write(`| ${profile} | ${op} | ${n ?? '—'} | ${j} | ${w} | ${n ? `${(w / n).toFixed(2)}×` : '—'} | ${(w / j).toFixed(2)}× |\n`);
    }
  }
}
