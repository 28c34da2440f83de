/**
 * Long-term credential authentication of TURN requests (RFC 8489 §9.2.4), with static users and
 * coturn-compatible time-limited users (`use-auth-secret`).
 *
 * The checks, in the RFC's order:
 *   no MESSAGE-INTEGRITY(-SHA256)          -> 401 with REALM and NONCE (the first challenge)
 *   missing USERNAME, REALM or NONCE       -> 400
 *   NONCE not ours or expired              -> 438 with REALM and a fresh NONCE
 *   unknown user, expired time-limited one,
 *   other realm, or integrity mismatch     -> 401 with REALM and NONCE
 */
import type { Clock } from '../../util/clock.ts';
import { decodeText, encodeText } from '../stun/attributes.ts';
import { AttrType } from '../stun/constants.ts';
import { StunDecodeError } from '../stun/errors.ts';
import { integrityKind, longTermKey, verifyIntegrity } from '../stun/integrity.ts';
import { getAttribute, type DecodedStunMessage } from '../stun/message.ts';
import { ANONYMOUS_USER_PREFIX, parseRestUsername, restPassword } from '../../server/turn-credentials.ts';
import type { TurnMetrics } from './metrics.ts';
import type { NonceIssuer } from './nonce.ts';
import type { Responder } from './responses.ts';

export type AuthOutcome =
  | { ok: true; username: string; realm: string; quotaUser: string; anonymous: boolean; key: Buffer }
  | { ok: false; response: Buffer };

export interface AuthenticatorOptions {
  realm: string;
  users: Readonly<Record<string, string>>;
  authSecret: string;
  restSeparator: string;
}

export class Authenticator {
  constructor(
    private readonly opts: AuthenticatorOptions,
    private readonly nonces: NonceIssuer,
    private readonly responder: Responder,
    private readonly clock: Clock,
    private readonly metrics: TurnMetrics,
  ) {}

  /**
   * @param existing the allocation of the request's 5-tuple, for requests other than Allocate. A
   * time-limited username that has expired still authenticates requests for the allocation it
   * created (same username and realm, integrity with the key stored at Allocate): the expiry
   * limits who can obtain new allocations, while only the 5-tuple that holds this one can send
   * these requests (RFC 8656 §5). Without it a call relayed longer than the credentials' TTL
   * (anonymous ones live 10 minutes) would lose its relay at the first Refresh after expiry.
   */
  authenticate(req: DecodedStunMessage, existing?: { username: string; realm: string; quotaUser: string; anonymous: boolean; key: Buffer }): AuthOutcome {
    if (!integrityKind(req)) return this.challenge(req, 'unauthenticated');
    const u = getAttribute(req, AttrType.username);
    const r = getAttribute(req, AttrType.realm);
    const n = getAttribute(req, AttrType.nonce);
    if (!u || !r || !n) return { ok: false, response: this.responder.error(req, 'badRequest') };
    let username: string;
    let realm: string;
    let nonce: string;
    try {
      username = decodeText(u.value, 'username');
      realm = decodeText(r.value, 'realm');
      nonce = decodeText(n.value, 'nonce');
    } catch (e) {
      if (e instanceof StunDecodeError) return { ok: false, response: this.responder.error(req, 'badRequest') };
      throw e;
    }
    if (this.nonces.check(nonce) !== 'ok') {
      this.metrics.staleNonces++;
      return this.challenge(req, 'staleNonce');
    }
    const cred = realm === this.opts.realm ? this.lookup(username) : undefined;
    if (!cred && existing && existing.username === username && existing.realm === realm && this.isTimeLimited(username)) {
      if (verifyIntegrity(req, existing.key)) return { ok: true, username, realm, quotaUser: existing.quotaUser, anonymous: existing.anonymous, key: existing.key };
    }
    if (!cred) {
      this.metrics.authFailures++;
      return this.challenge(req, 'unauthenticated');
    }
    const key = longTermKey(username, realm, cred.password);
    if (!verifyIntegrity(req, key)) {
      this.metrics.authFailures++;
      return this.challenge(req, 'unauthenticated');
    }
    return { ok: true, username, realm, quotaUser: cred.quotaUser, anonymous: cred.anonymous, key };
  }

  /**
   * The password for `username` and the identity its quota counts against, if valid now.
   * Anonymous: a time-limited user part starting with {@link ANONYMOUS_USER_PREFIX} (minted by
   * the signaling layer per client address); static users never are.
   */
  lookup(username: string): { password: string; quotaUser: string; anonymous: boolean } | undefined {
    const fixed = this.opts.users[username];
    if (fixed !== undefined && Object.prototype.hasOwnProperty.call(this.opts.users, username)) return { password: fixed, quotaUser: username, anonymous: false };
    if (!this.opts.authSecret) return undefined;
    const rest = parseRestUsername(username, this.opts.restSeparator);
    if (!rest || rest.expiry * 1000 <= this.clock.now()) return undefined;
    return { password: restPassword(this.opts.authSecret, username), quotaUser: rest.user || username, anonymous: rest.user.startsWith(ANONYMOUS_USER_PREFIX) };
  }

  private isTimeLimited(username: string): boolean {
    return this.opts.authSecret !== '' && parseRestUsername(username, this.opts.restSeparator) !== undefined;
  }

  private challenge(req: DecodedStunMessage, name: 'unauthenticated' | 'staleNonce'): AuthOutcome {
    return {
      ok: false,
      response: this.responder.error(req, name, [
        { type: AttrType.realm, value: encodeText(this.opts.realm) },
        { type: AttrType.nonce, value: encodeText(this.nonces.issue()) },
      ]),
    };
  }
}
