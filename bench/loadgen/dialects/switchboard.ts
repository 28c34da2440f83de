/**
 * Switchboard's JSON protocol (docs/protocol.md): `connect` → ok, `sub` → ok, then `pub` pushes.
 * A WebSocket message may carry several frames separated by `\n`, so deliveries are counted per
 * `{"t":"pub"` frame found, never per WebSocket message.
 */
import type { Dialect, Role, Session, SessionHooks } from '../dialect.ts';
import { MARKER, PAYLOAD_BYTES } from '../payload.ts';

export const CHANNEL = 'bench:x';
const FRAME_START = Buffer.from('{"t":"');
const TYPE_AT = FRAME_START.length;
const P = 0x70, U = 0x75, I = 0x69, O = 0x6f, K = 0x6b;
const OPEN_BRACE = 0x7b, QUOTE = 0x22, AT_SIGN = 0x40, NEWLINE = 0x0a;
const MARKER_USUAL_AT = `{"t":"pub","ch":"${CHANNEL}","data":"`.length;

class SwitchboardSession implements Session {
  private state: 'connecting' | 'subscribing' | 'ready' = 'connecting';

  constructor(
    private readonly role: Role,
    private readonly hooks: SessionHooks,
  ) {}

  open(): void {
    this.hooks.send('{"t":"connect","id":1,"name":"bench"}');
  }

  /**
   * Frames of one WebSocket message are separated by `\n` (JSON escapes newlines inside strings),
   * so each frame is found with a memchr-speed `indexOf(0x0a)` and classified by the two bytes
   * after `{"t":"`; the payload marker is looked for only inside `pub` frames.
   */
  onText(buf: Buffer, start: number, end: number): void {
    if (this.state !== 'ready') return this.handshake(buf.toString('utf8', start, end));
    // Buffer#indexOf has no end bound and `buf` may be a large shared read buffer: search a view
    // that ends with this message, or each last-frame search would scan the stale rest of it.
    if (end < buf.length) {
      buf = buf.subarray(0, end);
    }
    let at = start;
    while (at < end) {
      let next = end;
      if (buf[at] !== OPEN_BRACE || buf[at + 1] !== QUOTE || buf[at + TYPE_AT - 1] !== QUOTE) {
        return this.unexpected(buf, at, end);
      }
      const c0 = buf[at + TYPE_AT], c1 = buf[at + TYPE_AT + 1];
      if (c0 === P && c1 === U) {
        // Usual layout puts the payload right after `"data":"`; otherwise search for it.
        const m = buf[at + MARKER_USUAL_AT] === AT_SIGN ? at + MARKER_USUAL_AT : buf.indexOf(MARKER, at + TYPE_AT);
        if (m < 0 || m >= end) return this.hooks.problem('pub frame without the bench payload');
        this.hooks.delivery(buf, m);
        next = m + PAYLOAD_BYTES;
      } else if (c0 === O && c1 === K) {
        this.hooks.acked(1);
      } else if (c0 === P && c1 === I) {
        this.hooks.send('{"t":"pong"}');
      } else {
        return this.unexpected(buf, at, end);
      }
      const nl = next < end ? buf.indexOf(NEWLINE, next) : -1;
      if (nl < 0) return;
      at = nl + 1;
    }
  }

  private unexpected(buf: Buffer, at: number, end: number): void {
    this.hooks.problem(`unexpected frame ${buf.toString('utf8', at, Math.min(end, at + 200))}`);
  }

  private handshake(text: string): void {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const frame = JSON.parse(line) as { t?: string; id?: number; code?: number; message?: string; reason?: string };
      if (frame.t === 'ping') {
        this.hooks.send('{"t":"pong"}');
      } else if (frame.t === 'ok' && frame.id === 1 && this.state === 'connecting') {
        if (this.role === 'subscriber') {
          this.state = 'subscribing';
          this.hooks.send(`{"t":"sub","id":2,"ch":"${CHANNEL}"}`);
        } else {
          this.state = 'ready';
          this.hooks.ready();
        }
      } else if (frame.t === 'ok' && frame.id === 2 && this.state === 'subscribing') {
        this.state = 'ready';
        this.hooks.ready();
      } else {
        this.hooks.problem(`handshake: unexpected ${line.slice(0, 200)}`);
      }
    }
  }
}

export const switchboardDialect: Dialect = {
  system: 'switchboard',
  path: '/connection/websocket',
  subprotocol: 'switchboard.json',
  session: (role, hooks) => new SwitchboardSession(role, hooks),
  publish: (id, payload) => `{"t":"pub","id":${id},"ch":"${CHANNEL}","data":"${payload}"}`,
};
