/**
 * MAPPED-ADDRESS (RFC 8489 §14.1) and the XOR'ed family: XOR-MAPPED-ADDRESS (§14.2),
 * XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS (RFC 8656 §18.3, §18.5), which share its encoding.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |0 0 0 0 0 0 0 0|    Family     |         X-Port                |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                X-Address (Variable)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * X-Port is the port XOR the cookie's high 16 bits; an IPv4 X-Address is XOR the cookie, an IPv6
 * one XOR the cookie followed by the transaction id (§14.2).
 */
import { MAGIC_COOKIE, TRANSACTION_ID_LENGTH } from './constants.ts';
import { StunDecodeError } from './errors.ts';
import { readIp, writeIp, type TransportAddress } from './ip.ts';

/** RFC 8489 §14.1: family 0x01 is IPv4, 0x02 IPv6. */
const FAMILY_V4 = 0x01;
const FAMILY_V6 = 0x02;

function xorMask(transactionId: Buffer): Buffer {
  const mask = Buffer.allocUnsafe(16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  transactionId.copy(mask, 4, 0, TRANSACTION_ID_LENGTH);
  return mask;
}

function decode(value: Buffer, transactionId: Buffer | undefined, name: string): TransportAddress {
  if (value.length < 4) throw new StunDecodeError(`${name} too short: ${value.length} bytes`);
  const familyByte = value[1];
  const family = familyByte === FAMILY_V4 ? 4 : familyByte === FAMILY_V6 ? 6 : 0;
  if (family === 0) throw new StunDecodeError(`${name} has unknown address family 0x${(familyByte ?? 0).toString(16)}`);
  const want = family === 4 ? 8 : 20;
  if (value.length !== want) throw new StunDecodeError(`${name} IPv${family} must be ${want} bytes, got ${value.length}`);
  let port = value.readUInt16BE(2);
  if (!transactionId) return { family, address: readIp(value, 4, family), port };
  port ^= MAGIC_COOKIE >>> 16;
  const mask = xorMask(transactionId);
  const plain = Buffer.allocUnsafe(16);
  for (let i = 0; i < want - 4; i++) plain[i] = value[4 + i]! ^ mask[i]!;
  return { family, address: readIp(plain, 0, family), port };
}

function encode(addr: TransportAddress, transactionId: Buffer | undefined): Buffer {
  const ip = Buffer.alloc(16);
  const family = writeIp(addr.address, ip, 0);
  const len = family === 4 ? 4 : 16;
  const out = Buffer.alloc(4 + len);
  out[1] = family === 4 ? FAMILY_V4 : FAMILY_V6;
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 0xffff) throw new RangeError(`bad port ${addr.port}`);
  if (!transactionId) {
    out.writeUInt16BE(addr.port, 2);
    ip.copy(out, 4, 0, len);
    return out;
  }
  out.writeUInt16BE(addr.port ^ (MAGIC_COOKIE >>> 16), 2);
  const mask = xorMask(transactionId);
  for (let i = 0; i < len; i++) out[4 + i] = ip[i]! ^ mask[i]!;
  return out;
}

/** Decodes an XOR-*-ADDRESS value. Throws StunDecodeError on a bad family or length. */
export function decodeXorAddress(value: Buffer, transactionId: Buffer, name = 'XOR address'): TransportAddress {
  return decode(value, transactionId, name);
}

export function encodeXorAddress(addr: TransportAddress, transactionId: Buffer): Buffer {
  return encode(addr, transactionId);
}

/** Decodes a plain MAPPED-ADDRESS / ALTERNATE-SERVER value. */
export function decodeMappedAddress(value: Buffer, name = 'MAPPED-ADDRESS'): TransportAddress {
  return decode(value, undefined, name);
}

export function encodeMappedAddress(addr: TransportAddress): Buffer {
  return encode(addr, undefined);
}
