/**
 * IP address text <-> bytes, for the address attributes. Pure; no DNS, no sockets.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { StunDecodeError } from './errors.ts';

/** A transport address as STUN carries it. `family` is 4 or 6; `address` is canonical text. */
export interface TransportAddress {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

/** Writes the 4 or 16 bytes of `address` into `out` at `offset`. Throws StunDecodeError on bad text. */
export function writeIp(address: string, out: Buffer, offset: number): 4 | 6 {
  if (isIPv4(address)) {
    const parts = address.split('.');
    for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
    return 4;
  }
  if (!isIPv6(address)) throw new StunDecodeError(`not an IP address: ${JSON.stringify(address)}`);
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const b = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${(((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16)}:${(((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16)}`;
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups = rest === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] ?? '0', 16), offset + i * 2);
  return 6;
}

/** Canonical text of 4 (IPv4) or 16 (IPv6, RFC 5952 compressed) bytes at `offset`. */
export function readIp(buf: Buffer, offset: number, family: 4 | 6): string {
  if (family === 4) return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + i * 2));
  // RFC 5952 §4.2: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((n) => n.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** 4 or 6 for an IP literal, 0 otherwise. */
export function ipFamily(address: string): 0 | 4 | 6 {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  return 0;
}

/** Canonical text form of an IP literal (so `::0001` and `::1` compare equal); IPv4-mapped IPv6 stays IPv6. */
export function canonicalIp(address: string): string {
  const fam = ipFamily(address);
  if (fam === 0) throw new StunDecodeError(`not an IP address: ${JSON.stringify(address)}`);
  const b = Buffer.alloc(16);
  writeIp(address, b, 0);
  return readIp(b, 0, fam);
}
