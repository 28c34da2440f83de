/**
 * Incremental HTTP/1.1 response reader for the load generator's HTTP subscribers (SSE, long
 * polling): status line, `Content-Length` or `chunked` bodies, keep-alive (responses follow each
 * other on one connection). Just enough of RFC 9112 for the servers under test; no sockets here.
 *
 * Body bytes are handed out as slices of the buffer that was pushed, valid only during the call,
 * so the hot path copies nothing. Only the response head and a chunk-size line that a read cut in
 * two are carried over between pushes.
 */

export interface ResponseSink {
  /** Status line and header block (latin1, without the final blank line). */
  head(status: number, headers: string): void;
  /**
   * A slice of the body (de-chunked), `buf[start, end)`, valid only during the call. `last` is true
   * when this slice completes a `Content-Length` body, i.e. `end()` follows in the same push.
   */
  body(buf: Buffer, start: number, end: number, last: boolean): void;
  /** The response is complete; the next one on the connection may follow. */
  end(): void;
}

export class HttpResponseError extends Error {
  override readonly name = 'HttpResponseError';
}

/** Response heads longer than this are refused (the server is misbehaving). */
const MAX_HEAD = 16 * 1024;
const CR = 0x0d, LF = 0x0a;
const HEAD_END = Buffer.from('\r\n\r\n');

type State = 'head' | 'length' | 'chunkSize' | 'chunkData' | 'chunkDataEnd' | 'trailer';

export class HttpResponseReader {
  private state: State = 'head';
  /** Bytes of a head or of a size/trailer line that a read cut short. */
  private carry: Buffer | null = null;
  /** Body bytes left (`length`), or chunk bytes left (`chunkData`), or CRLF bytes left (`chunkDataEnd`). */
  private remaining = 0;
  private readonly sinks: ResponseSink[] = [];

  /** The sink for the response to the request just sent (responses come in request order). */
  expect(sink: ResponseSink): void {
    this.sinks.push(sink);
  }

  /** Requests whose response has not fully arrived. */
  get pending(): number {
    return this.sinks.length;
  }

  /** Feeds `buf[start, end)`; throws HttpResponseError on a malformed or unexpected response. */
  push(buf: Buffer, start = 0, end = buf.length): void {
    let at = start;
    while (at < end) {
      switch (this.state) {
        case 'head':
          at = this.readHead(buf, at, end);
          break;
        case 'length': {
          const n = Math.min(this.remaining, end - at);
          this.remaining -= n;
          this.sinks[0]!.body(buf, at, at + n, this.remaining === 0);
          at += n;
          if (this.remaining === 0) this.finish();
          break;
        }
        case 'chunkSize':
        case 'trailer': {
          const line = this.readLine(buf, at, end);
          if (line === null) return;
          at = line.next;
          if (this.state === 'trailer') {
            if (line.text === '') this.finish();
            break;
          }
          const size = parseInt(line.text, 16); // chunk extensions (";…") stop parseInt
          if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]/.test(line.text)) throw new HttpResponseError(`bad chunk size line ${JSON.stringify(line.text.slice(0, 40))}`);
          if (size === 0) this.state = 'trailer';
          else {
            this.state = 'chunkData';
            this.remaining = size;
          }
          break;
        }
        case 'chunkData': {
          const n = Math.min(this.remaining, end - at);
          this.remaining -= n;
          this.sinks[0]!.body(buf, at, at + n, false);
          at += n;
          if (this.remaining === 0) {
            this.state = 'chunkDataEnd';
            this.remaining = 2;
          }
          break;
        }
        case 'chunkDataEnd': {
          const expected = this.remaining === 2 ? CR : LF;
          if (buf[at] !== expected) throw new HttpResponseError('chunk data not followed by CRLF');
          at++;
          if (--this.remaining === 0) this.state = 'chunkSize';
          break;
        }
      }
    }
  }

  private readHead(buf: Buffer, at: number, end: number): number {
    // Buffer#indexOf has no end bound: search a view that ends at `end`.
    const view = buf.subarray(0, end);
    let headEnd: number;
    let text: string;
    if (this.carry === null) {
      headEnd = view.indexOf(HEAD_END, at);
      if (headEnd < 0) {
        this.carry = Buffer.from(buf.subarray(at, end));
        if (this.carry.length > MAX_HEAD) throw new HttpResponseError('response head too large');
        return end;
      }
      text = buf.toString('latin1', at, headEnd);
      headEnd += HEAD_END.length;
    } else {
      // The terminator may straddle the carried bytes and this read.
      const from = Math.max(0, this.carry.length - 3);
      const joined = Buffer.concat([this.carry, buf.subarray(at, Math.min(end, at + MAX_HEAD))]);
      const i = joined.indexOf(HEAD_END, from);
      if (i < 0) {
        this.carry = joined;
        if (joined.length > MAX_HEAD) throw new HttpResponseError('response head too large');
        return end;
      }
      text = joined.toString('latin1', 0, i);
      headEnd = at + (i + HEAD_END.length - this.carry.length);
      this.carry = null;
    }
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
    if (!m) throw new HttpResponseError(`bad status line ${JSON.stringify(text.slice(0, 60))}`);
    const status = Number(m[1]);
    const sink = this.sinks[0];
    if (!sink) throw new HttpResponseError(`response ${status} without a request`);
    sink.head(status, text);
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      if (status >= 200) this.finish();
      return headEnd;
    }
    if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(text)) {
      this.state = 'chunkSize';
      return headEnd;
    }
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(text);
    if (!length) throw new HttpResponseError(`response ${status} has neither Content-Length nor chunked encoding`);
    this.remaining = Number(length[1]);
    if (this.remaining === 0) {
      sink.body(buf, headEnd, headEnd, true);
      this.finish();
    } else this.state = 'length';
    return headEnd;
  }

  /** One CRLF-terminated line (chunk size, trailer), carried over reads; null when incomplete. */
  private readLine(buf: Buffer, at: number, end: number): { text: string; next: number } | null {
    const view = buf.subarray(0, end);
    const lf = view.indexOf(LF, at);
    if (lf < 0) {
      this.carry = this.carry ? Buffer.concat([this.carry, buf.subarray(at, end)]) : Buffer.from(buf.subarray(at, end));
      if (this.carry.length > 1024) throw new HttpResponseError('chunk size line too long');
      return null;
    }
    let text = buf.toString('latin1', at, lf);
    if (this.carry) {
      text = this.carry.toString('latin1') + text;
      this.carry = null;
    }
    if (text.endsWith('\r')) text = text.slice(0, -1);
    return { text, next: lf + 1 };
  }

  private finish(): void {
    this.state = 'head';
    this.remaining = 0;
    this.sinks.shift()!.end();
  }
}
