/**
 * TURN/STUN server configuration: {@link TurnServerOptions} (every field with its default) and
 * {@link resolveTurnOptions}, which merges explicit options over environment variables over the
 * defaults, rejects unknown keys naming the bad field, and checks every value.
 */
import { ipFamily } from '../stun/ip.ts';
import { parsePeerRange } from './peer-policy.ts';

export interface TurnServerOptions {
  /** Realm sent in 401/438 challenges and mixed into the long-term key (RFC 8489 §9.2). @default 'switchboard' */
  realm: string;
  /** Addresses to listen on for STUN/TURN (UDP and TCP); '0.0.0.0' and '::' are wildcards. @default ['0.0.0.0'] */
  listeningAddresses: string[];
  /** Port for UDP and TCP; 0 picks a free one (per address and protocol). @default 3478 */
  port: number;
  /** Accept clients over UDP. @default true */
  udp: boolean;
  /** Accept clients over TCP (RFC 8656 §3.1, framing of §12.5). @default true */
  tcp: boolean;
  /**
   * Addresses relay sockets bind to, at most one per family. Empty: each concrete listening
   * address relays for its family; a wildcard one uses the first non-internal interface address
   * of its family (or loopback when there is none). @default []
   */
  relayAddresses: string[];
  /** Lowest relay port (inclusive). RFC 8656 §7.2 recommends 49152–65535. @default 49152 */
  relayPortMin: number;
  /** Highest relay port (inclusive). @default 65535 */
  relayPortMax: number;
  /**
   * Shared secret for time-limited credentials, compatible with coturn's `use-auth-secret`:
   * username `expiry:user`, password = base64(HMAC-SHA1(secret, username)). Empty: off. @default ''
   */
  authSecret: string;
  /** Separator between expiry and user in time-limited usernames (coturn's `rest-api-separator`). @default ':' */
  restSeparator: string;
  /** Static long-term credentials, username -> password (RFC 8489 §9.2). @default {} */
  users: Record<string, string>;
  /** Seconds a NONCE stays valid before requests get 438 Stale Nonce. @default 600 */
  nonceLifetime: number;
  /** Allocation lifetime when the client asks for less or nothing, seconds (RFC 8656 §7.2: 600). @default 600 */
  defaultLifetime: number;
  /** Longest allocation lifetime granted, seconds (RFC 8656 §7.2: 3600). @default 3600 */
  maxLifetime: number;
  /** Allocations one user may hold at once (the `user` part of a time-limited username); 0 = unlimited. @default 100 */
  userQuota: number;
  /** Allocations this server holds at once; 0 = unlimited. @default 10000 */
  totalQuota: number;
  /**
   * Allocations one anonymous identity may hold at once, instead of userQuota. Anonymous
   * identities are time-limited users named `anon-…`, which the signaling layer mints per client
   * address (IPv6: per /64), so this caps all anonymous connections from one address together.
   * Room for a household or office behind one NAT: a browser takes one allocation per TURN URL
   * and network interface for each peer connection (a mesh call of four: 3 connections x 2 URLs
   * and more). 0 = unlimited. @default 50
   */
  anonymousUserQuota: number;
  /** Allocations all anonymous identities together may hold at once (within totalQuota). 0 = unlimited. @default 1000 */
  anonymousTotalQuota: number;
  /**
   * Relayed bytes per second per allocation, both directions counted together (burst: one
   * second's worth); excess is dropped. On by default so one allocation cannot take the server's
   * uplink: 2 MB/s is 16 Mbit/s, several HD video streams. 0 = unlimited. @default 2000000
   */
  maxBytesPerSecond: number;
  /** Allow peers in 127.0.0.0/8 and ::1 (tests). @default false */
  allowLoopbackPeers: boolean;
  /** Allow peers in private, shared (CGNAT), link-local and unique-local ranges. @default false */
  allowPrivatePeers: boolean;
  /** Extra denied peer ranges: CIDR ('10.0.0.0/8'), single address, or 'first-last'. @default [] */
  deniedPeerRanges: string[];
  /** Peer ranges allowed even when a default or configured deny covers them; wins over denies. @default [] */
  allowedPeerRanges: string[];
  /** SOFTWARE attribute on responses; '' leaves it out. @default 'switchboard' */
  software: string;
  /** Largest STUN/ChannelData message accepted from a client, bytes. @default 65535 */
  maxMessageBytes: number;
  /** Concurrent TCP client connections; past it new ones are closed at once. @default 10000 */
  maxTcpConnections: number;
  /**
   * Bytes one TCP client's write buffer may hold (what the kernel has not taken because the
   * client is not reading). Relayed data past it is dropped (metric droppedBackpressure); a STUN
   * response past it closes the connection (tcpOverflowCloses). Worst case memory is this times
   * maxTcpConnections. @default 262144
   */
  tcpBufferBytes: number;
  /**
   * Answers sent without authentication over UDP (401/438 challenges, Binding responses, errors
   * before authentication) per second per source IP, burst one second's worth; beyond it requests
   * are dropped silently. Spoofed-source floods cannot make the server reflect more than this
   * toward one address. TCP is not limited (its handshake proves the source). 0 = unlimited. @default 100
   */
  unauthenticatedRate: number;
}

