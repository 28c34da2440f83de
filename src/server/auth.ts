/**
 * JWT connection tokens (docs/protocol.md "Auth"). HS256 with a shared secret, RS256/ES256 with a
 * public key. `alg: none` and any algorithm not configured are refused by jose itself.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { ReplyError } from '../protocol/errors.ts';
import { ConfigError, type NodeOptions } from './options.ts';

export interface Identity {
  user: string;
  /** Expiry in ms since epoch, 0 when the token does not expire. */
  expiresAt: number;
  info?: unknown;
}

export class Authenticator {
  private readonly key: Uint8Array | KeyObject | null;
  private readonly algorithms: string[];

  constructor(private readonly opts: NodeOptions) {
    const { secret, publicKey, algorithms } = opts.jwt;
    if (secret) {
      this.key = new TextEncoder().encode(secret);
      this.algorithms = algorithms ?? ['HS256'];
    } else if (publicKey) {
      let key: KeyObject;
      try {
        key = createPublicKey(publicKey);
      } catch (err) {
        throw new ConfigError(`option "jwt.publicKey" is not a valid PEM public key: ${(err as Error).message}`);
      }
      this.key = key;
      const kind = key.asymmetricKeyType;
      this.algorithms = algorithms ?? (kind === 'rsa' ? ['RS256'] : kind === 'ec' ? ['ES256'] : []);
      if (this.algorithms.length === 0) throw new ConfigError(`option "jwt.publicKey": unsupported key type ${kind}`);
    } else {
      this.key = null;
      this.algorithms = [];
    }
  }

  get configured(): boolean {
    return this.key !== null;
  }

  /** Verifies a connect/refresh token. Throws ReplyError `unauthorized` or `tokenExpired`. */
  async verify(token: string | undefined): Promise<Identity> {
    if (token === undefined || token === '') {
      if (this.opts.allowAnonymous) return { user: '', expiresAt: 0 };
      throw new ReplyError('unauthorized', 'a token is required');
    }
    if (!this.key) {
      if (this.opts.allowAnonymous) throw new ReplyError('unauthorized', 'this node has no JWT key configured; connect without a token');
      throw new ReplyError('unauthorized', 'no JWT key configured');
    }
    let payload: JWTPayload;
    try {
      const verifyOpts: { algorithms: string[]; audience?: string; issuer?: string } = { algorithms: this.algorithms };
      if (this.opts.jwt.audience) verifyOpts.audience = this.opts.jwt.audience;
      if (this.opts.jwt.issuer) verifyOpts.issuer = this.opts.jwt.issuer;
      ({ payload } = await jwtVerify(token, this.key, verifyOpts));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new ReplyError('tokenExpired', undefined, { cause: err });
      throw new ReplyError('unauthorized', (err as Error).message, { cause: err });
    }
    if (typeof payload.sub !== 'string' || (payload.sub === '' && !this.opts.allowAnonymous)) {
      throw new ReplyError('unauthorized', 'token has no "sub" claim');
    }
    const id: Identity = { user: payload.sub, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : 0 };
    if (payload.info !== undefined) id.info = payload.info;
    return id;
  }
}
