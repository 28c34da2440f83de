/**
 * A Format is a codec plus the framing of one transport kind: it turns a frame into the exact
 * bytes written to the transport. The Hub encodes each publication once per Format in use. Each
 * transport defines its own (transports/websocket/format.ts, sse/format.ts, poll/format.ts, webtransport/framer.ts).
 */
import type { Codec } from '../protocol/codec.ts';
import type { ServerFrame } from '../protocol/frames.ts';

export interface Format {
  /** Distinct per (transport framing, codec); used as the cache key for encoded pushes. */
  readonly key: string;
  readonly codec: Codec;
  encode(frame: ServerFrame): Buffer;
  /**
   * For JSON formats: frames already-stringified JSON. When present, the Hub stringifies each
   * publication once for all JSON formats (WebSocket, SSE, polling) and each format only adds
   * its framing — encode once per codec, frame once per transport kind.
   */
  fromJson?(json: string): Buffer;
}
