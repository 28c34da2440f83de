/**
 * Long-polling framing. A frame is its plain JSON text (shared by every polling subscriber of a
 * publication through the Hub's per-Format cache); a poll response is a batch
 * `{"seq":N,"frames":[frame,frame,…]}` assembled from those bytes without re-encoding them.
 */
import { jsonCodec } from '../../protocol/codec.ts';
import type { Format } from '../../server/format.ts';

export const pollJson: Format = {
  key: 'poll-json',
  codec: jsonCodec,
  encode: (f) => Buffer.from(JSON.stringify(f)),
  fromJson: (json) => Buffer.from(json),
};

const COMMA = Buffer.from(',');
const TAIL = Buffer.from(']}');

/** `{"seq":N,"frames":[…]}` from already-encoded frames. */
export function batchBody(seq: number, frames: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`{"seq":${seq},"frames":[`)];
  frames.forEach((f, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(f);
  });
  parts.push(TAIL);
  return Buffer.concat(parts);
}

/** A response with no frames: `seq` repeats the newest acknowledged batch and needs no ack. */
export function emptyBody(seq: number): Buffer {
  return Buffer.from(`{"seq":${seq},"frames":[]}`);
}
