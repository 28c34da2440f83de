/**
 * Errors the SDK hands to the application. Each has a `name`, a message that says what happened,
 * and a `cause` when one exists.
 */

/** Base class of every SDK error. */
export class ClientError extends Error {
  override readonly name: string = 'ClientError';
}

/** The server answered a command with `{"t":"err"}` (docs/protocol.md "Errors"). */
export class ServerError extends ClientError {
  override readonly name = 'ServerError';
  /** Wire error code (100–199), see `ErrorCode` in src/protocol/codes.ts. */
  readonly code: number;
  /** Whether retrying the same command later may succeed. */
  readonly temporary: boolean;

  constructor(code: number, message: string, temporary: boolean) {
    super(`server error ${code}: ${message}`);
    this.code = code;
    this.temporary = temporary;
  }
}

/** No reply arrived within `options.timeout`. */
export class TimeoutError extends ClientError {
  override readonly name = 'TimeoutError';
}

/**
 * The connection was lost while the command was in flight, so its outcome is unknown. Publishes
 * with an idempotency key are resent instead of failing with this error.
 */
export class ConnectionLostError extends ClientError {
  override readonly name = 'ConnectionLostError';
}

/** A request (presence, history) was made while the client was not connected. */
export class NotConnectedError extends ClientError {
  override readonly name = 'NotConnectedError';
}

/** The offline publish queue already holds `maxOfflineQueue` publications. */
export class OfflineQueueFullError extends ClientError {
  override readonly name = 'OfflineQueueFullError';
}

/** The client was closed with `close()`; nothing queued will be sent. */
export class ClientClosedError extends ClientError {
  override readonly name = 'ClientClosedError';
}

/** The encoded command is larger than `maxMessageBytes` (the server would close the connection: 1009 on WebSocket, 3504 on SSE and long polling). */
export class MessageTooLargeError extends ClientError {
  override readonly name = 'MessageTooLargeError';
}

/**
 * Thrown by an application's `getToken` to say that no token can be had (the user logged out):
 * the client stops reconnecting instead of retrying.
 */
export class UnauthorizedError extends ClientError {
  override readonly name = 'UnauthorizedError';
}

/** The subscription was removed (by `unsubscribe()`, the server, or `close()`) before it completed. */
export class UnsubscribedError extends ClientError {
  override readonly name = 'UnsubscribedError';
}

/** `err` as an Error (a thrown non-Error becomes a ClientError with its text). */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new ClientError(String(err));
}
