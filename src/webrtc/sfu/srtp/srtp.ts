/**
 * SRTP and SRTCP (RFC 3711) on bare `node:crypto`, for the SFU's hot path: the two profiles
 * browsers negotiate, SRTP_AES128_CM_HMAC_SHA1_80 (RFC 3711 / RFC 5764) and SRTP_AEAD_AES_128_GCM
 * (RFC 7714). Keys come from the DTLS handshake (RFC 5764 §4.2 key export), whoever did it.
 *
 * Per packet this costs one cipher object (CTR or GCM) and, for the CM profile, one HMAC; the
 * output is written into one buffer of the final size (no concatenation). werift's own SRTP
 * builds a cipher and concatenates buffers several times per packet (issue 12 measured 15–30 µs).
 *
 * One `SrtpContext` per direction of a transport (inbound: the remote master key; outbound: the
 * local one). Per SSRC it keeps the rollover counter (RFC 3711 §3.3.1 index estimation) and, on
 * the inbound side, a 64-packet replay window (§3.3.2); SRTCP keeps its own 31-bit index per SSRC.
 * The number of SSRCs is bounded (`maxSsrcs`): a peer cannot grow the state by inventing SSRCs.
 *
 * Protection (the send side, once per forwarded packet and consumer) takes the native helper
 * when it is loaded (native.ts: OpenSSL contexts kept per session, ~1 µs instead of ~10 µs per
 * 1,100-byte packet); the counters stay here either way, and the bytes are the same
 * (test/unit/sfu/srtp-native.test.ts). Unprotection is JavaScript only (once per received packet).
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type Cipher } from 'node:crypto';
import { sfuNative, type NativeSession, type SfuNative } from './native.ts';

/** DTLS-SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export const SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001;
export const SRTP_AEAD_AES_128_GCM = 0x0007;
export type SrtpProfile = typeof SRTP_AES128_CM_HMAC_SHA1_80 | typeof SRTP_AEAD_AES_128_GCM;

/** Master key and salt lengths of a profile (RFC 5764 §4.1.2, RFC 7714 §12). */
export function keyLengths(profile: SrtpProfile): { key: number; salt: number } {
  return profile === SRTP_AEAD_AES_128_GCM ? { key: 16, salt: 12 } : { key: 16, salt: 14 };
}

/** Why a packet was refused. */
export type SrtpErrorCode = 'short' | 'auth' | 'replay' | 'ssrcs';

export class SrtpError extends Error {
  constructor(
    readonly code: SrtpErrorCode,
    message: string,
  ) {
    super(`srtp: ${message}`);
    this.name = 'SrtpError';
  }
}

const CM_TAG = 10;
const GCM_TAG = 16;

/**
 * The AES-CM key derivation function (RFC 3711 §4.3.1, key derivation rate 0, as every DTLS-SRTP
 * profile uses): `length` bytes for `label` from the master key and salt.
 */
export function deriveKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0, 0, Math.min(14, masterSalt.length));
  // key_id = label || index DIV kdr (48 bits of zero): XORed into the salt's byte 7 (RFC 3711 §4.3.1).
  iv[7]! ^= label;
  const c = createCipheriv('aes-128-ctr', masterKey, iv);
  const out = c.update(Buffer.alloc(length));
  c.final();
  return out;
}

interface SsrcState {
  roc: number;
  /** Highest sequence number seen (inbound) or sent (outbound); -1 before the first. */
  s_l: number;
  /** Replay window: bit i set = packet index (top − i) seen. */
  window: bigint;
  /** Highest 48-bit index accepted (inbound). */
  top: number;
  /** SRTCP: next index to send (outbound) / replay state (inbound). */
  rtcpIndex: number;
  rtcpTop: number;
  rtcpWindow: bigint;
}

/** Where the RTP payload starts: after the fixed header, CSRCs and the extension (RFC 3550 §5.1, §5.3.1). */
export function rtpHeaderLength(pkt: Buffer, length = pkt.length): number {
  if (length < 12) throw new SrtpError('short', `RTP packet of ${length} bytes`);
  let n = 12 + (pkt[0]! & 0x0f) * 4;
  if (pkt[0]! & 0x10) {
    if (length < n + 4) throw new SrtpError('short', 'RTP extension header cut off');
    n += 4 + pkt.readUInt16BE(n + 2) * 4;
  }
  if (n > length) throw new SrtpError('short', 'RTP header longer than the packet');
  return n;
}

