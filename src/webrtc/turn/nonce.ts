/**
 * Stateless nonces (RFC 8489 §9.2): the nonce carries its own expiry and a MAC over it, so the
 * server keeps no table and a restart invalidates every nonce (the client just gets a 438 and
 * retries). Format: 16 base64url characters of 12 bytes: the expiry (Unix seconds, 4 bytes
 * big-endian) then the first 8 bytes of HMAC-SHA256(serverKey, expiry). Short on purpose: the
 * nonce is in every unauthenticated 401, the answer a spoofed-source flood elicits (issue 11 D3).
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
    const raw = Buffer.alloc(12);
    raw.writeUInt32BE(Math.min(0xffffffff, Math.floor(this.clock.now() / 1000) + this.lifetimeSeconds), 0);
    this.mac(raw.subarray(0, 4)).copy(raw, 4);
    return raw.toString('base64url');
  }

  /** 'ok', 'stale' (well-formed and ours, but expired) or 'invalid'. Both failures get a 438. */
  check(nonce: string): 'ok' | 'stale' | 'invalid' {
    if (nonce.length !== 16 || !/^[A-Za-z0-9_-]+$/.test(nonce)) return 'invalid';
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== 12 || !timingSafeEqual(raw.subarray(4), this.mac(raw.subarray(0, 4)))) return 'invalid';
    return raw.readUInt32BE(0) * 1000 > this.clock.now() ? 'ok' : 'stale';
  }

  private mac(expiry: Buffer): Buffer {
    return createHmac('sha256', this.key).update(expiry).digest().subarray(0, 8);
  }
}