export class TurnConfigError extends Error {
  override readonly name = 'TurnConfigError';
}

export function defaultTurnOptions(): TurnServerOptions {
  return {
    realm: 'switchboard',
    listeningAddresses: ['0.0.0.0'],
    port: 3478,
    udp: true,
    tcp: true,
    relayAddresses: [],
    relayPortMin: 49152,
    relayPortMax: 65535,
    authSecret: '',
    restSeparator: ':',
    users: {},
    nonceLifetime: 600,
    defaultLifetime: 600,
    maxLifetime: 3600,
    userQuota: 100,
    totalQuota: 10000,
    anonymousUserQuota: 50,
    anonymousTotalQuota: 1000,
    maxBytesPerSecond: 2_000_000,
    allowLoopbackPeers: false,
    allowPrivatePeers: false,
    deniedPeerRanges: [],
    allowedPeerRanges: [],
    software: 'switchboard',
    maxMessageBytes: 65535,
    maxTcpConnections: 10000,
    tcpBufferBytes: 256 * 1024,
    unauthenticatedRate: 100,
  };
}

/**
 * Environment variables and the option each sets. Lists are comma-separated; booleans are
 * 1/true/yes or 0/false/no; `SWITCHBOARD_TURN_USERS` is `user:pass,user2:pass2`;
 * `SWITCHBOARD_TURN_RELAY_PORTS` is `min-max`.
 */
export const TURN_ENV = {
  SWITCHBOARD_TURN_SECRET: 'authSecret',
  SWITCHBOARD_TURN_PORT: 'port',
  SWITCHBOARD_TURN_ALLOW_LOOPBACK: 'allowLoopbackPeers',
  SWITCHBOARD_TURN_ALLOW_PRIVATE: 'allowPrivatePeers',
  SWITCHBOARD_TURN_REALM: 'realm',
  SWITCHBOARD_TURN_LISTEN: 'listeningAddresses',
  SWITCHBOARD_TURN_RELAY_ADDRESSES: 'relayAddresses',
  SWITCHBOARD_TURN_RELAY_PORTS: 'relayPortMin/relayPortMax',
  SWITCHBOARD_TURN_USER_QUOTA: 'userQuota',
  SWITCHBOARD_TURN_TOTAL_QUOTA: 'totalQuota',
  SWITCHBOARD_TURN_ANON_QUOTA: 'anonymousUserQuota',
  SWITCHBOARD_TURN_ANON_TOTAL_QUOTA: 'anonymousTotalQuota',
  SWITCHBOARD_TURN_MAX_BPS: 'maxBytesPerSecond',
  SWITCHBOARD_TURN_TCP_BUFFER: 'tcpBufferBytes',
  SWITCHBOARD_TURN_UNAUTH_RATE: 'unauthenticatedRate',
  SWITCHBOARD_TURN_DENIED_PEERS: 'deniedPeerRanges',
  SWITCHBOARD_TURN_ALLOWED_PEERS: 'allowedPeerRanges',
  SWITCHBOARD_TURN_USERS: 'users',
  SWITCHBOARD_TURN_UDP: 'udp',
  SWITCHBOARD_TURN_TCP: 'tcp',
} as const;

function envBool(name: string, v: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new TurnConfigError(`environment variable ${name} must be 1/0/true/false, got ${JSON.stringify(v)}`);
}

