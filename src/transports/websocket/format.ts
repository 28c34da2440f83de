/** The WebSocket Formats (server/format.ts): a codec's bytes in one WebSocket frame (RFC 6455 §5.2). */
import { jsonCodec, msgpackCodec } from '../../protocol/codec.ts';
import type { Format } from '../../server/format.ts';
import { frame, Opcode, textFrame } from './frame.ts';

export const wsJson: Format = {
  key: 'ws-json',
  codec: jsonCodec,
  encode: (f) => textFrame(JSON.stringify(f)),
  fromJson: textFrame,
};

export const wsMsgpack: Format = {
  key: 'ws-msgpack',
  codec: msgpackCodec,
  encode: (f) => frame(Opcode.binary, msgpackCodec.encode(f)),
};
