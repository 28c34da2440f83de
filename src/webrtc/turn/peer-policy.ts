/**
 * Which peer addresses a relay may talk to. RFC 8656 §21.1.1 (and §17 of the security
 * considerations): a TURN server open to arbitrary peers lets clients reach the operator's
 * internal network. Loopback, private, link-local and similar ranges are denied unless an option
 * allows them; `allowedPeerRanges` punches holes in any deny (as coturn's `allowed-peer-ip`).
 */
import { BlockList } from 'node:net';
import { ipFamily } from '../stun/ip.ts';

/** A parsed range: CIDR, a single address, or `first-last`. */
export type PeerRange =
  | { kind: 'subnet'; network: string; prefix: number; type: 'ipv4' | 'ipv6' }
  | { kind: 'range'; first: string; last: string; type: 'ipv4' | 'ipv6' }
  | { kind: 'address'; address: string; type: 'ipv4' | 'ipv6' };

/** Parses '10.0.0.0/8', '::1', '192.168.0.1-192.168.0.9'. Throws Error with the reason. */
export function parsePeerRange(text: string): PeerRange {
  const s = text.trim();
  const slash = s.indexOf('/');
  if (slash >= 0) {
    const network = s.slice(0, slash);
    const fam = ipFamily(network);
    const prefix = Number(s.slice(slash + 1));
    const max = fam === 4 ? 32 : 128;
    if (fam === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max || !/^\d+$/.test(s.slice(slash + 1))) {
      throw new Error(`bad CIDR range ${JSON.stringify(text)}`);
    }
    return { kind: 'subnet', network, prefix, type: fam === 4 ? 'ipv4' : 'ipv6' };
  }
  const dash = s.indexOf('-');
  if (dash > 0) {
    const first = s.slice(0, dash).trim();
    const last = s.slice(dash + 1).trim();
    const f1 = ipFamily(first);
    if (f1 === 0 || f1 !== ipFamily(last)) throw new Error(`bad address range ${JSON.stringify(text)}`);
    return { kind: 'range', first, last, type: f1 === 4 ? 'ipv4' : 'ipv6' };
  }
  const fam = ipFamily(s);
  if (fam === 0) throw new Error(`not an address or range: ${JSON.stringify(text)}`);
  return { kind: 'address', address: s, type: fam === 4 ? 'ipv4' : 'ipv6' };
}

function add(list: BlockList, r: PeerRange): void {
  if (r.kind === 'subnet') list.addSubnet(r.network, r.prefix, r.type);
  else if (r.kind === 'range') list.addRange(r.first, r.last, r.type);
  else list.addAddress(r.address, r.type);
}

/** RFC 1122 loopback, RFC 4291 §2.5.3. */
export const LOOPBACK_RANGES = ['127.0.0.0/8', '::1/128'];
/** RFC 1918 private, RFC 6598 shared (CGNAT), RFC 3927 and RFC 4291 link-local, RFC 4193 unique local. */
export const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', 'fc00::/7', 'fe80::/10'];
/** Never a unicast peer: "this network", multicast, reserved/broadcast, unspecified, IPv6 multicast. */
export const ALWAYS_DENIED_RANGES = ['0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4', '::/128', 'ff00::/8'];

export interface PeerPolicyOptions {
  allowLoopbackPeers: boolean;
  allowPrivatePeers: boolean;
  deniedPeerRanges: readonly string[];
  allowedPeerRanges: readonly string[];
}

export class PeerPolicy {
  private readonly denied = new BlockList();
  private readonly allowed = new BlockList();

  constructor(opts: PeerPolicyOptions) {
    const deny = [...ALWAYS_DENIED_RANGES, ...opts.deniedPeerRanges];
    if (!opts.allowLoopbackPeers) deny.push(...LOOPBACK_RANGES);
    if (!opts.allowPrivatePeers) deny.push(...PRIVATE_RANGES);
    for (const r of deny) add(this.denied, parsePeerRange(r));
    for (const r of opts.allowedPeerRanges) add(this.allowed, parsePeerRange(r));
  }

  /**
   * Whether relaying to `address` is allowed. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
   * judged as the IPv4 address they carry (BlockList does this), so they cannot dodge a deny.
   */
  allows(address: string): boolean {
    const fam = ipFamily(address);
    if (fam === 0) return false;
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(address, type)) return true;
    return !this.denied.check(address, type);
  }
}
