/**
 * The TURN server's own listening endpoints, which no relay may use as a peer.
 *
 * Why: a relay that may send to the server's listening port becomes a client of its own server
 * (RFC 8656 §21.1.1 "the server ... can be used to access ... itself"): a Send indication whose
 * DATA is an Allocate request, addressed to the listening port, makes the relay socket allocate a
 * second relay, the answers come back through the first as Data indications, and chains of
 * allocations (or a ChannelData loop between them) follow. The peer policy works on addresses
 * only; this adds the address:port pairs of the listeners, whatever the loopback/private options.
 *
 * A wildcard listener ('0.0.0.0' / '::') is reachable on every interface address of its family,
 * and on all of 127.0.0.0/8 (Linux delivers any 127/8 destination to the loopback interface), so
 * those are expanded. Interface addresses can change at runtime (DHCP, VPN): the expansion is
 * redone when older than {@link SELF_REFRESH_MS}, and only for a peer whose port is a listening
 * port, so ordinary relaying never pays for it.
 *
 * Relay ports are deliberately NOT refused: a client relaying to another client's relayed address
 * on the same server is the normal case of two relayed WebRTC peers (and coturn's
 * `turnutils_uclient -y`). It cannot loop: a relay socket only forwards to its own client through
 * the listening socket, and the listening endpoints are what is refused here.
 */
import { BlockList } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Clock } from '../../util/clock.ts';
import { ipFamily } from '../stun/ip.ts';

/** How long an interface-address expansion of a wildcard listener is reused, ms. */
export const SELF_REFRESH_MS = 5_000;

export interface ListeningEndpoint {
  readonly address: string;
  readonly port: number;
}

/** Where the addresses of the machine's interfaces come from (os.networkInterfaces by default). */
export type InterfaceLister = () => Array<{ address: string; family: 4 | 6 }>;

function systemInterfaces(): Array<{ address: string; family: 4 | 6 }> {
  const out: Array<{ address: string; family: 4 | 6 }> = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) out.push({ address: i.address, family: i.family === 'IPv6' ? 6 : 4 });
  }
  return out;
}

export class SelfEndpoints {
  private listeners: ListeningEndpoint[] = [];
  private readonly ports = new Set<number>();
  private list: BlockList | undefined;
  private builtAt = 0;

  constructor(
    private readonly clock: Clock,
    private readonly interfaces: InterfaceLister = systemInterfaces,
  ) {}

  /** Replaces the listening endpoints (called once the server is bound). */
  set(listeners: readonly ListeningEndpoint[]): void {
    this.listeners = [...listeners];
    this.ports.clear();
    for (const l of listeners) this.ports.add(l.port);
    this.list = undefined;
  }

  /** Whether `address:port` is one of the server's own listening endpoints. */
  has(address: string, port: number): boolean {
    if (!this.ports.has(port)) return false;
    const fam = ipFamily(address);
    if (fam === 0) return true; // not an address at all: refuse rather than guess
    return this.blockList().check(address, fam === 4 ? 'ipv4' : 'ipv6');
  }

  private blockList(): BlockList {
    const now = this.clock.now();
    if (this.list && now - this.builtAt < SELF_REFRESH_MS) return this.list;
    const list = new BlockList();
    let wild4 = false;
    let wild6 = false;
    for (const l of this.listeners) {
      if (l.address === '0.0.0.0') wild4 = true;
      else if (l.address === '::') wild6 = true;
      else list.addAddress(l.address, ipFamily(l.address) === 6 ? 'ipv6' : 'ipv4');
    }
    if (wild4) list.addSubnet('127.0.0.0', 8, 'ipv4');
    if (wild6) list.addAddress('::1', 'ipv6');
    if (wild4 || wild6) {
      for (const i of this.interfaces()) {
        if ((i.family === 4 && wild4) || (i.family === 6 && wild6)) list.addAddress(i.address.split('%')[0]!, i.family === 4 ? 'ipv4' : 'ipv6');
      }
    }
    this.list = list;
    this.builtAt = now;
    return list;
  }
}
