/**
 * Cuts a byte stream (TURN over TCP, RFC 8656 §12.5 / RFC 8489 §6.2.2) into whole STUN and
 * ChannelData messages. Pure: the TCP adapter feeds chunks in, gets frames out.
 *
 * STUN frames are 20 + the header's length. ChannelData frames are 4 + the length rounded up to
 * 4, because over TCP "the ChannelData message MUST be padded to a multiple of four bytes". The
 * two leading bits tell them apart; anything else (10, 11) means the stream is not TURN, and no
 * later byte can be trusted, so {@link StreamFramer.push} throws and the caller closes.
 */
import { HEADER_LENGTH } from './constants.ts';
import { StunDecodeError } from './errors.ts';

export class StreamFramer {
  private pending: Buffer = Buffer.alloc(0);

  /** @param maxBuffered bytes held while waiting for a frame's end before giving up. @default 131072 */
  constructor(private readonly maxBuffered = 128 * 1024) {}

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.pending.length;
  }

  /**
   * Adds `chunk` and returns every complete frame now available (views into the buffered bytes;
   * ChannelData frames include their padding). Throws StunDecodeError on an impossible header.
   */
  push(chunk: Buffer): Buffer[] {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      if (buf.length < 4) break;
      const lead = buf[0]! & 0xc0;
      const length = buf.readUInt16BE(2);
      let size: number;
      if (lead === 0x00) {
        if (length % 4 !== 0) throw new StunDecodeError(`STUN length ${length} on a stream is not a multiple of 4`);
        size = HEADER_LENGTH + length;
      } else if (lead === 0x40) {
        size = 4 + ((length + 3) & ~3);
      } else {
        throw new StunDecodeError(`stream byte 0x${buf[0]!.toString(16)} starts neither STUN nor ChannelData`);
      }
      if (buf.length < size) break;
      frames.push(buf.subarray(0, size));
      buf = buf.subarray(size);
    }
    if (buf.length > this.maxBuffered) throw new StunDecodeError(`${buf.length} bytes buffered without a complete frame`);
    // Copy the tail so the (possibly large) chunk it points into can be collected.
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return frames;
  }
}
