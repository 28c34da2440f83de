/**
 * Server-side WebSocket framing (RFC 6455 §5.2). Pure: builds whole frames so a publication is
 * framed once and the same Buffer is written to every subscriber's socket.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-------+-+-------------+-------------------------------+
 * |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 * |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 * |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 * +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *
 * Server frames are never masked (§5.1), which is what makes encode-once possible.
 */

export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Length of the header for a payload of `len` bytes. */
export function headerLength(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

function writeHeader(buf: Buffer, opcode: number, len: number): number {
  buf[0] = 0x80 | opcode;
  if (len < 126) {
    buf[1] = len;
    return 2;
  }
  if (len < 65536) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
    return 4;
  }
  buf[1] = 127;
  buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
  buf.writeUInt32BE(len >>> 0, 6);
  return 10;
}

/** A complete unfragmented frame around `payload`. */
export function frame(opcode: number, payload: Uint8Array): Buffer {
  const len = payload.length;
  const buf = Buffer.allocUnsafe(headerLength(len) + len);
  const at = writeHeader(buf, opcode, len);
  buf.set(payload, at);
  return buf;
}

/** A complete text frame around a string, encoded straight into the frame buffer (no intermediate copy). */
export function textFrame(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const buf = Buffer.allocUnsafe(headerLength(len) + len);
  const at = writeHeader(buf, Opcode.text, len);
  buf.write(text, at, 'utf8');
  return buf;
}

/** A close frame with a status code and a reason (truncated to fit the 125-byte control frame limit). */
export function closeFrame(code: number, reason: string): Buffer {
  let r = Buffer.from(reason, 'utf8');
  if (r.length > 123) r = r.subarray(0, 123);
  const payload = Buffer.allocUnsafe(2 + r.length);
  payload.writeUInt16BE(code, 0);
  r.copy(payload, 2);
  return frame(Opcode.close, payload);
}
