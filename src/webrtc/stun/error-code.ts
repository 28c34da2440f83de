/**
 * ERROR-CODE (RFC 8489 §14.8).
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           Reserved, should be 0         |Class|     Number    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |      Reason Phrase (variable)                                ..
 *
 * "The Class represents the hundreds digit of the error code. The value MUST be between 3 and 6.
 * The Number represents the binary encoding of the error code modulo 100, and its value MUST be
 * between 0 and 99." The reason phrase is UTF-8 of fewer than 128 characters (763 bytes).
 */
import { StunDecodeError } from './errors.ts';

export interface ErrorCodeValue {
  readonly code: number;
  readonly reason: string;
}

const MAX_REASON_BYTES = 763;

export function decodeErrorCode(value: Buffer): ErrorCodeValue {
  if (value.length < 4) throw new StunDecodeError(`ERROR-CODE too short: ${value.length} bytes`);
  if (value.length > 4 + MAX_REASON_BYTES) throw new StunDecodeError(`ERROR-CODE reason too long: ${value.length - 4} bytes`);
  const cls = value[2]! & 0x07;
  const num = value[3]!;
  if (cls < 3 || cls > 6 || num > 99) throw new StunDecodeError(`ERROR-CODE class ${cls} number ${num} out of range`);
  return { code: cls * 100 + num, reason: value.subarray(4).toString('utf8') };
}

export function encodeErrorCode(code: number, reason: string): Buffer {
  if (!Number.isInteger(code) || code < 300 || code > 699) throw new RangeError(`error code ${code} out of range 300..699`);
  let text = Buffer.from(reason, 'utf8');
  if (text.length > MAX_REASON_BYTES) text = text.subarray(0, MAX_REASON_BYTES);
  const out = Buffer.alloc(4 + text.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  text.copy(out, 4);
  return out;
}
