/**
 * Development certificates for WebTransport. Browsers accept a self-signed certificate without a
 * CA only through `serverCertificateHashes`, and only when it is X.509 v3 with an ECDSA P-256 key
 * and valid for at most 14 days (W3C WebTransport, "custom certificate requirements"). Dev mode
 * makes one here — a minimal DER writer, no dependency — hands out its SHA-256, and makes a new
 * one before it expires (server.ts).
 */
import { X509Certificate, createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

// ---- DER (X.690) -------------------------------------------------------------------------------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...body: Buffer[]): Buffer => {
  const b = Buffer.concat(body);
  return Buffer.concat([Buffer.from([tag]), len(b.length), b]);
};
const seq = (...b: Buffer[]) => tlv(0x30, ...b);
const set = (...b: Buffer[]) => tlv(0x31, ...b);
function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const enc: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) enc.unshift(0x80 | (v & 0x7f));
    out.push(...enc);
  }
  return tlv(0x06, Buffer.from(out));
}
function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'ascii'));
}
function ipBytes(ip: string): Buffer | null {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (v4) return Buffer.from(v4.slice(1).map(Number));
  if (ip === '::1') return Buffer.from([...new Array<number>(15).fill(0), 1]);
  return null;
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface Certificate {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the DER certificate: what `serverCertificateHashes` pins. */
  sha256: Buffer;
  notBefore: number;
  notAfter: number;
}

export interface DevCertificateOptions {
  /** Names for the subjectAltName: DNS names and IP addresses. @default ['localhost', '127.0.0.1', '::1'] */
  names?: string[];
  /** Validity in ms; browsers refuse pinned certificates valid longer than 14 days. @default 10 days */
  validityMs?: number;
  now?: number;
}

/** Browsers' ceiling for a hash-pinned certificate's validity. */
export const MAX_PINNED_VALIDITY_MS = 14 * 24 * 3600_000;

/** A fresh self-signed ECDSA P-256 certificate. */
export function generateDevCertificate(opts: DevCertificateOptions = {}): Certificate {
  const validity = opts.validityMs ?? 10 * 24 * 3600_000;
  if (validity > MAX_PINNED_VALIDITY_MS) throw new RangeError('a hash-pinned certificate must be valid for at most 14 days');
  const now = opts.now ?? Date.now();
  // A minute of slack for clocks slightly behind ours, inside the 14-day budget.
  const notBefore = Math.floor((now - 60_000) / 1000) * 1000;
  const notAfter = notBefore + validity;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const names = opts.names ?? ['localhost', '127.0.0.1', '::1'];
  const sans = names.map((n) => {
    const ip = ipBytes(n);
    return ip ? tlv(0x87, ip) : tlv(0x82, Buffer.from(n, 'ascii'));
  });
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const name = seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from('switchboard dev', 'utf8')))));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    ECDSA_SHA256,
    name,
    seq(utcTime(new Date(notBefore)), utcTime(new Date(notAfter))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(seq(oid('2.5.29.17'), tlv(0x04, seq(...sans))))),
  );
  const sig = sign('sha256', tbs, privateKey as KeyObject);
  const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sig));
  const certPem = new X509Certificate(der).toString();
  return {
    certPem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    sha256: createHash('sha256').update(der).digest(),
    notBefore,
    notAfter,
  };
}

/** SHA-256 of a PEM certificate's DER form (for a configured certificate). */
export function certificateHash(pem: string): Buffer {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest();
}
