/**
 * Subscribers over the HTTP fallback transports, driven by the same protocol state machines as the
 * WebSocket subscribers (../dialects/): only the carriage differs.
 *
 * - `sse` (Switchboard): `GET /connection/sse` (one chunked stream; each `data:` line is one frame),
 *   frames up by `POST /connection/sse?session=KEY`.
 * - `poll` (Switchboard): `GET /connection/poll?session=KEY&ack=SEQ` again as soon as a batch
 *   arrives; a batch is processed only if its seq is the last processed + 1 (docs/protocol.md,
 *   "Long polling"), so a redelivered batch is never counted twice.
 * - `poll` (socket.io): engine.io v4 polling, `GET /socket.io/?EIO=4&transport=polling&sid=…` again
 *   after every response, packets separated by 0x1e, frames up by POST. The client never asks to
 *   upgrade, so it stays on polling; engine.io's ping `2` is answered with `3` by POST.
 *
 * Each subscriber uses two keep-alive connections: one for the downstream GETs (one at a time, as
 * both servers require) and one for POSTs, one POST in flight at a time (frames queued meanwhile go
 * out together in the next body), reopened when needed: it idles after the handshake and the
 * server closes idle keep-alive connections. No `Accept-Encoding` is sent, so engine.io does not gzip poll
 * responses (Switchboard never compresses): both servers are measured without compression.
 */
import type { Dialect, Role, Session } from '../dialect.ts';
import type { ClientHooks, ClientTarget } from '../client.ts';
import { HttpConnection, type HttpTarget } from './connection.ts';
import { findMarker, forEachEioPacket, LineReader, readBatch } from './framing.ts';
import type { ResponseSink } from './response.ts';

/** How subscribers of a fan-out reach the server (the publisher always uses WebSocket). */
export const SUBSCRIBER_TRANSPORTS = ['websocket', 'sse', 'poll'] as const;
export type SubscriberTransport = (typeof SUBSCRIBER_TRANSPORTS)[number];

/** A subscriber the worker can close. */
export interface Closable {
  close(): void;
}

const OPEN_BRACE = 0x7b, P = 0x70, U = 0x75, C4 = 0x34, C2 = 0x32, D = 0x64, E = 0x65, COLON = 0x3a, SPACE = 0x20;
/** `{"t":"pub","ch":"bench:x","data":"` — where Switchboard puts the payload (../dialects/switchboard.ts). */
const SB_MARKER_AT = '{"t":"pub","ch":"bench:x","data":"'.length;
/** `42["m","` — where socket.io puts it. */
const SIO_MARKER_AT = '42["m","'.length;

/**
 * Collects one response body: in place when it arrives in one read (the usual case), copied when
 * reads cut it. `onBody` gets the status and the whole body.
 */
class BodyCollector implements ResponseSink {
  private status = 0;
  private acc: Buffer | null = null;
  private done = false;

  constructor(private readonly onBody: (status: number, buf: Buffer, start: number, end: number) => void) {}

  head(status: number): void {
    this.status = status;
    this.acc = null;
    this.done = false;
  }

  body(buf: Buffer, start: number, end: number, last: boolean): void {
    if (this.acc === null && last) {
      this.done = true;
      this.onBody(this.status, buf, start, end);
      return;
    }
    const part = buf.subarray(start, end);
    this.acc = this.acc ? Buffer.concat([this.acc, part]) : Buffer.from(part);
  }

  end(): void {
    if (this.done) return;
    const b = this.acc ?? Buffer.alloc(0);
    this.acc = null;
    this.onBody(this.status, b, 0, b.length);
  }
}

/**
 * A keep-alive connection idle for this long is not reused: Node's HTTP server closes idle
 * connections after `keepAliveTimeout` (5 s by default), and a POST written just as it does would
 * be lost. A browser opens a new connection then as well.
 */
const REUSE_IDLE_MS = 4000;

/**
 * Upstream POSTs on their own keep-alive connection (opened when needed), one in flight; texts
 * sent meanwhile go out joined in the next body.
 */
class PostQueue {
  private queued: string[] = [];
  private inFlight = false;
  private conn: HttpConnection | null = null;
  private lastUsedMs = 0;
  private closed = false;
  private readonly sink: ResponseSink;