/** One direction of an SRTP/SRTCP session. */
export class SrtpContext {
  private readonly rtpKey: Buffer;
  private readonly rtpSalt: Buffer;
  private readonly rtpAuth: Buffer;
  private readonly rtcpKey: Buffer;
  private readonly rtcpSalt: Buffer;
  private readonly rtcpAuth: Buffer;
  private readonly gcm: boolean;
  private readonly states = new Map<number, SsrcState>();
  private readonly iv: Buffer;
  /** The native helper and this context's session in it (undefined: JavaScript path). */
  private readonly nat: SfuNative | undefined;
  private readonly session: NativeSession | undefined;

  /**
   * @param maxSsrcs SSRCs this context keeps state for; a packet of one more is refused ('ssrcs')
   * @param useNative protect with the native helper when it is loaded (false: always JavaScript)
   */
  constructor(
    readonly profile: SrtpProfile,
    masterKey: Buffer,
    masterSalt: Buffer,
    private readonly maxSsrcs = 64,
    useNative = true,
  ) {
    const len = keyLengths(profile);
    if (masterKey.length !== len.key || masterSalt.length !== len.salt) throw new RangeError(`SRTP profile ${profile} needs a ${len.key}-byte key and a ${len.salt}-byte salt`);
    this.gcm = profile === SRTP_AEAD_AES_128_GCM;
    this.rtpKey = deriveKey(masterKey, masterSalt, 0, 16);
    this.rtpAuth = this.gcm ? Buffer.alloc(0) : deriveKey(masterKey, masterSalt, 1, 20);
    this.rtpSalt = deriveKey(masterKey, masterSalt, 2, len.salt);
    this.rtcpKey = deriveKey(masterKey, masterSalt, 3, 16);
    this.rtcpAuth = this.gcm ? Buffer.alloc(0) : deriveKey(masterKey, masterSalt, 4, 20);
    this.rtcpSalt = deriveKey(masterKey, masterSalt, 5, len.salt);
    this.iv = Buffer.alloc(this.gcm ? 12 : 16);
    const nat = useNative ? sfuNative() : undefined;
    this.session = nat?.createSession(profile, this.rtpKey, this.rtpSalt, this.rtpAuth, this.rtcpKey, this.rtcpSalt, this.rtcpAuth);
    this.nat = nat;
  }

  /** Whether this context protects with the native helper. */
  get native(): boolean {
    return this.session !== undefined;
  }

  /**
   * AES-CTR over `data` into `out[offset..]`. A cipher object per packet: feeding counter blocks to
   * one long-lived ECB cipher and XORing in JavaScript was measured slower (bench/srtp.ts: 24 µs
   * against 14 µs per 1,100-byte packet), since the XOR loop costs more than the cipher setup.
   * CTR has no final block, so `final()` is not called.
   */
  private ctr(iv: Buffer, data: Buffer, out: Buffer, offset: number): void {
    createCipheriv('aes-128-ctr', this.rtpKey, iv).update(data).copy(out, offset);
  }

  /** Bytes an encrypted RTP packet is longer than the plain one. */
  get rtpOverhead(): number {
    return this.gcm ? GCM_TAG : CM_TAG;
  }

  private state(ssrc: number): SsrcState {
    let s = this.states.get(ssrc);
    if (!s) {
      if (this.states.size >= this.maxSsrcs) throw new SrtpError('ssrcs', `more than ${this.maxSsrcs} SSRCs on one transport`);
      s = { roc: 0, s_l: -1, window: 0n, top: -1, rtcpIndex: 0, rtcpTop: -1, rtcpWindow: 0n };
      this.states.set(ssrc, s);
    }
    return s;
  }

  /** Forgets an SSRC's counters (its stream ended). */
  forget(ssrc: number): void {
    this.states.delete(ssrc);
  }

  /** The RTP IV for `ssrc` and 48-bit `index` (RFC 3711 §4.1.1; RFC 7714 §8.1) into this.iv. */
  private rtpIv(ssrc: number, roc: number, seq: number): Buffer {
    const iv = this.iv;
    if (this.gcm) {
      // 00 00 || SSRC || ROC || SEQ, XOR the 12-byte salt.
      iv.writeUInt16BE(0, 0);
      iv.writeUInt32BE(ssrc, 2);
      iv.writeUInt32BE(roc, 6);
      iv.writeUInt16BE(seq, 10);
    } else {
      // (salt · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16)
      iv.writeUInt32BE(0, 0);
      iv.writeUInt32BE(ssrc, 4);
      iv.writeUInt32BE(roc, 8);
      iv.writeUInt16BE(seq, 12);
      iv.writeUInt16BE(0, 14);
    }
    const salt = this.rtpSalt;
    for (let i = 0; i < salt.length; i++) iv[i]! ^= salt[i]!;
    return iv;
  }

