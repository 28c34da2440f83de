/**
 * SSE framing (WHATWG HTML, "Server-sent events":
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 *
 * One protocol frame is one `data:` line (JSON never contains a raw CR or LF: JSON.stringify
 * escapes them), so the Format's bytes for a frame are `data: {json}\n` and are shared by every
 * SSE subscriber of a publication (the Hub caches them per Format). The per-session part, the event
 * id, is added by the transport around a batch:
 *
 * ```
 * id: 42\n
 * data: {"t":"pub",...}\n
 * data: {"t":"ping"}\n
 * \n
 * ```
 *
 * EventSource joins the data lines of one event with "\n", so `event.data` is exactly the JSON
 * codec's multi-frame message and is decoded the same way as a WebSocket text message.
 */
import { jsonCodec } from '../../protocol/codec.ts';
import type { Format } from '../../server/format.ts';

export const sseJson: Format = {
  key: 'sse-json',
  codec: jsonCodec,
  encode: (f) => Buffer.from(`data: ${JSON.stringify(f)}\n`),
  fromJson: (json) => Buffer.from(`data: ${json}\n`),
};

const NL = Buffer.from('\n');

/** One `message` event: the id line, the frames' data lines, the blank line that dispatches it. */
export function eventBytes(seq: number, chunks: readonly Buffer[]): Buffer {
  let total = 1;
  const head = Buffer.from(`id: ${seq}\n`);
  total += head.length;
  for (const c of chunks) total += c.length;
  return Buffer.concat([head, ...chunks, NL], total);
}

/**
 * The first event of every stream, a named `session` event without an id (so it leaves the
 * client's Last-Event-ID alone): the session key for POSTs and reconnects, whether this stream
 * resumed an existing session, and the id of the newest event the session has written.
 */
export function sessionEventBytes(key: string, resumed: boolean, lastId: number): Buffer {
  return Buffer.from(`event: session\ndata: ${JSON.stringify({ session: key, resumed, lastId })}\n\n`);
}

/** A comment line: ignored by EventSource, keeps proxies from timing an idle stream out. */
export const KEEPALIVE = Buffer.from(':\n');
