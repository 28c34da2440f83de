/**
 * Codecs turn frames into the bytes of one transport message and back. Pure: no Node imports.
 *
 * - `json`: UTF-8 JSON objects; several frames in one message are separated by "\n".
 * - `msgpack`: MessagePack maps (msgpackr, records off so any MessagePack library interoperates);
 *   several frames in one message are simply concatenated.
 *
 * `decode` never throws anything but ProtocolError, whatever the bytes.
 */
import { Packr } from 'msgpackr';
import { ProtocolError } from './errors.ts';

export type CodecName = 'json' | 'msgpack';

export interface Codec {
  readonly name: CodecName;
  /** Whether messages are binary (WebSocket opcode 2) rather than text (opcode 1). */
  readonly binary: boolean;
  encode(frame: unknown): Uint8Array;
  /** Several frames in one message. */
  encodeMany(frames: readonly unknown[]): Uint8Array;
  /** Decodes one message into its frames (not yet validated). Throws ProtocolError. */
  decode(bytes: Uint8Array | string): unknown[];
}

/** Deepest nesting accepted in any decoded value (protects encoders that recurse). */
export const MAX_DEPTH = 32;
/** Most frames accepted in one message. */
export const MAX_FRAMES_PER_MESSAGE = 256;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Throws ProtocolError if `v` nests deeper than `max`, or holds anything but JSON-shaped data:
 * null, booleans, finite-or-not numbers, strings, arrays, plain objects, and (MessagePack `bin`)
 * byte arrays. MessagePack extension types (BigInt, Date, records…) are refused: a publication
 * must be re-encodable for every subscriber's codec. Iterative: never overflows the stack itself.
 */
export function checkDepth(v: unknown, max = MAX_DEPTH): void {
  if (typeof v !== 'object' || v === null) return checkScalar(v);
  const stack: Array<[unknown, number]> = [[v, 1]];
  let visited = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > max) throw new ProtocolError(`value nests deeper than ${max} levels`);
    if (++visited > 1_000_000) throw new ProtocolError('value has too many elements');
    if (node instanceof Uint8Array) continue;
    let children: unknown[];
    if (Array.isArray(node)) children = node;
    else {
      const proto = Object.getPrototypeOf(node) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new ProtocolError(`unsupported value type ${(node as object).constructor?.name ?? 'object'}`);
      children = Object.values(node as object);
    }
    for (const c of children) {
      if (typeof c === 'object' && c !== null) stack.push([c, depth + 1]);
      else checkScalar(c);
    }
  }
}

function checkScalar(v: unknown): void {
  const t = typeof v;
  if (t === 'string' || t === 'number' || t === 'boolean' || v === null || v === undefined) return;
  throw new ProtocolError(`unsupported value type ${t}`);
}

export const jsonCodec: Codec = {
  name: 'json',
  binary: false,
  encode(frame) {
    return textEncoder.encode(JSON.stringify(frame));
  },
  encodeMany(frames) {
    return textEncoder.encode(frames.map((f) => JSON.stringify(f)).join('\n'));
  },
  decode(bytes) {
    let text: string;
    try {
      text = typeof bytes === 'string' ? bytes : textDecoder.decode(bytes);
    } catch (err) {
      throw new ProtocolError('message is not valid UTF-8', 'badRequest', { cause: err });
    }
    const out: unknown[] = [];
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      const line = text.slice(start, end).trim();
      start = end + 1;
      if (line.length === 0) continue;
      if (out.length >= MAX_FRAMES_PER_MESSAGE) throw new ProtocolError(`more than ${MAX_FRAMES_PER_MESSAGE} frames in one message`);
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (err) {
        throw new ProtocolError(`malformed JSON: ${(err as Error).message}`, 'badRequest', { cause: err });
      }
      checkDepth(v);
      out.push(v);
    }
    if (out.length === 0) throw new ProtocolError('empty message');
    return out;
  },
};

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, moreTypes: false, int64AsType: 'number' });

export const msgpackCodec: Codec = {
  name: 'msgpack',
  binary: true,
  encode(frame) {
    return packr.pack(frame);
  },
  encodeMany(frames) {
    if (frames.length === 1) return packr.pack(frames[0]);
    const parts = frames.map((f) => packr.pack(f) as Uint8Array);
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  },
  decode(bytes) {
    if (typeof bytes === 'string') throw new ProtocolError('MessagePack messages must be binary');
    if (bytes.length === 0) throw new ProtocolError('empty message');
    let values: unknown[];
    try {
      values = packr.unpackMultiple(bytes) as unknown[];
    } catch (err) {
      throw new ProtocolError(`malformed MessagePack: ${(err as Error).message}`, 'badRequest', { cause: err });
    }
    if (values.length > MAX_FRAMES_PER_MESSAGE) throw new ProtocolError(`more than ${MAX_FRAMES_PER_MESSAGE} frames in one message`);
    for (const v of values) checkDepth(v);
    return values;
  },
};

export const codecs: Record<CodecName, Codec> = { json: jsonCodec, msgpack: msgpackCodec };

/**
 * WebSocket subprotocol names, most preferred first. No prototype: the names offered come from the
 * client, and `'toString' in SUBPROTOCOLS` or `SUBPROTOCOLS['__proto__']` must not find
 * Object.prototype members (issue 11 E4).
 */
export const SUBPROTOCOLS: Readonly<Record<string, CodecName>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, CodecName>, {
    'switchboard.json': 'json',
    'switchboard.msgpack': 'msgpack',
  } satisfies Record<string, CodecName>),
);
