/**
 * Stateless nonces (RFC 8489 §9.2): the nonce carries its own expiry and a MAC over it, so the
 * server keeps no table and a restart invalidates every nonce (the client just gets a 438 and
 * retries). Format: 8 hex digits of expiry (Unix seconds) then 16 hex digits of
 * HMAC-SHA256(serverKey, expiry).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../util/clock.ts';

export class NonceIssuer {
  private readonly key = randomBytes(32);

  /** @param lifetimeSeconds how long a nonce stays fresh. */
  constructor(
    private readonly clock: Clock,
    private readonly lifetimeSeconds: number,
  ) {}

  issue(): string {
    const expiry = (Math.floor(this.clock.now() / 1000) + this.lifetimeSeconds).toString(16).padStart(8, '0');
    return expiry + this.mac(expiry);
  }

  /** 'ok', 'stale' (well-formed and ours, but expired) or 'invalid'. Both failures get a 438. */
  check(nonce: string): 'ok' | 'stale' | 'invalid' {
    if (nonce.length !== 24 || !/^[0-9a-f]+$/.test(nonce)) return 'invalid';
    const expiry = nonce.slice(0, 8);
    const mac = Buffer.from(nonce.slice(8), 'utf8');
    if (!timingSafeEqual(mac, Buffer.from(this.mac(expiry), 'utf8'))) return 'invalid';
    return parseInt(expiry, 16) * 1000 > this.clock.now() ? 'ok' : 'stale';
  }

  private mac(expiry: string): string {
    return createHmac('sha256', this.key).update(expiry).digest('hex').slice(0, 16);
  }
}