  /**
   * Encrypts the RTP packet `pkt[0..length)` into `out` (which may be `pkt` itself when it has
   * `rtpOverhead` bytes of room) and returns the SRTP length. Outbound: the ROC follows the
   * sequence numbers the caller sends (they must not jump back by more than 2^15).
   */
  protectRtp(pkt: Buffer, length: number, out: Buffer): number {
    const h = rtpHeaderLength(pkt, length);
    const seq = pkt.readUInt16BE(2);
    const ssrc = pkt.readUInt32BE(8);
    const s = this.state(ssrc);
    if (s.s_l >= 0 && seq < s.s_l && s.s_l - seq > 0x8000) s.roc = (s.roc + 1) >>> 0;
    if (s.s_l < 0 || ((seq - s.s_l) & 0xffff) < 0x8000) s.s_l = seq;
    const roc = s.roc;
    if (this.session) {
      if (out !== pkt) pkt.copy(out, 0, 0, length);
      return this.nat!.protectRtp(this.session, out, 0, length, roc);
    }
    const iv = this.rtpIv(ssrc, roc, seq);
    if (out !== pkt) pkt.copy(out, 0, 0, h);
    if (this.gcm) {
      const c = createCipheriv('aes-128-gcm', this.rtpKey, iv);
      c.setAAD(pkt.subarray(0, h));
      const n = writeThrough(c, pkt.subarray(h, length), out, h);
      c.final();
      c.getAuthTag().copy(out, h + n);
      return length + GCM_TAG;
    }
    this.ctr(iv, pkt.subarray(h, length), out, h);
    // The tag covers header, encrypted payload and the ROC: write the ROC where the tag goes.
    out.writeUInt32BE(roc, length);
    createHmac('sha1', this.rtpAuth).update(out.subarray(0, length + 4)).digest().copy(out, length, 0, CM_TAG);
    return length + CM_TAG;
  }

  /**
   * As {@link protectRtp}, in place at `buf[offset..offset+length)` (the packet is encrypted where
   * it is; `rtpOverhead` bytes after it are needed). Returns the SRTP length.
   */
  protectRtpAt(buf: Buffer, offset: number, length: number): number {
    if (!this.session) {
      const view = buf.subarray(offset);
      return this.protectRtp(view, length, view);
    }
    if (length < 12 || offset < 0 || offset + length > buf.length) throw new SrtpError('short', `RTP packet of ${length} bytes`);
    const seq = buf.readUInt16BE(offset + 2);
    const s = this.state(buf.readUInt32BE(offset + 8));
    if (s.s_l >= 0 && seq < s.s_l && s.s_l - seq > 0x8000) s.roc = (s.roc + 1) >>> 0;
    if (s.s_l < 0 || ((seq - s.s_l) & 0xffff) < 0x8000) s.s_l = seq;
    return this.nat!.protectRtp(this.session, buf, offset, length, s.roc);
  }

