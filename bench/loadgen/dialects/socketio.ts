/**
 * socket.io 4 spoken over a raw WebSocket (engine.io protocol v4, socket.io protocol v5):
 *   server `0{"sid",…}` (engine.io open) → client `40` (socket.io CONNECT to `/`)
 *   server `40{"sid"}` → client `421["sub","bench"]` (EVENT with ack id 1) → server `431[]`
 *   deliveries are `42["m","<payload>"]`; engine.io ping `2` is answered with pong `3`.
 * Publishes are `42<id>["pub","<payload>"]`, acknowledged by `43<id>[]`.
 * See https://github.com/socketio/engine.io-protocol and https://github.com/socketio/socket.io-protocol.
 */
import type { Dialect, Role, Session, SessionHooks } from '../dialect.ts';
import { MARKER } from '../payload.ts';

export const ROOM = 'bench';
const C0 = 0x30, C2 = 0x32, C3 = 0x33, C4 = 0x34;

class SocketIoSession implements Session {
  private state: 'opening' | 'connecting' | 'joining' | 'ready' = 'opening';

  constructor(
    private readonly role: Role,
    private readonly hooks: SessionHooks,
  ) {}

  open(): void {
    // The server speaks first (engine.io open packet).
  }

  onText(buf: Buffer, start: number, end: number): void {
    const a = buf[start];
    if (a === C2 && end - start === 1) {
      this.hooks.send('3');
      return;
    }
    if (this.state === 'ready') {
      if (a === C4 && buf[start + 1] === C2) {
        const m = buf.indexOf(MARKER, start + 2); // found within a few bytes: the payload leads the event
        if (m >= 0 && m < end) this.hooks.delivery(buf, m);
        else this.hooks.problem(`event without the bench payload: ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
        return;
      }
      if (a === C4 && buf[start + 1] === C3) {
        this.hooks.acked(1);
        return;
      }
    } else if (this.state === 'opening' && a === C0) {
      this.state = 'connecting';
      this.hooks.send('40');
      return;
    } else if (this.state === 'connecting' && a === C4 && buf[start + 1] === C0) {
      if (this.role === 'subscriber') {
        this.state = 'joining';
        this.hooks.send(`421["sub","${ROOM}"]`);
      } else {
        this.state = 'ready';
        this.hooks.ready();
      }
      return;
    } else if (this.state === 'joining' && a === C4 && buf[start + 1] === C3) {
      this.state = 'ready';
      this.hooks.ready();
      return;
    }
    this.hooks.problem(`unexpected packet in state ${this.state}: ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
  }
}

export const socketioDialect: Dialect = {
  system: 'socketio',
  path: '/socket.io/?EIO=4&transport=websocket',
  session: (role, hooks) => new SocketIoSession(role, hooks),
  publish: (id, payload) => `42${id}["pub","${payload}"]`,
};
