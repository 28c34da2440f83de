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

class SwitchboardSession implements Session {
  private state: 'connecting' | 'subscribing' | 'ready' = 'connecting';

  constructor(
    private readonly role: Role,
    private readonly hooks: SessionHooks,
  ) {}

  open(): void {
    this.hooks.send('{"t":"connect","id":1,"name":"bench"}');
  }

  onText(buf: Buffer, start: number, end: number): void {
    if (this.state !== 'ready') return this.handshake(buf.toString('utf8', start, end));
    let p = start;
    while (p < end) {
      const at = buf.indexOf(FRAME_START, p);
      if (at < 0 || at >= end) return;
      const c0 = buf[at + TYPE_AT], c1 = buf[at + TYPE_AT + 1];
      if (c0 === P && c1 === U) {
        const m = buf.indexOf(MARKER, at + TYPE_AT);
        if (m < 0 || m >= end) {
          this.hooks.problem('pub frame without the bench payload');
          return;
        }
        this.hooks.delivery(buf, m);
        p = m + PAYLOAD_BYTES;
      } else if (c0 === O && c1 === K) {
        this.hooks.acked(1);
        p = at + TYPE_AT + 2;
      } else if (c0 === P && c1 === I) {
        this.hooks.send('{"t":"pong"}');
        p = at + TYPE_AT + 4;
      } else {
        const nl = buf.indexOf(0x0a, at);
        const stop = nl < 0 || nl > end ? end : nl;
        this.hooks.problem(`unexpected frame ${buf.toString('utf8', at, Math.min(stop, at + 200))}`);
        p = stop;
      }
    }
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
