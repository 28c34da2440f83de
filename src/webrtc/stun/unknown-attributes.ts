/**
 * UNKNOWN-ATTRIBUTES (RFC 8489 §14.9): the 16-bit types of the comprehension-required attributes
 * the server did not understand, sent with a 420 error.
 */
import { isComprehensionRequired } from './constants.ts';
import { StunDecodeError } from './errors.ts';
import type { StunMessageInit } from './message.ts';

export function decodeUnknownAttributes(value: Buffer): number[] {
  if (value.length % 2 !== 0) throw new StunDecodeError(`UNKNOWN-ATTRIBUTES length ${value.length} is odd`);
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 2) out.push(value.readUInt16BE(i));
  return out;
}

export function encodeUnknownAttributes(types: readonly number[]): Buffer {
  const out = Buffer.alloc(types.length * 2);
  types.forEach((t, i) => out.writeUInt16BE(t, i * 2));
  return out;
}

/**
 * The comprehension-required attribute types in `msg` not in `known`, each once, in order.
 * RFC 8489 §6.3.1: a request with any gets a 420 listing them; an indication is discarded.
 */
export function unknownComprehensionRequired(msg: StunMessageInit, known: ReadonlySet<number>): number[] {
  const out: number[] = [];
  for (const a of msg.attributes) {
    if (isComprehensionRequired(a.type) && !known.has(a.type) && !out.includes(a.type)) out.push(a.type);
  }
  return out;
}
