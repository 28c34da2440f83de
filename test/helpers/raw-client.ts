/**
 * A protocol-level test client over a real WebSocket (the `ws` package): sends frames as given
 * and records everything the server sends, so tests can assert on exact frames and close codes.
 */
import WebSocket from 'ws';
import { msgpackCodec } from '../../src/protocol/codec.ts';

export type Frame = Record<string, any>;

export class RawClient {
  readonly frames: Frame[] = [];
  closeCode = 0;
  closeReason = '';
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  autoPong = true;
  private waiters: Array<() => void> = [];
  private nextId = 1;

  constructor(
    readonly ws: WebSocket,
    readonly format: 'json' | 'msgpack' = 'json',
  ) {
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.wake();
        resolve({ code, reason: this.closeReason });
      }),
    );
    ws.on('message', (data: Buffer, binary: boolean) => {
      const frames: Frame[] =
        this.format === 'msgpack' && binary
          ? (msgpackCodec.decode(data) as Frame[])
          : data.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      for (const f of frames) {
        if (f.t === 'ping' && this.autoPong) this.send({ t: 'pong' });
        this.frames.push(f);
      }
      this.wake();
    });
  }

  static async open(url: string, opts: { format?: 'json' | 'msgpack'; headers?: Record<string, string>; protocol?: string } = {}): Promise<RawClient> {
    const format = opts.format ?? 'json';
    const protocol = opts.protocol ?? `switchboard.${format}`;
    const c = new RawClient(new WebSocket(url, protocol, { headers: opts.headers ?? {} }), format);
    await c.opened;
    return c;
  }

  /** Opens and sends connect; resolves with the connect reply. */
  static async connect(url: string, opts: { format?: 'json' | 'msgpack'; token?: string } = {}): Promise<RawClient> {
    const c = await RawClient.open(url, opts);
    const reply = await c.request({ t: 'connect', ...(opts.token ? { token: opts.token } : {}) });
    if (reply.t !== 'ok') throw new Error(`connect failed: ${JSON.stringify(reply)}`);
    c.clientId = reply.client;
    return c;
  }

  clientId = '';

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Sends `frames(n)` for n = 0, 1, … in rounds of five messages until the server closes the connection (or `rounds`
   * run out). A flood meant to trip the rate limiter's "too many refusals in a row" rule must keep
   * coming: on a loaded machine the server may take long enough over a fixed burst that a token
   * refills in between and resets the count.
   */
  async floodUntilClosed(frames: (message: number) => Frame[], rounds = 200): Promise<void> {
    // Five messages back to back per round (as dense as a fixed burst), then a turn to read replies.
    for (let i = 0; i < rounds && this.ws.readyState === WebSocket.OPEN; i++) {
      for (let k = 0; k < 5; k++) this.send(frames(i * 5 + k));
      await new Promise((r) => setImmediate(r));
    }
  }

  send(frame: Frame | Frame[]): void {
    const list = Array.isArray(frame) ? frame : [frame];
    if (this.format === 'msgpack') this.ws.send(msgpackCodec.encodeMany(list));
    else this.ws.send(list.map((f) => JSON.stringify(f)).join('\n'));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Sends a command with a fresh id and waits for its reply (ok or err). */
  async request(frame: Frame, timeoutMs = 5000): Promise<Frame> {
    const id = this.nextId++;
    this.send({ ...frame, id });
    return this.waitFor((f) => (f.t === 'ok' || f.t === 'err') && f.id === id, timeoutMs);
  }

  /** Waits for (and returns) the first frame, from the start of the recording, that matches. */
  async waitFor(pred: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed (${this.closeCode} ${this.closeReason}) before a matching frame; got ${JSON.stringify(this.frames).slice(0, 500)}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits until at least `n` frames match. */
  async waitCount(pred: (f: Frame) => boolean, n: number, timeoutMs = 5000): Promise<Frame[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = this.frames.filter(pred);
      if (got.length >= n) return got;
      if (Date.now() > end || this.ws.readyState === WebSocket.CLOSED) throw new Error(`expected ${n} frames, got ${got.length} (close ${this.closeCode})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  pubs(ch?: string): Frame[] {
    return this.frames.filter((f) => f.t === 'pub' && (ch === undefined || f.ch === ch));
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