function envInt(name: string, v: string): number {
  if (!/^\d+$/.test(v.trim())) throw new TurnConfigError(`environment variable ${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

function envList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/** The options the environment sets (only variables present and non-empty). */
export function turnOptionsFromEnv(env: Record<string, string | undefined>): Partial<TurnServerOptions> {
  const out: Partial<TurnServerOptions> = {};
  const get = (k: keyof typeof TURN_ENV) => {
    const v = env[k];
    return v === undefined || v === '' ? undefined : v;
  };
  let v: string | undefined;
  if ((v = get('SWITCHBOARD_TURN_SECRET'))) out.authSecret = v;
  if ((v = get('SWITCHBOARD_TURN_PORT'))) out.port = envInt('SWITCHBOARD_TURN_PORT', v);
  if ((v = get('SWITCHBOARD_TURN_ALLOW_LOOPBACK'))) out.allowLoopbackPeers = envBool('SWITCHBOARD_TURN_ALLOW_LOOPBACK', v);
  if ((v = get('SWITCHBOARD_TURN_ALLOW_PRIVATE'))) out.allowPrivatePeers = envBool('SWITCHBOARD_TURN_ALLOW_PRIVATE', v);
  if ((v = get('SWITCHBOARD_TURN_REALM'))) out.realm = v;
  if ((v = get('SWITCHBOARD_TURN_LISTEN'))) out.listeningAddresses = envList(v);
  if ((v = get('SWITCHBOARD_TURN_RELAY_ADDRESSES'))) out.relayAddresses = envList(v);
  if ((v = get('SWITCHBOARD_TURN_RELAY_PORTS'))) {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(v);
    if (!m) throw new TurnConfigError(`environment variable SWITCHBOARD_TURN_RELAY_PORTS must be "min-max", got ${JSON.stringify(v)}`);
    out.relayPortMin = Number(m[1]);
    out.relayPortMax = Number(m[2]);
  }
  if ((v = get('SWITCHBOARD_TURN_USER_QUOTA'))) out.userQuota = envInt('SWITCHBOARD_TURN_USER_QUOTA', v);
  if ((v = get('SWITCHBOARD_TURN_TOTAL_QUOTA'))) out.totalQuota = envInt('SWITCHBOARD_TURN_TOTAL_QUOTA', v);
  if ((v = get('SWITCHBOARD_TURN_ANON_QUOTA'))) out.anonymousUserQuota = envInt('SWITCHBOARD_TURN_ANON_QUOTA', v);
  if ((v = get('SWITCHBOARD_TURN_ANON_TOTAL_QUOTA'))) out.anonymousTotalQuota = envInt('SWITCHBOARD_TURN_ANON_TOTAL_QUOTA', v);
  if ((v = get('SWITCHBOARD_TURN_MAX_BPS'))) out.maxBytesPerSecond = envInt('SWITCHBOARD_TURN_MAX_BPS', v);
  if ((v = get('SWITCHBOARD_TURN_TCP_BUFFER'))) out.tcpBufferBytes = envInt('SWITCHBOARD_TURN_TCP_BUFFER', v);
  if ((v = get('SWITCHBOARD_TURN_UNAUTH_RATE'))) out.unauthenticatedRate = envInt('SWITCHBOARD_TURN_UNAUTH_RATE', v);
  if ((v = get('SWITCHBOARD_TURN_DENIED_PEERS'))) out.deniedPeerRanges = envList(v);
  if ((v = get('SWITCHBOARD_TURN_ALLOWED_PEERS'))) out.allowedPeerRanges = envList(v);
  if ((v = get('SWITCHBOARD_TURN_UDP'))) out.udp = envBool('SWITCHBOARD_TURN_UDP', v);
  if ((v = get('SWITCHBOARD_TURN_TCP'))) out.tcp = envBool('SWITCHBOARD_TURN_TCP', v);
  if ((v = get('SWITCHBOARD_TURN_USERS'))) {
    out.users = {};
    for (const pair of envList(v)) {
      const i = pair.indexOf(':');
      if (i <= 0) throw new TurnConfigError('environment variable SWITCHBOARD_TURN_USERS must be "user:pass,user2:pass2"');
      out.users[pair.slice(0, i)] = pair.slice(i + 1);
    }
  }
  return out;
}

function checkType(field: string, value: unknown, like: unknown): void {
  if (Array.isArray(like)) {
    if (!Array.isArray(value) || value.some((x) => typeof x !== 'string')) throw new TurnConfigError(`option "${field}" must be an array of strings`);
    return;
  }
  if (typeof like === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((x) => typeof x !== 'string')) {
      throw new TurnConfigError(`option "${field}" must be an object of strings`);
    }
    return;
  }
  if (typeof value !== typeof like) throw new TurnConfigError(`option "${field}" must be a ${typeof like}, got ${JSON.stringify(value)}`);
  if (typeof like === 'number' && (!Number.isInteger(value) || (value as number) < 0)) {
    throw new TurnConfigError(`option "${field}" must be a non-negative integer, got ${String(value)}`);
  }
}

/**
 * Merges `partial` over the environment over the defaults. Precedence: explicit option, then
 * environment variable ({@link TURN_ENV}), then default. Throws {@link TurnConfigError} naming the
 * first bad field. Never mutates `partial`.
 */
export function resolveTurnOptions(partial: Partial<TurnServerOptions> = {}, env: Record<string, string | undefined> = process.env): TurnServerOptions {
  if (typeof partial !== 'object' || partial === null) throw new TurnConfigError('TURN options must be an object');
  const defaults = defaultTurnOptions();
  for (const k of Object.keys(partial)) {
    if (!(k in defaults)) throw new TurnConfigError(`unknown TURN option "${k}"`);
  }
  const merged: Record<string, unknown> = { ...defaults, ...turnOptionsFromEnv(env) };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) merged[k] = v;
  for (const [k, like] of Object.entries(defaults)) checkType(k, merged[k], like);
  const o = merged as unknown as TurnServerOptions;
  const out: TurnServerOptions = {
    ...o,
    listeningAddresses: [...o.listeningAddresses],
    relayAddresses: [...o.relayAddresses],
    deniedPeerRanges: [...o.deniedPeerRanges],
    allowedPeerRanges: [...o.allowedPeerRanges],
    users: { ...o.users },
  };
  if (out.port > 65535) throw new TurnConfigError('option "port" must be 0-65535');
  if (out.relayPortMin < 1 || out.relayPortMax > 65535 || out.relayPortMin > out.relayPortMax) {
    throw new TurnConfigError('options "relayPortMin"/"relayPortMax" must satisfy 1 <= min <= max <= 65535');
  }
  if (out.listeningAddresses.length === 0) throw new TurnConfigError('option "listeningAddresses" must not be empty');
  out.listeningAddresses.forEach((a, i) => {
    if (ipFamily(a) === 0) throw new TurnConfigError(`option "listeningAddresses[${i}]" is not an IP address: ${JSON.stringify(a)}`);
  });
  const families = new Set<number>();
  out.relayAddresses.forEach((a, i) => {
    const f = ipFamily(a);
    if (f === 0 || a === '0.0.0.0' || a === '::') throw new TurnConfigError(`option "relayAddresses[${i}]" must be a concrete IP address, got ${JSON.stringify(a)}`);
    if (families.has(f)) throw new TurnConfigError(`option "relayAddresses[${i}]": at most one relay address per family`);
    families.add(f);
  });
  if (!out.udp && !out.tcp) throw new TurnConfigError('options "udp" and "tcp" cannot both be false');
  if (out.realm.length === 0 || Buffer.byteLength(out.realm) > 763) throw new TurnConfigError('option "realm" must be 1-763 bytes');
  if (out.restSeparator.length !== 1) throw new TurnConfigError('option "restSeparator" must be one character');
  if (out.nonceLifetime < 1) throw new TurnConfigError('option "nonceLifetime" must be >= 1');
  if (out.defaultLifetime < 1 || out.maxLifetime < out.defaultLifetime) {
    throw new TurnConfigError('options "defaultLifetime"/"maxLifetime" must satisfy 1 <= default <= max');
  }
  // Room for any response with margin, or a busy but reading client would be closed.
  if (out.tcpBufferBytes < 4096) throw new TurnConfigError('option "tcpBufferBytes" must be >= 4096');
  if (out.maxMessageBytes < 548 || out.maxMessageBytes > 65535 + 20) throw new TurnConfigError('option "maxMessageBytes" must be 548-65555');
  for (const field of ['deniedPeerRanges', 'allowedPeerRanges'] as const) {
    out[field].forEach((r, i) => {
      try {
        parsePeerRange(r);
      } catch (e) {
        throw new TurnConfigError(`option "${field}[${i}]": ${(e as Error).message}`, { cause: e });
      }
    });
  }
  return out;
}
