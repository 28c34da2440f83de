/**
 * The packet layer's error vocabulary. Decoders throw only {@link RtpDecodeError}; anything else
 * escaping them is a bug (the fuzz targets check exactly that). RFC 3550 §6.1 / RFC 3711: a packet
 * that cannot be parsed is dropped, so callers catch this, count it by `code`, and move on.
 */

/** Why a packet was refused, with the message each code stands for. */
export const RtpErrorCode = {
  short: 'shorter than its headers say',
  tooLarge: 'larger than the configured maximum',
  version: 'RTP/RTCP version is not 2',
  padding: 'invalid padding count',
  extension: 'malformed header extension',
  length: 'length field does not match the packet',
  field: 'a field holds a value the format forbids',
  codec: 'payload is not valid for its codec / packetization mode',
} as const;
export type RtpErrorName = keyof typeof RtpErrorCode;

export class RtpDecodeError extends Error {
  override readonly name = 'RtpDecodeError';

  constructor(
    readonly code: RtpErrorName,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${RtpErrorCode[code]}: ${detail}`, options);
  }
}
