/**
 * Time-limited ("TURN REST API") credentials, compatible with coturn's `use-auth-secret`
 * (draft-uberti-behave-turn-rest-00): username = `<unix expiry>:<user>`, password =
 * base64(HMAC-SHA1(secret, username)). The server core mints them (the ICE servers of a connect
 * reply, commands.ts); the TURN server (webrtc/turn/auth.ts) checks them.
 */
import { createHmac } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * TURN users whose time-limited username's user part starts with this are anonymous: they share
 * the `anonymousUserQuota` per identity and the `anonymousTotalQuota` pool (TurnServerOptions).
 */
export const ANONYMOUS_USER_PREFIX = 'anon-';

/** Lifetime of the TURN credentials handed to anonymous clients, seconds (issue 11 D1). */
export const ANONYMOUS_CREDENTIAL_TTL = 600;

/**
 * The part of a client address one anonymous identity covers: the IPv4 address (also when written
 * IPv4-mapped, ::ffff:a.b.c.d), or the /64 of an IPv6 address — one subscriber's usual
 * allocation, so an attacker cannot mint identities by walking their own /64.
 */
export function anonymousScope(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address) || !isIPv6(address)) return address;
  const [head = '', tail] = address.split('%')[0]!.toLowerCase().split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/64';
}

/**
 * The TURN identity for an anonymous client at `address`: `anon-` and 16 base64url characters of
 * HMAC-SHA256(secret, scope). Every anonymous connection from one address (IPv6: one /64) gets
 * the same identity, so the TURN server's per-user quota caps them together; keyed with the TURN
 * secret so the name does not reveal the address.
 */
export function anonymousTurnUser(secret: string, address: string): string {
  return ANONYMOUS_USER_PREFIX + createHmac('sha256', secret).update(anonymousScope(address)).digest('base64url').slice(0, 16);
}

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
