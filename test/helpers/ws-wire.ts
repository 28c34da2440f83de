/**
 * A WebSocket client on a raw TCP socket, for conformance tests in the manner of
 * Autobahn|Testsuite's fuzzing client: frames go out exactly as written (hex, or built by
 * `clientFrame`, chopped as asked), and every frame the server sends is parsed and recorded, so a
 * test can assert on the exact sequence — including that a protocol violation is answered by one
 * close frame with the RFC 6455 code and nothing before it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';

/** Bytes from a hex string; spaces (for readability: header | mask key | payload) are ignored. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** A server frame as received (server frames are never masked). */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

/** Builds a client frame. Masked with `mask` (hex, 4 bytes) unless `masked: false`; `len` lies about the length. */
export function clientFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), opts: { fin?: boolean; rsv?: number; mask?: string; masked?: boolean; len?: bigint } = {}): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = opts.fin ?? true;
  const masked = opts.masked ?? true;
  const n = opts.len ?? BigInt(body.length);
  const b0 = (fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode;
  const m = masked ? 0x80 : 0;
  let head: Buffer;
  if (n < 126n) head = Buffer.from([b0, m | Number(n)]);
  else if (n < 65536n) {
    head = Buffer.from([b0, m | 126, 0, 0]);
    head.writeUInt16BE(Number(n), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = m | 127;
    head.writeBigUInt64BE(n, 2);
  }
  if (!masked) return Buffer.concat([head, body]);
  const key = hex(opts.mask ?? '37fa213d');
  const out = Buffer.from(body);
  for (let i = 0; i < out.length; i++) out[i]! ^= key[i & 3]!;
  return Buffer.concat([head, key, out]);
}

/** A close frame from the client: code (or none) and reason bytes. */
export function clientClose(code?: number, reason: Buffer | string = Buffer.alloc(0)): Buffer {
  if (code === undefined) return clientFrame(0x8);
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const p = Buffer.alloc(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return clientFrame(0x8, p);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const UPGRADE_REQUEST = (host = 'x', extra = '', version = 'HTTP/1.1') =>
  `GET /connection/websocket ${version}\r\n${host ? `Host: ${host}\r\n` : ''}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

export class Wire {
  readonly frames: WireFrame[] = [];
  /** The server closed (or reset) the TCP connection. */
  tcpClosed = false;
  readonly closed: Promise<void>;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private read = 0;

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.tcpClosed = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  /** Connects, upgrades, and resolves once the 101 arrived. */
  static open(port: number, request = UPGRADE_REQUEST()): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(request));
      s.setNoDelay(true);
      const w = new Wire(s);
      let head = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        s.off('data', onData);
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        if (!status.includes(' 101 ')) {
          s.destroy();
          reject(new Error(`upgrade refused: ${head.toString()}`));
          return;
        }
        s.on('data', (x: Buffer) => w.onData(x));
        if (head.length > end + 4) w.onData(head.subarray(end + 4));
        resolve(w);
      };
      s.on('data', onData);
      s.once('close', () => reject(new Error(`closed during the handshake: ${head.toString()}`)));
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      let len = b[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      assert.equal(b[1]! & 0x80, 0, 'server frames are never masked (RFC 6455 §5.1)');
      if (b.length < at + len) break;
      this.frames.push({ fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 7, opcode: b[0]! & 0x0f, payload: Buffer.from(b.subarray(at, at + len)) });
      this.buf = b.subarray(at + len);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async until(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!done()) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames so far: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The recorded frames, readable in an assertion message. */
  describe(): string {
    return this.frames.map((f) => `${f.opcode.toString(16)}:${f.opcode === 1 ? f.payload.toString().slice(0, 80) : f.payload.toString('hex').slice(0, 40)}`).join(' | ') + (this.tcpClosed ? ' [tcp closed]' : '');
  }

  /** Writes each part as its own write (with `gapMs` between, so they arrive as separate chunks). */
  async send(parts: Buffer | Buffer[], gapMs = 0): Promise<void> {
    for (const p of Array.isArray(parts) ? parts : [parts]) {
      if (this.socket.destroyed) return;
      this.socket.write(p);
      if (gapMs > 0) await sleep(gapMs);
    }
  }

  /** Writes `bytes` in chops of `size` octets, waiting for each write to be flushed (Autobahn's chopsize). */
  async chops(bytes: Buffer, size: number): Promise<void> {
    for (let i = 0; i < bytes.length && !this.socket.destroyed; i += size) {
      await new Promise<void>((r) => this.socket.write(bytes.subarray(i, i + size), () => r()));
    }
  }

  /** The next frame not yet returned by next(). */
  async next(timeoutMs = 3000): Promise<WireFrame> {
    await this.until(() => this.frames.length > this.read || this.tcpClosed, 'a frame', timeoutMs);
    const f = this.frames[this.read];
    if (!f) throw new Error(`connection closed without a further frame; frames: ${this.describe()}`);
    this.read++;
    return f;
  }

  /** Text frames decoded as our JSON protocol frames (one or more per message). */
  json(): Array<Record<string, unknown>> {
    return this.frames.filter((f) => f.opcode === 1).flatMap((f) => f.payload.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
  }

  /** Waits for a JSON frame matching `pred`. */
  async waitJson(pred: (f: Record<string, unknown>) => boolean, timeoutMs = 3000): Promise<Record<string, unknown>> {
    let hit: Record<string, unknown> | undefined;
    await this.until(() => (hit = this.json().find(pred)) !== undefined || this.tcpClosed, 'a matching JSON frame', timeoutMs);
    if (!hit) throw new Error(`closed before a matching JSON frame; frames: ${this.describe()}`);
    return hit;
  }

  /** Waits until the server has closed the TCP connection. */
  async waitClosed(timeoutMs = 4000): Promise<void> {
    await this.until(() => this.tcpClosed, 'the server to close the TCP connection', timeoutMs);
  }

  /** Stops reading from the socket (the kernel buffers fill and TCP's window closes). */
  pause(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Close frames received: their code (undefined when the payload was empty) and reason. */
  closes(): Array<{ code: number | undefined; reason: string }> {
    return this.frames.filter((f) => f.opcode === 8).map((f) => ({ code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined, reason: f.payload.subarray(2).toString() }));
  }

  /**
   * Autobahn's "fail the connection with `code`": the server's last frame is a close with that
   * code, it is the only close, nothing after it, no `disconnect` data message before it (that is
   * our application protocol, not WebSocket's), and the server closes TCP.
   */
  async expectFailed(code: number, timeoutMs = 4000): Promise<void> {
    await this.waitClosed(timeoutMs);
    const last = this.frames.at(-1);
    assert.ok(last && last.opcode === 8, `the last frame is a close; frames: ${this.describe()}`);
    assert.equal(last.payload.length >= 2 ? last.payload.readUInt16BE(0) : undefined, code, `close code; frames: ${this.describe()}`);
    assert.equal(this.closes().length, 1, 'one close frame');
    assert.ok(!this.json().some((f) => f.t === 'disconnect'), `no disconnect data message before a WebSocket-level close; frames: ${this.describe()}`);
  }

  /**
   * Autobahn's clean close by the client: we send close(code), the server answers with a close
   * carrying the same code (§5.5.1) — the last frame — and closes TCP.
   */
  async expectCleanClose(code = 1000, reason = ''): Promise<void> {
    await this.send(clientClose(code, reason));
    await this.waitClosed();
    const c = this.closes();
    assert.equal(c.length, 1, `one close frame; frames: ${this.describe()}`);
    assert.equal(c[0]!.code, code);
    assert.equal(this.frames.at(-1)!.opcode, 8, 'the close is the last frame');
  }
}

/** A JSON connect command padded with spaces to exactly `n` bytes (whitespace is valid JSON). */
export function paddedConnect(n: number, id = 1): Buffer {
  const cmd = Buffer.from(`{"t":"connect","id":${id}}`);
  assert.ok(n >= cmd.length, `a connect command needs at least ${cmd.length} bytes`);
  const out = Buffer.alloc(n, 0x20);
  cmd.copy(out);
  return out;
}
