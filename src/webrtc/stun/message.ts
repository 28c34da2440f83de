/**
 * The STUN message codec (RFC 8489 §5, §14): header, transaction id and the attribute list.
 * Attribute values stay raw bytes here; the typed codecs live one per file beside this one.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |0 0|     STUN Message Type     |         Message Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                         Magic Cookie                          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                     Transaction ID (96 bits)                  |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Each attribute is type (2), length (2), value, then zero padding to a 4-byte boundary (§14).
 */
import { randomFillSync } from 'node:crypto';
import { AttrType, HEADER_LENGTH, MAGIC_COOKIE, StunClass, TRANSACTION_ID_LENGTH } from './constants.ts';
import { StunDecodeError } from './errors.ts';
import { fingerprintOf } from './fingerprint.ts';
import { hmacInto } from './integrity.ts';

export interface StunAttribute {
  readonly type: number;
  readonly value: Buffer;
}

/** An attribute as decoded: `offset` is where its 4-byte header starts in `raw`. */
export interface DecodedAttribute extends StunAttribute {
  readonly offset: number;
}

export interface StunMessageInit {
  readonly method: number;
  readonly cls: StunClass;
  /** 12 bytes. */
  readonly transactionId: Buffer;
  readonly attributes: readonly StunAttribute[];
}

export interface DecodedStunMessage extends StunMessageInit {
  readonly attributes: readonly DecodedAttribute[];
  /** The exact bytes decoded; integrity and fingerprint checks hash ranges of it. */
  readonly raw: Buffer;
}

/** Options for {@link encodeStunMessage}. */
export interface EncodeOptions {
  /** Append MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) keyed with this. */
  integrityKey?: Buffer;
  /** Append MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, RFC 8489 §14.6) keyed with this. */
  integritySha256Key?: Buffer;
  /** Append FINGERPRINT (RFC 8489 §14.7). @default false */
  fingerprint?: boolean;
}

/** RFC 8489 §5: the 14-bit message type interleaves the class bits C1 (bit 8) and C0 (bit 4). */
export function messageType(method: number, cls: StunClass): number {
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | ((cls & 0b10) << 7) | ((cls & 0b01) << 4);
}

export function splitMessageType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  const cls = (((type >> 7) & 0b10) | ((type >> 4) & 0b01)) as StunClass;
  return { method, cls };
}

/** A fresh random 96-bit transaction id (RFC 8489 §5: "uniformly and randomly chosen"). */
export function newTransactionId(): Buffer {
  return randomFillSync(Buffer.allocUnsafe(TRANSACTION_ID_LENGTH));
}

/** The attribute value length rounded up to the 4-byte boundary (RFC 8489 §14). */
export function padded(length: number): number {
  return (length + 3) & ~3;
}

/**
 * Cheap test for "this datagram claims to be STUN": first two bits zero and the magic cookie.
 * RFC 8489 §7.3 and RFC 8656 §12: this is how STUN is told apart from ChannelData (01) and others.
 */
export function looksLikeStun(buf: Buffer): boolean {
  return buf.length >= HEADER_LENGTH && (buf[0]! & 0xc0) === 0 && buf.readUInt32BE(4) === MAGIC_COOKIE;
}

/**
 * Decodes one complete STUN message; `buf` must hold exactly the message (a UDP datagram or a
 * frame cut by {@link StreamFramer}). Throws {@link StunDecodeError} on anything malformed:
 * short header, nonzero leading bits, wrong cookie, length not a multiple of 4 or not matching the
 * buffer, an attribute running past the end, a malformed MESSAGE-INTEGRITY(-SHA256)/FINGERPRINT,
 * or anything after FINGERPRINT.
 *
 * RFC 8489 §14.5: "agents MUST ignore all other attributes that follow MESSAGE-INTEGRITY, with the
 * exception of the MESSAGE-INTEGRITY-SHA256 and FINGERPRINT attributes" — those are left out of
 * `attributes` (§14.6 likewise for MESSAGE-INTEGRITY-SHA256, where only FINGERPRINT may follow).
 */
