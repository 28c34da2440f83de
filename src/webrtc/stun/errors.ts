/**
 * STUN error vocabulary: the decoder's typed exception and the ERROR-CODE table.
 */

/**
 * Bytes that are not a valid STUN message, ChannelData message or attribute. The only exception
 * the decoders throw: anything else escaping a decoder is a bug. RFC 8489 §6.3: a server that
 * cannot parse a message silently discards it, so callers catch this and drop the datagram (or
 * close the TCP connection, whose framing can no longer be trusted).
 */
export class StunDecodeError extends Error {
  override readonly name = 'StunDecodeError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * ERROR-CODE values with their reason phrases. RFC 8489 §14.8 (300–500) and RFC 8656 §18
 * (403, 437, 440–443, 486, 508).
 */
export const StunErrorCode = {
  tryAlternate: { code: 300, reason: 'Try Alternate' },
  badRequest: { code: 400, reason: 'Bad Request' },
  unauthenticated: { code: 401, reason: 'Unauthenticated' },
  forbidden: { code: 403, reason: 'Forbidden' },
  unknownAttribute: { code: 420, reason: 'Unknown Attribute' },
  allocationMismatch: { code: 437, reason: 'Allocation Mismatch' },
  staleNonce: { code: 438, reason: 'Stale Nonce' },
  addressFamilyNotSupported: { code: 440, reason: 'Address Family not Supported' },
  wrongCredentials: { code: 441, reason: 'Wrong Credentials' },
  unsupportedTransportProtocol: { code: 442, reason: 'Unsupported Transport Protocol' },
  peerAddressFamilyMismatch: { code: 443, reason: 'Peer Address Family Mismatch' },
  allocationQuotaReached: { code: 486, reason: 'Allocation Quota Reached' },
  serverError: { code: 500, reason: 'Server Error' },
  insufficientCapacity: { code: 508, reason: 'Insufficient Capacity' },
} as const;
export type StunErrorName = keyof typeof StunErrorCode;