  constructor(
    private readonly target: HttpTarget,
    private readonly path: () => string,
    private readonly separator: string,
    private readonly problem: (message: string) => void,
  ) {
    let status = 0;
    this.sink = {
      head: (s) => {
        status = s;
      },
      body: () => {},
      end: () => {
        if (status !== 200 && status !== 204) problem(`POST answered ${status}`);
        this.lastUsedMs = Date.now();
        this.inFlight = false;
        this.flush();
      },
    };
  }

  send(text: string): void {
    this.queued.push(text);
    if (!this.inFlight) this.flush();
  }

  close(): void {
    this.closed = true;
    this.conn?.close();
  }

  private flush(): void {
    if (this.queued.length === 0 || this.closed) return;
    const body = this.queued.join(this.separator);
    this.queued = [];
    this.inFlight = true;
    this.connection().post(this.path(), body, this.sink);
  }

  private connection(): HttpConnection {
    if (this.conn?.isOpen && Date.now() - this.lastUsedMs < REUSE_IDLE_MS) return this.conn;
    this.conn?.close();
    const conn: HttpConnection = new HttpConnection(this.target, {
      onClose: (reason, expected) => {
        if (expected || this.conn !== conn || !this.inFlight) return; // an idle connection closed: the next POST opens another
        this.inFlight = false;
        this.problem(`POST connection closed with a POST in flight: ${reason}`);
      },
    });
    // Writes before the connect completes are buffered by net; a failure arrives through onClose.
    conn.open().catch(() => {});
    this.conn = conn;
    return conn;
  }
}

interface Ctx {
  session: Session;
  /** The downstream (GET) connection. */
  down: HttpConnection;
  hooks: ClientHooks;
  isReady: () => boolean;
  /** The session cannot go on (bad response): ends the subscriber. */
  fail: (reason: string) => void;
  /** Sets where the session's sends go once the server named the session. */
  bindUpstream: (path: () => string, separator: string) => void;
}

/** Switchboard over SSE. */
function runSse(c: Ctx): void {
  let key = '';
  let sessionEvent = false;
  const frame = (buf: Buffer, start: number, end: number): void => {
    if (c.isReady() && buf[start] === OPEN_BRACE && buf[start + 6] === P && buf[start + 7] === U) {
      const m = findMarker(buf, start, end, SB_MARKER_AT);
      if (m >= 0) return c.hooks.delivery?.(buf, m);
    }
    c.session.onText(buf, start, end);
  };
  const lines = new LineReader((buf, start, end) => {
    // SSE field names here are `data`, `id`, `event` (and `:` comments): `d` + `: ` at 4 is `data: `.
    if (buf[start] === D && buf[start + 4] === COLON && buf[start + 5] === SPACE && end - start >= 6) {
      if (!sessionEvent) return frame(buf, start + 6, end);
      sessionEvent = false;
      key = (JSON.parse(buf.toString('utf8', start + 6, end)) as { session: string }).session;
      c.bindUpstream(() => `/connection/sse?session=${key}`, '\n');
      c.session.open();
    } else if (buf[start] === E && end - start === 'event: session'.length && buf.toString('latin1', start, end) === 'event: session') {
      sessionEvent = true;
    }
    // `id:` lines, blank lines (event ends) and `:` keep-alive comments need nothing.
  });
  let status = 0;
  c.down.get('/connection/sse', {
    head: (s) => {
      status = s;
      if (s !== 200) c.fail(`SSE stream answered ${s}`);
    },
    body: (buf, start, end) => {
      if (status === 200) lines.push(buf, start, end);
    },
    end: () => c.fail('SSE stream ended'),
  });
}