  /**
   * Checks and decrypts the SRTP packet `pkt[0..length)` in place; returns the RTP length.
   * Throws SrtpError: 'short', 'auth' (tag mismatch: nothing is changed), 'replay', 'ssrcs'.
   */
  unprotectRtp(pkt: Buffer, length = pkt.length): number {
    const tagLen = this.gcm ? GCM_TAG : CM_TAG;
    if (length < 12 + tagLen) throw new SrtpError('short', `SRTP packet of ${length} bytes`);
    const end = length - tagLen;
    const h = rtpHeaderLength(pkt, end);
    const seq = pkt.readUInt16BE(2);
    const ssrc = pkt.readUInt32BE(8);
    const s = this.state(ssrc);
    // RFC 3711 Appendix A: guess the ROC this packet was sent with.
    let v = s.roc;
    if (s.s_l >= 0) {
      if (s.s_l < 0x8000) {
        if (seq - s.s_l > 0x8000) v = (s.roc - 1) >>> 0;
      } else if (s.s_l - 0x8000 > seq) v = (s.roc + 1) >>> 0;
    }
    const index = v * 0x10000 + seq;
    if (s.top >= 0) {
      const d = s.top - index;
      if (d >= 64) throw new SrtpError('replay', `packet ${index} is older than the replay window`);
      if (d >= 0 && (s.window >> BigInt(d)) & 1n) throw new SrtpError('replay', `packet ${index} replayed`);
    }
    const iv = this.rtpIv(ssrc, v, seq);
    if (this.gcm) {
      const d = createDecipheriv('aes-128-gcm', this.rtpKey, iv);
      d.setAAD(pkt.subarray(0, h));
      d.setAuthTag(pkt.subarray(end, length));
      const plain = d.update(pkt.subarray(h, end));
      try {
        d.final();
      } catch {
        throw new SrtpError('auth', 'GCM tag mismatch');
      }
      plain.copy(pkt, h);
    } else {
      const mac = createHmac('sha1', this.rtpAuth);
      mac.update(pkt.subarray(0, end));
      const rocBuf = Buffer.allocUnsafe(4);
      rocBuf.writeUInt32BE(v, 0);
      mac.update(rocBuf);
      const want = mac.digest().subarray(0, CM_TAG);
      if (!timingSafeEqual(want, pkt.subarray(end, length))) throw new SrtpError('auth', 'HMAC tag mismatch');
      this.ctr(iv, pkt.subarray(h, end), pkt, h);
    }
    // Accepted: update ROC, highest sequence and the replay window (RFC 3711 §3.3.1, §3.3.2).
    if (s.top < 0 || index > s.top) {
      const shift = s.top < 0 ? 64 : index - s.top;
      s.window = shift >= 64 ? 1n : ((s.window << BigInt(shift)) | 1n) & 0xffffffffffffffffn;
      s.top = index;
    } else s.window |= 1n << BigInt(s.top - index);
    if (s.s_l < 0 || index > s.roc * 0x10000 + s.s_l) {
      s.roc = v;
      s.s_l = seq;
    }
    return end;
  }

  /** The SRTCP IV (RFC 3711 §4.1.1 with the SRTCP index; RFC 7714 §9.1). */
  private rtcpIv(ssrc: number, index: number): Buffer {
    const iv = this.iv;
    if (this.gcm) {
      iv.writeUInt16BE(0, 0);
      iv.writeUInt32BE(ssrc, 2);
      iv.writeUInt16BE(0, 6);
      iv.writeUInt32BE(index & 0x7fffffff, 8);
    } else {
      iv.writeUInt32BE(0, 0);
      iv.writeUInt32BE(ssrc, 4);
      iv.writeUInt16BE(0, 8);
      iv.writeUInt32BE(index & 0x7fffffff, 10);
      iv.writeUInt16BE(0, 14);
    }
    const salt = this.rtcpSalt;
    for (let i = 0; i < salt.length; i++) iv[i]! ^= salt[i]!;
    return iv;
  }

  /** Encrypts a (compound) RTCP packet; returns a new buffer with the E|index trailer and tag. */
  protectRtcp(pkt: Buffer): Buffer {
    if (pkt.length < 8) throw new SrtpError('short', `RTCP packet of ${pkt.length} bytes`);
    const ssrc = pkt.readUInt32BE(4);
    const s = this.state(ssrc);
    const index = s.rtcpIndex;
    s.rtcpIndex = (s.rtcpIndex + 1) & 0x7fffffff;
    if (this.session) {
      const out = Buffer.allocUnsafe(pkt.length + 4 + (this.gcm ? GCM_TAG : CM_TAG));
      pkt.copy(out, 0);
      this.nat!.protectRtcp(this.session, out, 0, pkt.length, index);
      return out;
    }
    const iv = this.rtcpIv(ssrc, index);
    const eIndex = Buffer.allocUnsafe(4);
    eIndex.writeUInt32BE((0x80000000 | index) >>> 0, 0);
    if (this.gcm) {
      const out = Buffer.allocUnsafe(pkt.length + GCM_TAG + 4);
      pkt.copy(out, 0, 0, 8);
      const c = createCipheriv('aes-128-gcm', this.rtcpKey, iv);
      c.setAAD(Buffer.concat([pkt.subarray(0, 8), eIndex]));
      const n = writeThrough(c, pkt.subarray(8), out, 8);
      c.final();
      c.getAuthTag().copy(out, 8 + n);
      eIndex.copy(out, 8 + n + GCM_TAG);
      return out;
    }
    const out = Buffer.allocUnsafe(pkt.length + 4 + CM_TAG);
    pkt.copy(out, 0, 0, 8);
    const c = createCipheriv('aes-128-ctr', this.rtcpKey, iv);
    writeThrough(c, pkt.subarray(8), out, 8);
    c.final();
    eIndex.copy(out, pkt.length);
    createHmac('sha1', this.rtcpAuth).update(out.subarray(0, pkt.length + 4)).digest().copy(out, pkt.length + 4, 0, CM_TAG);
    return out;
  }

