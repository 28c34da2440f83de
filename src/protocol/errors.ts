import { ErrorCode, type ErrorName, type DisconnectName, DisconnectCode } from './codes.ts';

/**
 * An error answered to one command: `{"t":"err","id":N,"code":C,"message":M,"temporary":B}`.
 * Thrown inside command handlers; the session turns it into a reply and keeps the connection.
 */
export class ReplyError extends Error {
  override readonly name = 'ReplyError';
  readonly code: number;
  readonly temporary: boolean;

  constructor(kind: ErrorName, detail?: string, options?: { cause?: unknown }) {
    const base = ErrorCode[kind];
    super(detail ? `${base.message}: ${detail}` : base.message, options);
    this.code = base.code;
    this.temporary = base.temporary;
  }
}

/**
 * Input that breaks the protocol itself (undecodable bytes, a frame of the wrong shape). The
 * connection is closed with `disconnect` (by default 3501 bad request), because after a framing
 * error the stream cannot be trusted.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly disconnect: DisconnectName;

  constructor(message: string, disconnect: DisconnectName = 'badRequest', options?: { cause?: unknown }) {
    super(message, options);
    this.disconnect = disconnect;
  }

  get code(): number {
    return DisconnectCode[this.disconnect].code;
  }
}
