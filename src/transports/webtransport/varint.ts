/**
 * QUIC variable-length integers (RFC 9000 §16): the two high bits of the first byte give the
 * length (1, 2, 4 or 8 bytes), the rest is the value in network byte order.
 *
 *   2MSB | Length | Usable bits | Range
 *   00   | 1      | 6           | 0-63
 *   01   | 2      | 14          | 0-16383
 *   10   | 4      | 30          | 0-1073741823
 *   11   | 8      | 62          | 0-4611686018427387903
 *
 * Values are JS numbers: exact up to 2^53 − 1. Above that (only GREASE identifiers get there,
 * and those are skipped, never compared exactly) the value is rounded; lengths never get there
 * because every length is checked against a limit far below.
 */

/** Largest value encodeVarint accepts (exact integers only). */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;

/** A decoded integer and the bytes it took, or null when `buf` ends inside it. */
export interface VarintRead {
  value: number;
  length: number;
}

/** Bytes a varint takes for `first`, its first byte. */
export function varintLength(first: number): number {
  return 1 << (first >> 6);
}

/** Reads a varint at `offset`; null when the buffer ends first (not an error: more may come). */
export function readVarint(buf: Uint8Array, offset = 0): VarintRead | null {
  if (offset >= buf.length) return null;
  const first = buf[offset]!;
  const length = varintLength(first);
  if (offset + length > buf.length) return null;
  let value = first & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + buf[offset + i]!;
  return { value, length };
}

/** Bytes encodeVarint(v) writes. */
export function varintSize(v: number): number {
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x40000000) return 4;
  return 8;
}

/** Writes `v` at `offset` in the shortest form; returns the offset after it. */
export function writeVarint(out: Uint8Array, offset: number, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > MAX_VARINT) throw new RangeError(`varint out of range: ${v}`);
  const n = varintSize(v);
  if (n === 1) {
    out[offset] = v;
  } else if (n === 2) {
    out[offset] = 0x40 | (v >> 8);
    out[offset + 1] = v & 0xff;
  } else if (n === 4) {
    out[offset] = 0x80 | (v >>> 24);
    out[offset + 1] = (v >>> 16) & 0xff;
    out[offset + 2] = (v >>> 8) & 0xff;
    out[offset + 3] = v & 0xff;
  } else {
    const hi = Math.floor(v / 2 ** 32);
    const lo = v >>> 0;
    out[offset] = 0xc0 | (hi >>> 24);
    out[offset + 1] = (hi >>> 16) & 0xff;
    out[offset + 2] = (hi >>> 8) & 0xff;
    out[offset + 3] = hi & 0xff;
    out[offset + 4] = lo >>> 24;
    out[offset + 5] = (lo >>> 16) & 0xff;
    out[offset + 6] = (lo >>> 8) & 0xff;
    out[offset + 7] = lo & 0xff;
  }
  return offset + n;
}

/** One varint as its own buffer. */
export function encodeVarint(v: number): Buffer {
  const out = Buffer.allocUnsafe(varintSize(v));
  writeVarint(out, 0, v);
  return out;
}

/** Several varints back to back (stream type prefixes, capsule headers). */
export function encodeVarints(...vs: number[]): Buffer {
  let n = 0;
  for (const v of vs) n += varintSize(v);
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (const v of vs) at = writeVarint(out, at, v);
  return out;
}
