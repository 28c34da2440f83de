/**
 * Connection-token state machine, apart from all I/O so its concurrency is unit-tested.
 *
 * ```
 *            refresh()                 getToken resolves
 *   idle ──────────────► fetching ───────────────────────► idle (token set, failures = 0)
 *    ▲                     │  ▲
 *    │                     │  │ refresh() (retry)
 *    │   getToken rejects  ▼  │
 *    └─────────────────── failed (failures + 1; retryDelay() grows)
 *   any ── close() ──► closed (every call rejects)
 * ```
 *
 * Single flight: while `fetching`, every `refresh()` returns the SAME promise, so ten expired
 * requests that hit error 109 together cause one `getToken` call, not ten.
 */
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { ClientClosedError, ClientError } from './errors.ts';

export type TokenState = 'idle' | 'fetching' | 'failed' | 'closed';

export interface TokenManagerOptions {
  /** A token to start with. */
  token?: string;
  /** Fetches a fresh token (e.g. from the app's backend). Without it, tokens cannot be refreshed. */
  getToken?: () => Promise<string>;
  /** Backoff between failed refreshes. @default {minDelay: 1000, maxDelay: 20000} */
  retry?: BackoffOptions;
  /** Uniform random source in [0, 1). @default Math.random */
  random?: () => number;
}

export class TokenManager {
  private _state: TokenState = 'idle';
  private _token: string | undefined;
  private inflight: Promise<string> | undefined;
  private _failures = 0;
  private readonly getToken: (() => Promise<string>) | undefined;
  private readonly retry: BackoffOptions;
  private readonly random: () => number;

  constructor(options: TokenManagerOptions = {}) {
    this._token = options.token;
    this.getToken = options.getToken;
    this.retry = options.retry ?? { minDelay: 1000, maxDelay: 20000 };
    this.random = options.random ?? Math.random;
  }

  get state(): TokenState {
    return this._state;
  }
  /** The current token, if any (possibly stale: only the server knows). */
  get token(): string | undefined {
    return this._token;
  }
  /** Consecutive failed refreshes. */
  get failures(): number {
    return this._failures;
  }
  /** Whether a `getToken` callback exists, i.e. whether {@link refresh} can succeed at all. */
  get canRefresh(): boolean {
    return this.getToken !== undefined;
  }

  /**
   * The token to connect with: the current one, or (when there is none and `getToken` exists) a
   * fetched one. `undefined` means connect anonymously.
   */
  async current(): Promise<string | undefined> {
    if (this._state === 'closed') throw new ClientClosedError('client closed');
    if (this._token !== undefined) return this._token;
    if (!this.getToken) return undefined;
    return this.refresh();
  }

  /** Forgets the current token (the server said it expired), so {@link current} fetches a new one. */
  invalidate(): void {
    this._token = undefined;
  }

  /**
   * Fetches a new token. Single flight: concurrent callers share one `getToken` call and its
   * outcome. Rejects (and enters `failed`) when `getToken` rejects or returns a non-string.
   */
  refresh(): Promise<string> {
    if (this._state === 'closed') return Promise.reject(new ClientClosedError('client closed'));
    if (this.inflight) return this.inflight;
    const getToken = this.getToken;
    if (!getToken) return Promise.reject(new ClientError('token expired and no getToken option to refresh it'));
    this._state = 'fetching';
    const p = (async () => {
      try {
        const token = await getToken();
        if (typeof token !== 'string') throw new ClientError(`getToken must resolve to a string, got ${typeof token}`);
        if (this._state === 'closed') throw new ClientClosedError('client closed');
        this._token = token;
        this._failures = 0;
        this._state = 'idle';
        return token;
      } catch (err) {
        if (this._state !== 'closed') {
          this._failures++;
          this._state = 'failed';
        }
        throw err;
      } finally {
        this.inflight = undefined;
      }
    })();
    this.inflight = p;
    return p;
  }

  /** How long to wait before retrying after the latest failure (full-jitter backoff), ms. */
  retryDelay(): number {
    return backoffDelay(Math.max(0, this._failures - 1), this.retry, this.random);
  }

  /** Ends the machine: pending and later calls reject with ClientClosedError. Idempotent. */
  close(): void {
    this._state = 'closed';
    this._token = undefined;
  }
}