export function decodeStunMessage(buf: Buffer): DecodedStunMessage {
  if (buf.length < HEADER_LENGTH) throw new StunDecodeError(`STUN message truncated: ${buf.length} bytes, header needs ${HEADER_LENGTH}`);
  const type = buf.readUInt16BE(0);
  if ((type & 0xc000) !== 0) throw new StunDecodeError('not a STUN message: the two leading bits must be zero (RFC 8489 §5)');
  const length = buf.readUInt16BE(2);
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) throw new StunDecodeError('not a STUN message: wrong magic cookie (RFC 8489 §5)');
  if (length % 4 !== 0) throw new StunDecodeError(`STUN message length ${length} is not a multiple of 4 (RFC 8489 §5)`);
  if (HEADER_LENGTH + length !== buf.length) {
    throw new StunDecodeError(`STUN message length field says ${length} but ${buf.length - HEADER_LENGTH} bytes follow the header`);
  }
  const { method, cls } = splitMessageType(type);
  const attributes: DecodedAttribute[] = [];
  let offset = HEADER_LENGTH;
  let seenIntegrity = false;
  let seenIntegrity256 = false;
  let seenFingerprint = false;
  while (offset < buf.length) {
    if (offset + 4 > buf.length) throw new StunDecodeError(`attribute header truncated at offset ${offset}`);
    const atype = buf.readUInt16BE(offset);
    const alen = buf.readUInt16BE(offset + 2);
    const end = offset + 4 + alen;
    if (end > buf.length) throw new StunDecodeError(`attribute 0x${atype.toString(16)} of length ${alen} runs past the message end`);
    if (offset + 4 + padded(alen) > buf.length) throw new StunDecodeError(`attribute 0x${atype.toString(16)} padding runs past the message end`);
    if (seenFingerprint) throw new StunDecodeError('attribute after FINGERPRINT (RFC 8489 §14.7: it must be the last)');
    const value = buf.subarray(offset + 4, end);
    if (atype === AttrType.fingerprint) {
      if (alen !== 4) throw new StunDecodeError(`FINGERPRINT length ${alen}, must be 4`);
      seenFingerprint = true;
      attributes.push({ type: atype, value, offset });
    } else if (atype === AttrType.messageIntegritySha256) {
      // RFC 8489 §14.6: at least 16 bytes, at most 32, a multiple of 4.
      if (alen < 16 || alen > 32 || alen % 4 !== 0) throw new StunDecodeError(`MESSAGE-INTEGRITY-SHA256 length ${alen}, must be 16..32 and a multiple of 4`);
      if (!seenIntegrity256) attributes.push({ type: atype, value, offset });
      seenIntegrity256 = true;
    } else if (atype === AttrType.messageIntegrity) {
      if (alen !== 20) throw new StunDecodeError(`MESSAGE-INTEGRITY length ${alen}, must be 20`);
      if (!seenIntegrity && !seenIntegrity256) attributes.push({ type: atype, value, offset });
      seenIntegrity = true;
    } else if (!seenIntegrity && !seenIntegrity256) {
      attributes.push({ type: atype, value, offset });
    }
    offset += 4 + padded(alen);
  }
  return { method, cls, transactionId: buf.subarray(8, HEADER_LENGTH), attributes, raw: buf };
}

/**
 * Encodes a message, padding attributes with zeros, then appends MESSAGE-INTEGRITY,
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT in that order (RFC 8489 §14.5–14.7) when asked.
 * Integrity attributes already in `attributes` are copied verbatim, which is what a round trip
 * of a decoded message wants.
 */
export function encodeStunMessage(msg: StunMessageInit, opts: EncodeOptions = {}): Buffer {
  if (msg.transactionId.length !== TRANSACTION_ID_LENGTH) throw new RangeError(`transaction id must be ${TRANSACTION_ID_LENGTH} bytes`);
  let size = HEADER_LENGTH;
  for (const a of msg.attributes) {
    if (a.value.length > 0xffff) throw new RangeError(`attribute 0x${a.type.toString(16)} value too long: ${a.value.length}`);
    size += 4 + padded(a.value.length);
  }
  const miAt = size;
  if (opts.integrityKey) size += 4 + 20;
  const mi256At = size;
  if (opts.integritySha256Key) size += 4 + 32;
  const fpAt = size;
  if (opts.fingerprint) size += 4 + 4;
  if (size - HEADER_LENGTH > 0xffff) throw new RangeError(`STUN message too long: ${size} bytes`);

  const out = Buffer.alloc(size);
  out.writeUInt16BE(messageType(msg.method, msg.cls), 0);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  msg.transactionId.copy(out, 8);
  let offset = HEADER_LENGTH;
  for (const a of msg.attributes) {
    out.writeUInt16BE(a.type, offset);
    out.writeUInt16BE(a.value.length, offset + 2);
    a.value.copy(out, offset + 4);
    offset += 4 + padded(a.value.length);
  }
  if (opts.integrityKey) {
    out.writeUInt16BE(miAt + 24 - HEADER_LENGTH, 2);
    out.writeUInt16BE(AttrType.messageIntegrity, miAt);
    out.writeUInt16BE(20, miAt + 2);
    hmacInto('sha1', opts.integrityKey, out.subarray(0, miAt), out, miAt + 4);
  }
  if (opts.integritySha256Key) {
    out.writeUInt16BE(mi256At + 36 - HEADER_LENGTH, 2);
    out.writeUInt16BE(AttrType.messageIntegritySha256, mi256At);
    out.writeUInt16BE(32, mi256At + 2);
    hmacInto('sha256', opts.integritySha256Key, out.subarray(0, mi256At), out, mi256At + 4);
  }
  out.writeUInt16BE(size - HEADER_LENGTH, 2);
  if (opts.fingerprint) {
    out.writeUInt16BE(AttrType.fingerprint, fpAt);
    out.writeUInt16BE(4, fpAt + 2);
    out.writeUInt32BE(fingerprintOf(out.subarray(0, fpAt)), fpAt + 4);
  }
  return out;
}

/** First attribute of `type`, or undefined. */
export function getAttribute(msg: StunMessageInit, type: number): StunAttribute | undefined {
  for (const a of msg.attributes) if (a.type === type) return a;
  return undefined;
}

/** All attributes of `type`, in order (CreatePermission may carry several XOR-PEER-ADDRESS). */
export function getAttributes(msg: StunMessageInit, type: number): StunAttribute[] {
  return msg.attributes.filter((a) => a.type === type);
}
