/**
 * The WebSocket opening handshake (RFC 6455 §4.2), done on the raw socket of an HTTP `upgrade`
 * event: validate the §4.2.1 MUSTs (HTTP/1.1+ GET, Host, Upgrade, Connection, a 16-byte base64
 * key, version 13), pick the subprotocol (= codec), answer 101 — or refuse with a JSON HTTP error.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { SUBPROTOCOLS, type CodecName } from '../../protocol/codec.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /^[A-Za-z0-9+/]{22}==$/;

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface HandshakeResult {
  codec: CodecName;
  /** The subprotocol echoed to the client, if it offered one. */
  protocol: string | undefined;
  accept: string;
}

/** Validates an upgrade request. Throws HandshakeError with the HTTP status to answer. */
export function checkUpgrade(req: IncomingMessage, url: URL): HandshakeResult {
  if (req.method !== 'GET') throw new HandshakeError(405, 'WebSocket upgrade must use GET');
  // §4.2.1 items 1 and 2: "An HTTP/1.1 or higher GET request" with "A |Host| header field".
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) throw new HandshakeError(400, 'WebSocket upgrade needs HTTP/1.1 or later');
  if (!req.headers.host) throw new HandshakeError(400, 'missing Host header');
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') throw new HandshakeError(400, 'Upgrade header must be "websocket"');
  if (!/\bupgrade\b/i.test(req.headers.connection ?? '')) throw new HandshakeError(400, 'Connection header must include "Upgrade"');
  if (req.headers['sec-websocket-version'] !== '13') {
    throw new HandshakeError(426, 'unsupported WebSocket version (13 required)', { 'Sec-WebSocket-Version': '13' });
  }
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY.test(key.trim())) throw new HandshakeError(400, 'missing or invalid Sec-WebSocket-Key');
  let codec: CodecName = 'json';
  let protocol: string | undefined;
  const offered = req.headers['sec-websocket-protocol'];
  if (offered) {
    const names = offered.split(',').map((p) => p.trim()).filter(Boolean);
    protocol = names.find((n) => n in SUBPROTOCOLS);
    if (!protocol) throw new HandshakeError(400, `unsupported subprotocol; use one of ${Object.keys(SUBPROTOCOLS).join(', ')}`);
    codec = SUBPROTOCOLS[protocol]!;
  } else {
    const f = url.searchParams.get('format');
    if (f === 'msgpack' || f === 'json') codec = f;
    else if (f !== null) throw new HandshakeError(400, 'format must be json or msgpack');
  }
  const accept = createHash('sha1').update(key.trim() + GUID).digest('base64');
  return { codec, protocol, accept };
}

/** Writes the 101 response. */
export function acceptUpgrade(socket: Duplex, result: HandshakeResult): void {
  let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${result.accept}\r\n`;
  if (result.protocol) head += `Sec-WebSocket-Protocol: ${result.protocol}\r\n`;
  socket.write(head + '\r\n');
}

/** Answers an upgrade with an HTTP error (JSON body) and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { code: status, message } });
  let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (socket.writable) socket.end(head + '\r\n' + body);
  else socket.destroy();
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};
