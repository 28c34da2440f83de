/**
 * Switchboard protocol frames on a WebTransport stream. A stream is a byte pipe without message
 * boundaries, so each encoded frame (JSON text or MessagePack, the same codecs as everywhere,
 * src/protocol/codec.ts) is prefixed with its length as a QUIC varint:
 *
 *   Message { Length (i), Payload (Length) }
 *
 * The same framing carries datagrams' payloads, so a lossy publication is byte-for-byte the
 * message it would have been on the stream. MessageReader bounds every message by
 * `maxMessageBytes` before buffering it (DESIGN principle 5).
 */
import { jsonCodec, msgpackCodec } from '../../protocol/codec.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { Format } from '../../server/format.ts';
import { readVarint, varintSize, writeVarint } from './varint.ts';

export function frameMessage(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(varintSize(payload.length) + payload.length);
  const at = writeVarint(out, 0, payload.length);
  out.set(payload, at);
  return out;
}

export class MessageReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageBytes: number) {}

  /** Messages `chunk` completes. Throws ProtocolError (messageTooBig) for a length past the limit. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      const len = readVarint(buf, at);
      if (len === null) break;
      if (len.value > this.maxMessageBytes) throw new ProtocolError(`message of ${len.value} bytes (limit ${this.maxMessageBytes})`, 'messageTooLarge');
      const start = at + len.length;
      if (buf.length - start < len.value) break;
      out.push(Buffer.from(buf.subarray(start, start + len.value)));
      at = start + len.value;
    }
    buf = buf.subarray(at);
    this.pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
    return out;
  }

  get bufferedBytes(): number {
    return this.pending.length;
  }
}

export const wtJson: Format = {
  key: 'wt-json',
  codec: jsonCodec,
  encode: (f) => frameMessage(Buffer.from(JSON.stringify(f))),
  fromJson: (json) => frameMessage(Buffer.from(json)),
};

export const wtMsgpack: Format = {
  key: 'wt-msgpack',
  codec: msgpackCodec,
  encode: (f) => frameMessage(msgpackCodec.encode(f)),
};

/**
 * The formats of publications sent as datagrams (namespaces with `datagrams: true`): the same
 * message with `u: true` added, which tells the SDK that the frame travelled unreliably, so a hole
 * before it is a skipped publication (reported as a `gap`, never re-fetched). A distinct format
 * key, so the Hub's per-format cache encodes it once per publication for every subscriber.
 */
export const wtJsonUnreliable: Format = {
  key: 'wt-json-u',
  codec: jsonCodec,
  encode: (f) => frameMessage(Buffer.from(JSON.stringify({ ...f, u: true }))),
  // The JSON text of a frame is an object: `{"u":true,` + the rest of it.
  fromJson: (json) => frameMessage(Buffer.from(`{"u":true,${json.slice(1)}`)),
};

export const wtMsgpackUnreliable: Format = {
  key: 'wt-msgpack-u',
  codec: msgpackCodec,
  encode: (f) => frameMessage(msgpackCodec.encode({ ...f, u: true })),
};
