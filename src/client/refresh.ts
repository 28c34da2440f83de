/**
 * Token refresh on a live connection (docs/protocol.md, "refresh"): a new token is fetched and
 * sent as `refresh` `refreshBefore` ms before the current one's `ttl` runs out — one at a time —
 * and retried with the token manager's backoff when that fails, until the token expires: then the
 * server disconnects with 3003 and the reconnect fetches a fresh one (client.ts).
 */
import type { TimerHandle } from '../util/clock.ts';
import { ClientClosedError, ConnectionLostError, ServerError, toError, UnauthorizedError } from './errors.ts';
import type { ClientErrorEvent, ClientState } from './events.ts';
import type { ClientOptions } from './options.ts';
import type { TokenManager } from './token.ts';

/** What the refresher needs from its Client. */
export interface RefreshHost {
  /** The connection generation: a refresh begun on an older connection is not applied. */
  generation(): number;
  state(): ClientState;
  /** Sends a command on the current connection and resolves with its reply. */
  request(frame: Record<string, unknown>): Promise<Record<string, unknown>>;
  emitError(event: ClientErrorEvent): void;
  /** The token source refused for good: end connection `gen` (LocalDisconnect.unauthorized). */
  unauthorized(gen: number, err: UnauthorizedError): void;
}

export class TokenRefresh {
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly host: RefreshHost,
    private readonly tokens: TokenManager,
    private readonly options: Readonly<Pick<ClientOptions, 'clock' | 'refreshBefore'>>,
  ) {}

  /** Plans the next refresh for a token valid `ttlSeconds` more; none without a ttl or a way to get tokens. */
  schedule(ttlSeconds: number | undefined): void {
    const clock = this.options.clock;
    this.cancel();
    if (ttlSeconds === undefined || !this.tokens.canRefresh) return;
    const ttl = ttlSeconds * 1000;
    const before = Math.min(this.options.refreshBefore, ttl / 2);
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      void this.now();
    }, Math.max(0, ttl - before));
  }

  /** Drops the planned refresh (the connection ended). */
  cancel(): void {
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Gets a new token (single flight) and sends `refresh` on the live connection. */
  now(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    const host = this.host;
    const gen = host.generation();
    try {
      const token = await this.tokens.refresh();
      if (gen !== host.generation() || host.state() !== 'connected') return; // the next connect uses it
      const reply = await host.request({ t: 'refresh', token });
      if (gen !== host.generation()) return;
      this.schedule(typeof reply.ttl === 'number' ? reply.ttl : undefined);
    } catch (e) {
      const err = toError(e);
      if (host.state() === 'closed' || err instanceof ClientClosedError || err instanceof ConnectionLostError) return;
      if (err instanceof UnauthorizedError) {
        host.unauthorized(gen, err);
        return;
      }
      host.emitError({ type: 'refresh', error: err });
      if (err instanceof ServerError && err.code === 109) this.tokens.invalidate();
      if (gen !== host.generation() || host.state() !== 'connected') return;
      // Retry until the token runs out; then the server disconnects with 3003 and the reconnect fetches one.
      this.timer = this.options.clock.setTimeout(() => {
        this.timer = undefined;
        void this.now();
      }, this.tokens.retryDelay());
    }
  }
}
