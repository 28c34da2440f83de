/**
 * MESSAGE-INTEGRITY (RFC 8489 §14.5) and MESSAGE-INTEGRITY-SHA256 (§14.6), and the long-term
 * credential key (§9.2.2).
 *
 * The HMAC covers the message up to (not including) the integrity attribute, with the header's
 * length field rewritten as if that attribute were the last one (§14.5: "the length MUST then be
 * set to point to the length of the prefix of the message up to, and including, the
 * MESSAGE-INTEGRITY attribute itself, but excluding any attributes after it").
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { AttrType, HEADER_LENGTH } from './constants.ts';
import type { DecodedStunMessage } from './message.ts';

/** Writes HMAC(`key`, `data`) into `out` at `offset`. `data` must start with the 20-byte header. */
export function hmacInto(algorithm: 'sha1' | 'sha256', key: Buffer, data: Buffer, out: Buffer, offset: number): void {
  createHmac(algorithm, key).update(data).digest().copy(out, offset);
}

/**
 * Long-term credential key, RFC 8489 §9.2.2: MD5(username ":" realm ":" password). The RFC
 * applies OpaqueString (RFC 8265) to the password and SASLprep-style processing to realm and
 * username first; we use the strings as given, which is what coturn does for ASCII credentials.
 */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}

/** Which integrity attribute, if any, a message carries (SHA256 wins when both are present). */
export function integrityKind(msg: DecodedStunMessage): 'sha1' | 'sha256' | undefined {
  let kind: 'sha1' | 'sha256' | undefined;
  for (const a of msg.attributes) {
    if (a.type === AttrType.messageIntegritySha256) return 'sha256';
    if (a.type === AttrType.messageIntegrity) kind = 'sha1';
  }
  return kind;
}

/**
 * Checks MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY, against `key`.
 * False when neither is present or the HMAC differs (compared in constant time).
 */
export function verifyIntegrity(msg: DecodedStunMessage, key: Buffer): boolean {
  const sha256 = msg.attributes.find((a) => a.type === AttrType.messageIntegritySha256);
  const attr = sha256 ?? msg.attributes.find((a) => a.type === AttrType.messageIntegrity);
  if (!attr) return false;
  const algorithm = sha256 ? 'sha256' : 'sha1';
  const header = Buffer.from(msg.raw.subarray(0, HEADER_LENGTH));
  header.writeUInt16BE(attr.offset + 4 + attr.value.length - HEADER_LENGTH, 2);
  const mac = createHmac(algorithm, key).update(header).update(msg.raw.subarray(HEADER_LENGTH, attr.offset)).digest();
  // §14.6: a truncated SHA256 MAC compares against the same number of leading bytes.
  const expected = mac.subarray(0, attr.value.length);
  return expected.length === attr.value.length && timingSafeEqual(expected, attr.value);
}
