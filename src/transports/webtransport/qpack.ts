/**
 * QPACK field sections (RFC 9204 §4.5) without a dynamic table. We advertise
 * QPACK_MAX_TABLE_CAPACITY = 0, so a peer may only use the static table and literals; any
 * dynamic reference (a non-zero Required Insert Count, T=0 indexes, post-base forms) is
 * QPACK_DECOMPRESSION_FAILED (§2.2.3: "it MUST treat this as a connection error of type
 * QPACK_DECOMPRESSION_FAILED"). With no dynamic table there is nothing to put on the encoder and
 * decoder streams, and no section can block.
 *
 *   Encoded Field Section Prefix: Required Insert Count (8+), S (1), Delta Base (7+)
 *   Indexed Field Line:                 1 T Index (6+)
 *   Literal Field Line With Name Ref:   0 1 N T Name Index (4+), H Value Length (7+), Value
 *   Literal Field Line With Literal Name: 0 0 1 N H Name Length (3+), Name, H Value Length (7+), Value
 *   Indexed Field Line With Post-Base Index: 0 0 0 1 Index (4+)
 *   Literal Field Line With Post-Base Name Ref: 0 0 0 0 N NameIdx (3+), H Value Length (7+), Value
 */
import { H3Error } from './errors.ts';
import { huffmanDecode, huffmanEncode, huffmanLength } from './huffman.ts';
import { STATIC_TABLE } from './qpack-static.ts';

export type Field = readonly [name: string, value: string];

export interface QpackLimits {
  /** Most decoded bytes of names plus values (plus 32 per field, as RFC 9114 §4.2.2 counts). @default 16384 */
  maxSectionBytes?: number;
  /** Most field lines. @default 128 */
  maxFields?: number;
}

const fail = (m: string) => new H3Error('qpackDecompressionFailed', m);

/** A prefixed integer (RFC 7541 §5.1) at `at` with an `n`-bit prefix: [value, next offset]. */
export function readPrefixInt(buf: Uint8Array, at: number, n: number): [number, number] {
  if (at >= buf.length) throw fail('field section ends inside an integer');
  const max = (1 << n) - 1;
  let v = buf[at]! & max;
  at++;
  if (v < max) return [v, at];
  let m = 0;
  for (;;) {
    if (at >= buf.length) throw fail('field section ends inside an integer');
    const b = buf[at++]!;
    v += (b & 0x7f) * 2 ** m;
    m += 7;
    if (v > 0xffffffff) throw fail('integer too large');
    if ((b & 0x80) === 0) return [v, at];
  }
}

/** Writes a prefixed integer; `flags` fills the bits above the prefix of the first byte. */
export function writePrefixInt(out: number[], v: number, n: number, flags: number): void {
  const max = (1 << n) - 1;
  if (v < max) {
    out.push(flags | v);
    return;
  }
  out.push(flags | max);
  v -= max;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** A string literal whose H bit sits just above an `n`-bit length prefix. */
function readString(buf: Uint8Array, at: number, n: number, budget: number): [string, number] {
  if (at >= buf.length) throw fail('field section ends inside a string');
  const huffman = (buf[at]! & (1 << n)) !== 0;
  const [len, start] = readPrefixInt(buf, at, n);
  if (start + len > buf.length) throw fail('string runs past the field section');
  const raw = buf.subarray(start, start + len);
  if (!huffman) {
    if (len > budget) throw new H3Error('excessiveLoad', 'field section too large');
    return [Buffer.from(raw).toString('latin1'), start + len];
  }
  return [huffmanDecode(raw, budget).toString('latin1'), start + len];
}

function staticEntry(index: number): readonly [string, string] {
  const e = STATIC_TABLE[index];
  if (!e) throw fail(`static table index ${index} out of range`);
  return e;
}

/**
 * Decodes one field section (the payload of a HEADERS frame). Names and values come back as
 * latin1 strings (field values are octets, RFC 9110 §5.5); the caller validates them.
 */
export function decodeFieldSection(buf: Uint8Array, limits: QpackLimits = {}): Field[] {
  const maxBytes = limits.maxSectionBytes ?? 16384;
  const maxFields = limits.maxFields ?? 128;
  let [ric, at] = readPrefixInt(buf, 0, 8);
  if (ric !== 0) throw fail(`Required Insert Count ${ric} with no dynamic table`);
  [, at] = readPrefixInt(buf, at, 7); // S and Delta Base: meaningless with RIC 0 (§4.5.1.2).
  const out: Field[] = [];
  let used = 0;
  const budget = () => maxBytes - used;
  while (at < buf.length) {
    if (out.length >= maxFields) throw new H3Error('excessiveLoad', `more than ${maxFields} fields`);
    const b = buf[at]!;
    let field: Field;
    if (b & 0x80) {
      if (!(b & 0x40)) throw fail('dynamic table reference');
      let idx: number;
      [idx, at] = readPrefixInt(buf, at, 6);
      field = staticEntry(idx);
    } else if (b & 0x40) {
      if (!(b & 0x10)) throw fail('dynamic table name reference');
      let idx: number;
      [idx, at] = readPrefixInt(buf, at, 4);
      const name = staticEntry(idx)[0];
      let value: string;
      [value, at] = readString(buf, at, 7, budget() - name.length);
      field = [name, value];
    } else if (b & 0x20) {
      let name: string;
      [name, at] = readString(buf, at, 3, budget());
      let value: string;
      [value, at] = readString(buf, at, 7, budget() - name.length);
      field = [name, value];
    } else {
      throw fail('post-base reference with no dynamic table');
    }
    used += field[0].length + field[1].length + 32;
    if (used > maxBytes) throw new H3Error('excessiveLoad', `field section larger than ${maxBytes} bytes`);
    out.push(field);
  }
  return out;
}

const exact = new Map<string, number>();
const byName = new Map<string, number>();
STATIC_TABLE.forEach(([n, v], i) => {
  exact.set(`${n}\0${v}`, i);
  if (!byName.has(n)) byName.set(n, i);
});

function pushString(out: number[], s: string, n: number, flags: number): void {
  const raw = Buffer.from(s, 'latin1');
  const hl = huffmanLength(raw);
  if (hl < raw.length) {
    writePrefixInt(out, hl, n, flags | (1 << n));
    for (const c of huffmanEncode(raw)) out.push(c);
  } else {
    writePrefixInt(out, raw.length, n, flags);
    for (const c of raw) out.push(c);
  }
}

/** Encodes fields with static-table references where they match, literals otherwise (Huffman when shorter). */
export function encodeFieldSection(fields: readonly Field[]): Buffer {
  const out: number[] = [0x00, 0x00];
  for (const [name, value] of fields) {
    const full = exact.get(`${name}\0${value}`);
    if (full !== undefined) {
      writePrefixInt(out, full, 6, 0xc0);
      continue;
    }
    const ni = byName.get(name);
    if (ni !== undefined) {
      writePrefixInt(out, ni, 4, 0x50);
    } else {
      pushString(out, name, 3, 0x20);
    }
    pushString(out, value, 7, 0x00);
  }
  return Buffer.from(out);
}
