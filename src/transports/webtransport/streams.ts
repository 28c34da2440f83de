/**
 * Stream types (RFC 9114 §6.2, RFC 9204 §4.2, draft-ietf-webtrans-http3 §4) and HTTP Datagram
 * framing (RFC 9297 §2.1): what the first bytes of a stream or a QUIC DATAGRAM mean.
 */
import { H3Error } from './errors.ts';
import { readVarint, varintSize, writeVarint } from './varint.ts';

/** Unidirectional stream types: the first varint on a uni stream. */
export const UniStreamType = {
  control: 0x00,
  push: 0x01,
  qpackEncoder: 0x02,
  qpackDecoder: 0x03,
  /** WebTransport unidirectional stream: then the session ID, then raw data. */
  webtransport: 0x54,
} as const;

/** The first varint on a client bidi stream that belongs to a WebTransport session. */
export const WEBTRANSPORT_BIDI_SIGNAL = 0x41;

/** RFC 9000 §2.1: the two low bits of a stream ID say who opened it and in which direction. */
export const isClientBidi = (id: number): boolean => id % 4 === 0;
export const isUni = (id: number): boolean => (id & 0x02) !== 0;

/**
 * HTTP Datagram payload: Quarter Stream ID (i) — the CONNECT stream's ID divided by four
 * (§2.1: "the Quarter Stream ID field ... equal to the stream ID ... divided by four") — then the
 * application bytes.
 */
export function encodeDatagram(sessionStreamId: number, payload: Uint8Array): Buffer {
  if (!isClientBidi(sessionStreamId)) throw new RangeError(`stream ${sessionStreamId} is not a client bidirectional stream`);
  const q = sessionStreamId / 4;
  const out = Buffer.allocUnsafe(varintSize(q) + payload.length);
  const at = writeVarint(out, 0, q);
  out.set(payload, at);
  return out;
}

/** [session stream ID, payload]. RFC 9297 §2.1: a malformed datagram is H3_DATAGRAM_ERROR (0x33); we report frameError-class H3Error. */
export function decodeDatagram(dgram: Uint8Array): [number, Buffer] {
  const q = readVarint(dgram, 0);
  if (q === null) throw new H3Error('generalProtocolError', 'datagram ends inside its Quarter Stream ID');
  if (q.value > Number.MAX_SAFE_INTEGER / 4) throw new H3Error('generalProtocolError', 'Quarter Stream ID out of range');
  return [q.value * 4, Buffer.from(dgram.buffer, dgram.byteOffset + q.length, dgram.length - q.length)];
}

/** The varint prefix of a stream (its type, or after it the session ID); null while incomplete. */
export function readStreamPrefix(buf: Buffer, count: 1 | 2): { values: number[]; rest: Buffer } | null {
  const values: number[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const v = readVarint(buf, at);
    if (v === null) return null;
    values.push(v.value);
    at += v.length;
  }
  return { values, rest: buf.subarray(at) };
}
