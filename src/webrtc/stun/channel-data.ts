/**
 * ChannelData messages (RFC 8656 §12.4): the 4-byte-header framing TURN uses on channels.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |         Channel Number        |            Length             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    /                       Application Data                        /
 *
 * The first two bits are 01 (channel numbers 0x4000–0x7FFF), which is how it is told apart from
 * STUN (00). §12.5: over TCP the message MUST be padded to a multiple of 4 bytes; over UDP the
 * padding is optional and "the receiver MUST accept" a datagram with or without it.
 */
import { CHANNEL_MAX, CHANNEL_MIN } from './constants.ts';
import { StunDecodeError } from './errors.ts';

export const CHANNEL_HEADER_LENGTH = 4;

/** True when the first byte says ChannelData (leading bits 01). */
export function looksLikeChannelData(buf: Buffer): boolean {
  return buf.length >= CHANNEL_HEADER_LENGTH && (buf[0]! & 0xc0) === 0x40;
}

export interface ChannelData {
  readonly channel: number;
  /** A view into the input, not a copy. */
  readonly data: Buffer;
}

/**
 * Decodes one ChannelData message. `buf` may carry up to 3 bytes of padding after the data (and
 * no more: anything longer is not one message). Throws StunDecodeError on a short buffer, a
 * channel number outside 0x4000–0x7FFF (see CHANNEL_MAX) or a length past the end.
 */
export function decodeChannelData(buf: Buffer): ChannelData {
  if (buf.length < CHANNEL_HEADER_LENGTH) throw new StunDecodeError(`ChannelData truncated: ${buf.length} bytes`);
  const channel = buf.readUInt16BE(0);
  if (channel < CHANNEL_MIN || channel > CHANNEL_MAX) throw new StunDecodeError(`ChannelData channel 0x${channel.toString(16)} outside 0x4000-0x7FFF`);
  const length = buf.readUInt16BE(2);
  const end = CHANNEL_HEADER_LENGTH + length;
  if (end > buf.length) throw new StunDecodeError(`ChannelData length ${length} runs past the ${buf.length - CHANNEL_HEADER_LENGTH} bytes received`);
  if (buf.length - end > 3) throw new StunDecodeError(`ChannelData has ${buf.length - end} trailing bytes (padding is at most 3)`);
  return { channel, data: buf.subarray(CHANNEL_HEADER_LENGTH, end) };
}

/** The 4-byte header for `length` bytes on `channel`; callers send [header, data] without copying. */
export function channelDataHeader(channel: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(CHANNEL_HEADER_LENGTH);
  h.writeUInt16BE(channel, 0);
  h.writeUInt16BE(length, 2);
  return h;
}

/** A whole ChannelData message; `pad` rounds it up to 4 bytes (required over TCP, §12.5). */
export function encodeChannelData(channel: number, data: Buffer, pad = false): Buffer {
  if (data.length > 0xffff) throw new RangeError(`ChannelData payload too long: ${data.length}`);
  const size = CHANNEL_HEADER_LENGTH + (pad ? (data.length + 3) & ~3 : data.length);
  const out = Buffer.alloc(size);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, CHANNEL_HEADER_LENGTH);
  return out;
}
