/**
 * The plain `ws` broadcast baseline: every text message a client sends is the payload, broadcast
 * to every other client and acknowledged to its sender with `k`. The connection is "subscribed"
 * as soon as the upgrade completes.
 */
import type { Dialect, Role, Session, SessionHooks } from '../dialect.ts';

const AT = 0x40, K = 0x6b;

class WsSession implements Session {
  constructor(
    _role: Role,
    private readonly hooks: SessionHooks,
  ) {}

  open(): void {
    this.hooks.ready();
  }

  onText(buf: Buffer, start: number, end: number): void {
    const a = buf[start];
    if (a === AT) this.hooks.delivery(buf, start);
    else if (a === K && end - start === 1) this.hooks.acked(1);
    else this.hooks.problem(`unexpected message ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
  }
}

export const wsDialect: Dialect = {
  system: 'ws',
  path: '/',
  session: (role, hooks) => new WsSession(role, hooks),
  publish: (_id, payload) => payload,
};