/** Switchboard over long polling. */
function runPoll(c: Ctx): void {
  let key = '';
  let acked = 0;
  const frame = (seq: number, buf: Buffer, start: number, end: number): void => {
    if (seq !== acked + 1) return; // a redelivered batch: already processed
    if (c.isReady() && buf[start] === OPEN_BRACE && buf[start + 6] === P && buf[start + 7] === U) {
      const m = findMarker(buf, start, end, SB_MARKER_AT);
      if (m >= 0) return c.hooks.delivery?.(buf, m);
    }
    c.session.onText(buf, start, end);
  };
  const batches = new BodyCollector((status, buf, start, end) => {
    if (status !== 200) return c.fail(`poll answered ${status}: ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
    const seq = readBatch(buf, start, end, frame);
    if (seq === acked + 1) acked = seq;
    poll();
  });
  const poll = (): void => {
    if (c.down.isOpen) c.down.get(`/connection/poll?session=${key}&ack=${acked}`, batches);
  };
  c.down.get(
    '/connection/poll',
    new BodyCollector((status, buf, start, end) => {
      const text = buf.toString('utf8', start, end);
      if (status !== 200) return c.fail(`new poll session answered ${status}: ${text.slice(0, 200)}`);
      key = (JSON.parse(text) as { session: string }).session;
      c.bindUpstream(() => `/connection/poll?session=${key}`, '\n');
      poll();
      c.session.open();
    }),
  );
}

/** socket.io over engine.io v4 long polling. */
function runEioPolling(c: Ctx): void {
  let sid = '';
  const packet = (buf: Buffer, start: number, end: number): void => {
    if (c.isReady() && buf[start] === C4 && buf[start + 1] === C2) {
      const m = findMarker(buf, start, end, SIO_MARKER_AT);
      if (m >= 0) return c.hooks.delivery?.(buf, m);
    }
    c.session.onText(buf, start, end);
  };
  const payloads = new BodyCollector((status, buf, start, end) => {
    if (status !== 200) return c.fail(`engine.io poll answered ${status}: ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
    forEachEioPacket(buf, start, end, packet);
    poll();
  });
  const poll = (): void => {
    if (c.down.isOpen) c.down.get(`/socket.io/?EIO=4&transport=polling&sid=${sid}`, payloads);
  };
  c.down.get(
    '/socket.io/?EIO=4&transport=polling',
    new BodyCollector((status, buf, start, end) => {
      const text = buf.toString('utf8', start, end);
      if (status !== 200 || !text.startsWith('0{')) return c.fail(`engine.io handshake answered ${status}: ${text.slice(0, 200)}`);
      sid = (JSON.parse(text.slice(1)) as { sid: string }).sid;
      c.bindUpstream(() => `/socket.io/?EIO=4&transport=polling&sid=${sid}`, '\x1e');
      poll();
      c.session.onText(buf, start, end); // the open packet: the session answers with `40`
    }),
  );
}

/**
 * Opens a subscriber of `dialect`'s system over an HTTP transport; resolves once the role's
 * handshake (connect + subscribe) is complete.
 */
export async function openHttpClient(dialect: Dialect, transport: Exclude<SubscriberTransport, 'websocket'>, role: Role, target: ClientTarget, hooks: ClientHooks): Promise<Closable> {
  const run = transport === 'sse' ? (dialect.system === 'switchboard' ? runSse : null) : dialect.system === 'switchboard' ? runPoll : dialect.system === 'socketio' ? runEioPolling : null;
  if (!run) throw new Error(`${dialect.system} has no ${transport} transport in the bench`);
  const timeoutMs = target.timeoutMs ?? 15_000;
  let isReady = false;
  let markReady = (): void => {};
  let markFailed: (err: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  const label = `${dialect.system} ${transport} ${role}`;
  let ended = false;
  const client: Closable = {
    close: () => {
      ended = true;
      down.close();
      posts?.close();
    },
  };
  const fail = (reason: string): void => {
    if (ended) return;
    if (!isReady) markFailed(new Error(`${label}: ${reason}`));
    else hooks.lost?.(reason);
    client.close();
  };
  const onClose = (reason: string, expected: boolean): void => {
    if (!expected) fail(reason);
  };
  const conn = { host: target.host, port: target.port, ...(target.localAddress ? { localAddress: target.localAddress } : {}), timeoutMs };
  const down = new HttpConnection(conn, { ...(hooks.onChunk ? { onChunk: hooks.onChunk } : {}), onClose });
  const problem = (message: string): void => {
    if (!isReady) markFailed(new Error(`${label}: ${message}`));
    else hooks.problem(message);
  };
  let posts: PostQueue | null = null;
  const session = dialect.session(role, {
    send: (text) => {
      if (posts) posts.send(text);
      else problem(`cannot send before the session is known: ${text.slice(0, 100)}`);
    },
    ready: () => {
      isReady = true;
      markReady();
    },
    delivery: hooks.delivery ?? (() => {}),
    acked: hooks.acked ?? (() => {}),
    problem,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await down.open();
    run({
      session,
      down,
      hooks,
      isReady: () => isReady,
      fail,
      bindUpstream: (path, separator) => {
        posts = new PostQueue(conn, path, separator, problem);
      },
    });
    await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label} handshake timed out`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    client.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return client;
}
