/**
 * Trust between the nodes of a cluster. Anything that can write to the broker (a Redis or NATS
 * client on the network) can publish on the reserved `$sb:` channels, so nothing a node reads there
 * is believed unless it is signed with the cluster secret (`clusterSecret`): HMAC-SHA256
 * (RFC 2104, https://www.rfc-editor.org/rfc/rfc2104) over a canonical encoding with the sender's
 * timestamp, checked against a replay window.
 *
 * Canonical encoding: the payload travels as a JSON *string* (`body`), and the MAC covers exactly
 * those bytes, so the receiver never has to re-serialise an object the same way the sender did:
 *
 *     MAC = HMAC-SHA256(secret, "switchboard-cluster-v1\n" + kind + "\n" + ts + "\n" + body)
 *
 * `kind` (the channel's purpose: "nodes", "control") keeps a message signed for one channel from
 * being replayed on another. The same secret signs forwarded SSE/poll requests (see forward.ts).
 *
 * Without a secret and with a MemoryBroker (whose peers can only be in this process), the node
 * uses PROCESS_SECRET, a random key shared by the nodes of this process only. Without a secret and
 * with a network broker there is no key: the node trusts no peer (see docs/brokers.md).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The envelope published on `$sb:nodes` and `$sb:control`. */
export interface SignedMessage {
  v: 1;
  /** Sender's clock, ms since the epoch. */
  ts: number;
  /** The payload as JSON text: what the MAC covers. */
  body: string;
  /** base64url HMAC-SHA256. */
  sig: string;
}

/** Why a message was not believed (also the `reason` label of the rejection metric). */
export type RejectReason = 'unsigned' | 'badSignature' | 'stale' | 'invalid' | 'replay';

export type Verified = { ok: true; payload: unknown; ts: number; sig: string } | { ok: false; reason: RejectReason };

/** Largest accepted `body` (a node report with 20 channel names of 255 characters is ~7 KiB). */
export const MAX_SIGNED_BODY = 32 * 1024;

/** Shortest accepted `clusterSecret` (characters). */
export const MIN_CLUSTER_SECRET = 16;

/**
 * The key of in-process clusters (MemoryBroker peers) when no `clusterSecret` is configured:
 * random per process, never printed or sent anywhere but inside this process.
 */
export const PROCESS_SECRET = randomBytes(32).toString('base64url');

const DOMAIN = 'switchboard-cluster-v1';
const SIG = /^[A-Za-z0-9_-]{43}$/;

function mac(secret: string, parts: readonly string[]): Buffer {
  return createHmac('sha256', secret).update(parts.join('\n')).digest();
}

/** Signs `payload` for channel purpose `kind` at time `now` (ms). */
export function signMessage(secret: string, kind: string, payload: unknown, now: number): SignedMessage {
  const ts = Math.floor(now);
  const body = JSON.stringify(payload);
  return { v: 1, ts, body, sig: mac(secret, [DOMAIN, kind, String(ts), body]).toString('base64url') };
}

/** Constant-time comparison of a received base64url MAC with the expected one. */
function sameMac(received: string, expected: Buffer): boolean {
  if (!SIG.test(received)) return false;
  const got = Buffer.from(received, 'base64url');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/**
 * Checks a message read from the broker: shape, signature, then freshness (|now − ts| within
 * `windowMs`, both ways, so a clock running ahead cannot mint long-lived messages). Returns the
 * parsed payload, still to be validated field by field by the caller.
 */
export function verifyMessage(secret: string, kind: string, msg: unknown, now: number, windowMs: number): Verified {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return { ok: false, reason: 'unsigned' };
  const m = msg as Partial<Record<keyof SignedMessage, unknown>>;
  if (m.sig === undefined && m.body === undefined) return { ok: false, reason: 'unsigned' };
  if (m.v !== 1 || typeof m.ts !== 'number' || !Number.isSafeInteger(m.ts) || typeof m.body !== 'string' || typeof m.sig !== 'string' || m.body.length > MAX_SIGNED_BODY) {
    return { ok: false, reason: 'invalid' };
  }
  if (!sameMac(m.sig, mac(secret, [DOMAIN, kind, String(m.ts), m.body]))) return { ok: false, reason: 'badSignature' };
  if (Math.abs(now - m.ts) > windowMs) return { ok: false, reason: 'stale' };
  let payload: unknown;
  try {
    payload = JSON.parse(m.body);
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  return { ok: true, payload, ts: m.ts, sig: m.sig };
}

/** Header carrying the proof that a request was forwarded by a node of this cluster. */
export const FORWARD_AUTH_HEADER = 'x-switchboard-forward-auth';

/** How long a forwarding proof is good for (ms): the hop between two nodes, plus clock skew. */
export const FORWARD_WINDOW_MS = 30_000;

const FORWARD_DOMAIN = 'switchboard-forward-v1';

/**
 * The proof a forwarding node attaches: `<ts>.<mac>` over the method, the exact request target
 * (path and query, session key included) and the forwarding node's name.
 */
export function signForward(secret: string, from: string, method: string, target: string, now: number): string {
  const ts = String(Math.floor(now));
  return `${ts}.${mac(secret, [FORWARD_DOMAIN, ts, from, method, target]).toString('base64url')}`;
}

/** Whether `proof` is a fresh, valid forwarding proof for this request. */
export function verifyForward(secret: string, proof: string, from: string, method: string, target: string, now: number): boolean {
  const dot = proof.indexOf('.');
  if (dot < 1 || dot > 16) return false;
  const ts = proof.slice(0, dot);
  if (!/^\d{1,15}$/.test(ts) || Math.abs(now - Number(ts)) > FORWARD_WINDOW_MS) return false;
  return sameMac(proof.slice(dot + 1), mac(secret, [FORWARD_DOMAIN, ts, from, method, target]));
}
