/**
 * HTTP/3, QPACK and WebTransport error codes, and the error a decoder throws. Codes are the wire
 * values a connection (or stream) is closed with, so every decode failure says which one.
 */
import { ProtocolError } from '../../protocol/errors.ts';

/** RFC 9114 §8.1 HTTP/3 error codes, RFC 9204 §6 QPACK error codes. */
export const H3ErrorCode = {
  noError: 0x100,
  generalProtocolError: 0x101,
  internalError: 0x102,
  streamCreationError: 0x103,
  closedCriticalStream: 0x104,
  frameUnexpected: 0x105,
  frameError: 0x106,
  excessiveLoad: 0x107,
  idError: 0x108,
  settingsError: 0x109,
  missingSettings: 0x10a,
  requestRejected: 0x10b,
  requestCancelled: 0x10c,
  requestIncomplete: 0x10d,
  messageError: 0x10e,
  connectError: 0x10f,
  versionFallback: 0x110,
  qpackDecompressionFailed: 0x200,
  qpackEncoderStreamError: 0x201,
  qpackDecoderStreamError: 0x202,
  /** draft-ietf-webtrans-http3 §9.5: a buffered stream whose session was rejected. */
  wtBufferedStreamRejected: 0x3994bd84,
  /** draft-ietf-webtrans-http3: the session went away before the stream was handled. */
  wtSessionGone: 0x170d7b68,
} as const;

export type H3ErrorName = keyof typeof H3ErrorCode;

/**
 * A peer broke HTTP/3, QPACK or the capsule protocol. `h3code` is what the connection (or the
 * stream, for `stream: true`) is closed with. A ProtocolError, so the fuzz harness and the
 * session treat it like every other decode failure.
 */
export class H3Error extends ProtocolError {
  readonly h3code: number;
  readonly kind: H3ErrorName;

  constructor(kind: H3ErrorName, message: string) {
    super(`${kind} (0x${H3ErrorCode[kind].toString(16)}): ${message}`);
    Object.defineProperty(this, 'name', { value: 'H3Error' });
    this.kind = kind;
    this.h3code = H3ErrorCode[kind];
  }
}