  /** Checks and decrypts an SRTCP packet; returns the plain RTCP (a new buffer). */
  unprotectRtcp(pkt: Buffer): Buffer {
    const tagLen = this.gcm ? GCM_TAG : CM_TAG;
    if (pkt.length < 8 + 4 + tagLen) throw new SrtpError('short', `SRTCP packet of ${pkt.length} bytes`);
    const ssrc = pkt.readUInt32BE(4);
    const s = this.state(ssrc);
    let eWord: number;
    let body: Buffer;
    if (this.gcm) {
      eWord = pkt.readUInt32BE(pkt.length - 4);
      body = pkt.subarray(8, pkt.length - 4 - GCM_TAG);
    } else {
      eWord = pkt.readUInt32BE(pkt.length - 4 - CM_TAG);
      body = pkt.subarray(8, pkt.length - 4 - CM_TAG);
    }
    const index = eWord & 0x7fffffff;
    const encrypted = (eWord & 0x80000000) !== 0;
    if (s.rtcpTop >= 0) {
      const d = s.rtcpTop - index;
      if (d >= 64) throw new SrtpError('replay', `SRTCP ${index} is older than the replay window`);
      if (d >= 0 && (s.rtcpWindow >> BigInt(d)) & 1n) throw new SrtpError('replay', `SRTCP ${index} replayed`);
    }
    const out = Buffer.allocUnsafe(8 + body.length);
    pkt.copy(out, 0, 0, 8);
    const iv = this.rtcpIv(ssrc, index);
    if (this.gcm) {
      const eIndex = pkt.subarray(pkt.length - 4);
      const d = createDecipheriv('aes-128-gcm', this.rtcpKey, iv);
      d.setAAD(Buffer.concat([pkt.subarray(0, 8), eIndex]));
      d.setAuthTag(pkt.subarray(pkt.length - 4 - GCM_TAG, pkt.length - 4));
      const plain = d.update(body);
      try {
        d.final();
      } catch {
        throw new SrtpError('auth', 'SRTCP GCM tag mismatch');
      }
      plain.copy(out, 8);
    } else {
      const want = createHmac('sha1', this.rtcpAuth).update(pkt.subarray(0, pkt.length - CM_TAG)).digest().subarray(0, CM_TAG);
      if (!timingSafeEqual(want, pkt.subarray(pkt.length - CM_TAG))) throw new SrtpError('auth', 'SRTCP HMAC tag mismatch');
      if (encrypted) {
        const d = createDecipheriv('aes-128-ctr', this.rtcpKey, iv);
        writeThrough(d, body, out, 8);
        d.final();
      } else body.copy(out, 8);
    }
    if (s.rtcpTop < 0 || index > s.rtcpTop) {
      const shift = s.rtcpTop < 0 ? 64 : index - s.rtcpTop;
      s.rtcpWindow = shift >= 64 ? 1n : ((s.rtcpWindow << BigInt(shift)) | 1n) & 0xffffffffffffffffn;
      s.rtcpTop = index;
    } else s.rtcpWindow |= 1n << BigInt(s.rtcpTop - index);
    return out;
  }
}

/** Runs `data` through the cipher and writes the result at `out[offset..]`; returns its length. */
function writeThrough(c: Cipher | ReturnType<typeof createDecipheriv>, data: Buffer, out: Buffer, offset: number): number {
  const r = c.update(data);
  r.copy(out, offset);
  return r.length;
}

/** Both directions of a DTLS-SRTP transport, from the keys the handshake exported (RFC 5764 §4.2). */
export interface SrtpKeys {
  profile: SrtpProfile;
  localKey: Buffer;
  localSalt: Buffer;
  remoteKey: Buffer;
  remoteSalt: Buffer;
}

/** Outbound (local keys) and inbound (remote keys) contexts of one transport. */
export function srtpPair(k: SrtpKeys, maxSsrcs = 64, useNative = true): { outbound: SrtpContext; inbound: SrtpContext } {
  return { outbound: new SrtpContext(k.profile, k.localKey, k.localSalt, maxSsrcs, useNative), inbound: new SrtpContext(k.profile, k.remoteKey, k.remoteSalt, maxSsrcs, useNative) };
}
