/**
 * FINGERPRINT (RFC 8489 §14.7): CRC-32 (ITU V.42, the zlib one) of the message up to the
 * attribute, XOR'ed with 0x5354554e. Its header length already counts the FINGERPRINT itself,
 * because it is always last.
 */
import { crc32 } from 'node:zlib';
import { AttrType, FINGERPRINT_XOR } from './constants.ts';
import type { DecodedStunMessage } from './message.ts';

/** The FINGERPRINT value of `data` (everything before the attribute, header length final). */
export function fingerprintOf(data: Buffer): number {
  return (crc32(data) ^ FINGERPRINT_XOR) >>> 0;
}

/**
 * True when the message has no FINGERPRINT or a correct one. RFC 8489 §7.3: a message whose
 * FINGERPRINT does not match is not treated as STUN (the server discards it).
 */
export function verifyFingerprint(msg: DecodedStunMessage): boolean {
  const last = msg.attributes[msg.attributes.length - 1];
  if (!last || last.type !== AttrType.fingerprint) return true;
  return fingerprintOf(msg.raw.subarray(0, last.offset)) === last.value.readUInt32BE(0);
}

/** Whether the message carries a FINGERPRINT (responses mirror the request's choice). */
export function hasFingerprint(msg: DecodedStunMessage): boolean {
  return msg.attributes[msg.attributes.length - 1]?.type === AttrType.fingerprint;
}
