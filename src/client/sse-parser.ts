/**
 * An incremental `text/event-stream` parser (WHATWG HTML, "Event stream interpretation":
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation), for
 * runtimes without EventSource (Node) where the SSE transport reads the stream with `fetch`.
 * Pure: feed it text chunks, it calls `onEvent` per dispatched event.
 *
 * Bounded: a line longer than `maxLineChars` (a broken or hostile stream) throws, so a stream that
 * never sends a newline cannot grow the buffer without limit.
 */

/** One dispatched event. `type` is `message` unless the stream named it (`event: session`). */
export interface SseEvent {
  type: string;
  data: string;
  /** The `id` field of this event, if it had one (the stream's last event id otherwise). */
  lastEventId: string;
}

export class SseParser {
  private buf = '';
  private data: string[] = [];
  private type = '';
  private lastId = '';
  private sawCR = false;

  /**
   * @param onEvent called for each complete event
   * @param maxLineChars longest line accepted. @default 1048576
   */
  constructor(
    private readonly onEvent: (ev: SseEvent) => void,
    private readonly maxLineChars = 1 << 20,
  ) {}

  /** The last event id seen (what a resuming client sends as Last-Event-ID). */
  get lastEventId(): string {
    return this.lastId;
  }

  /** Feeds decoded text. Lines end in LF, CR or CRLF (a CRLF split across chunks is handled). */
  push(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 && this.sawCR && i === start) {
        // The LF of a CRLF whose CR ended the previous chunk (or line).
        this.sawCR = false;
        start = i + 1;
        continue;
      }
      this.sawCR = false;
      if (c !== 10 && c !== 13) continue;
      this.line(this.buf + text.slice(start, i));
      this.buf = '';
      if (c === 13) {
        if (text.charCodeAt(i + 1) === 10) i++;
        else if (i + 1 === text.length) this.sawCR = true;
      }
      start = i + 1;
    }
    this.buf += text.slice(start);
    if (this.buf.length > this.maxLineChars) throw new Error(`SSE line longer than ${this.maxLineChars} characters`);
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" comment (keepalive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.type = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        break; // `retry` and unknown fields are ignored
    }
  }

  private dispatch(): void {
    const data = this.data;
    const type = this.type || 'message';
    this.data = [];
    this.type = '';
    if (data.length === 0) return;
    this.onEvent({ type, data: data.join('\n'), lastEventId: this.lastId });
  }
}
