/**
 * Time-limited ("TURN REST API") credentials, compatible with coturn's `use-auth-secret`
 * (draft-uberti-behave-turn-rest-00): username = `<unix expiry>:<user>`, password =
 * base64(HMAC-SHA1(secret, username)). The signaling layer hands these out as ICE servers.
 */
import { createHmac } from 'node:crypto';

export interface TurnCredentials {
  /** `expiry:user`, expiry in Unix seconds. */
  username: string;
  /** base64 HMAC-SHA1 of the username keyed with the shared secret. */
  credential: string;
  /** Seconds the credentials stay valid. */
  ttl: number;
}

/** The password coturn derives for a time-limited `username`. */
export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username, 'utf8').digest('base64');
}

/**
 * Fresh time-limited credentials for `user`, valid `ttlSeconds` from `now` (ms since epoch).
 * @param now @default Date.now() — pass the caller's Clock time to keep tests deterministic.
 */
export function createTurnCredentials(secret: string, user: string, ttlSeconds: number, now: number = Date.now()): TurnCredentials {
  if (!secret) throw new Error('createTurnCredentials: empty secret');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`createTurnCredentials: ttlSeconds must be a positive integer, got ${ttlSeconds}`);
  const username = `${Math.floor(now / 1000) + ttlSeconds}:${user}`;
  return { username, credential: restPassword(secret, username), ttl: ttlSeconds };
}

/**
 * Splits a time-limited username at the first `separator`: `{ expiry, user }`, or undefined when
 * the part before it is not a decimal timestamp. (coturn also accepts `user:expiry`; we do not.)
 */
export function parseRestUsername(username: string, separator = ':'): { expiry: number; user: string } | undefined {
  const i = username.indexOf(separator);
  const head = i < 0 ? username : username.slice(0, i);
  if (!/^\d{1,12}$/.test(head)) return undefined;
  return { expiry: Number(head), user: i < 0 ? '' : username.slice(i + 1) };
}
