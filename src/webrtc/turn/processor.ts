/**
 * The TURN/STUN request state machine (RFC 8489 §6.3, RFC 8656 §7–§12): takes whole messages from
 * a {@link ClientConnection}, answers through it, and owns the allocations. No listening sockets
 * here (the server's adapters feed it); relay sockets are created through {@link bindRelay}.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import type { Clock, TimerHandle } from '../../util/clock.ts';
import { decodeXorAddress, encodeXorAddress } from '../stun/address.ts';
import {
  decodeAddressFamily,
  decodeChannelNumber,
  decodeEvenPort,
  decodeLifetime,
  decodeRequestedTransport,
  encodeLifetime,
} from '../stun/attributes.ts';
import { bindingSuccess } from '../stun/binding.ts';
import { decodeChannelData } from '../stun/channel-data.ts';
import {
  AttrType,
  CHANNEL_MAX,
  CHANNEL_MIN,
  FAMILY_IPV4,
  FAMILY_IPV6,
  StunClass,
  StunMethod,
  TRANSPORT_UDP,
} from '../stun/constants.ts';
import { StunDecodeError, type StunErrorName } from '../stun/errors.ts';
import { verifyFingerprint } from '../stun/fingerprint.ts';
import type { TransportAddress } from '../stun/ip.ts';
import { decodeStunMessage, getAttribute, getAttributes, type DecodedStunMessage, type StunAttribute } from '../stun/message.ts';
import { encodeUnknownAttributes, unknownComprehensionRequired } from '../stun/unknown-attributes.ts';
import { Allocation } from './allocation.ts';
import { Authenticator } from './auth.ts';
import type { ClientConnection } from './connection.ts';
import type { TurnMetrics } from './metrics.ts';
import { NonceIssuer } from './nonce.ts';
import type { TurnServerOptions } from './options.ts';
import { PeerPolicy } from './peer-policy.ts';
import { bindRelay } from './relay-socket.ts';
import { Responder } from './responses.ts';
import { SelfEndpoints, type ListeningEndpoint } from './self-endpoints.ts';
import { SourceLimiter } from './source-limiter.ts';
import { AllocationQuotas } from './quotas.ts';

/** RFC 8656 §7.2: "the server ... SHOULD ... keep the reservation for approximately 30 seconds". */
export const RESERVATION_LIFETIME_MS = 30_000;

/**
 * Comprehension-required attributes this server understands (RFC 8489 §6.3.1: any other in a
 * request gets 420). DONT-FRAGMENT is understood: Linux UDP sockets default to path-MTU discovery
 * (IP_PMTUDISC_WANT), which sends with DF set, so the request is honoured as RFC 8656 §7.2 asks.
 */
const KNOWN = new Set<number>([
  AttrType.mappedAddress,
  AttrType.username,
  AttrType.messageIntegrity,
  AttrType.errorCode,
  AttrType.unknownAttributes,
  AttrType.realm,
  AttrType.nonce,
  AttrType.messageIntegritySha256,
  AttrType.xorMappedAddress,
  AttrType.channelNumber,
  AttrType.lifetime,
  AttrType.xorPeerAddress,
  AttrType.data,
  AttrType.xorRelayedAddress,
  AttrType.requestedAddressFamily,
  AttrType.evenPort,
  AttrType.requestedTransport,
  AttrType.dontFragment,
  AttrType.reservationToken,
  AttrType.priority,
  AttrType.useCandidate,
]);

interface Reservation {
  socket: Socket;
  relay: TransportAddress;
  timer: TimerHandle;
}

export class TurnProcessor {
  readonly allocations = new Map<string, Allocation>();
  private readonly pending = new Set<string>();
  private readonly quotas: AllocationQuotas;
  private readonly reservations = new Map<string, Reservation>();
  private readonly responder: Responder;
  private readonly auth: Authenticator;
  private readonly policy: PeerPolicy;
  private readonly self: SelfEndpoints;
  private readonly unauthLimiter: SourceLimiter;
  private closed = false;

  /** @param relayAddresses the concrete relay address per family (4 and/or 6). */
  constructor(
    private readonly opts: TurnServerOptions,
    private readonly clock: Clock,
    readonly metrics: TurnMetrics,
    private readonly relayAddresses: ReadonlyMap<4 | 6, string>,
  ) {
    this.responder = new Responder(opts.software);
    this.auth = new Authenticator(opts, new NonceIssuer(clock, opts.nonceLifetime), this.responder, clock, metrics);
    this.policy = new PeerPolicy(opts);
    this.self = new SelfEndpoints(clock);
    this.unauthLimiter = new SourceLimiter(clock, opts.unauthenticatedRate);
    this.quotas = new AllocationQuotas(opts);
  }

  /**
   * Sends an answer made without authentication. Over UDP it is rate-limited per source address
   * (see {@link SourceLimiter}); past the rate it is dropped silently and counted.
   */
  private answerUnauthenticated(conn: ClientConnection, response: Buffer): void {
    if (conn.transport === 'udp' && !this.unauthLimiter.take(conn.remote.address)) {
      this.metrics.droppedUnauthenticatedRate++;
      return;
    }
    conn.send(response);
  }

  /** The server's bound listening endpoints: never allowed as peers (see {@link SelfEndpoints}). */
  setListeningEndpoints(list: readonly ListeningEndpoint[]): void {
    this.self.set(list);
  }

  /** The peer policy plus the server's own listening endpoints (RFC 8656 §21.1.1). */
  private peerAllowed(peer: TransportAddress): boolean {
    return this.policy.allows(peer.address) && !this.self.has(peer.address, peer.port);
  }

  /**
   * One whole message from `conn`: STUN or ChannelData. Malformed input is dropped (RFC 8489
   * §6.3: "silently discarded") and counted; it never throws.
   */
  onMessage(conn: ClientConnection, buf: Buffer): void {
    const lead = buf.length > 0 ? buf[0]! & 0xc0 : 0xff;
    if (lead === 0x40) {
      this.onChannelData(conn, buf);
      return;
    }
    if (lead !== 0 || buf.length > this.opts.maxMessageBytes) {
      this.metrics.droppedMalformed++;
      return;
    }
    let msg: DecodedStunMessage;
    try {
      msg = decodeStunMessage(buf);
    } catch (e) {
      if (!(e instanceof StunDecodeError)) throw e;
      this.metrics.droppedMalformed++;
      return;
    }
    if (!verifyFingerprint(msg)) {
      this.metrics.droppedMalformed++;
      return;
    }
    if (msg.cls === StunClass.request) this.onRequest(conn, msg);
    else if (msg.cls === StunClass.indication && msg.method === StunMethod.send) this.onSend(conn, msg);
    // Responses, and indications other than Send, are not for a server: dropped.
  }

  /** The TCP connection or UDP 5-tuple `key` is gone: RFC 8656 §3.1 deletes its allocation. */
  onClientGone(key: string): void {
    const a = this.allocations.get(key);
    if (a) this.remove(a);
  }

  /** Closes every allocation and reservation. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const a of [...this.allocations.values()]) this.remove(a);
    for (const [token, r] of this.reservations) {
      this.clock.clearTimeout(r.timer);
      r.socket.close();
      this.reservations.delete(token);
    }
  }

  private onChannelData(conn: ClientConnection, buf: Buffer): void {
    const a = this.allocations.get(conn.key);
    if (!a) {
      this.metrics.droppedNoPermission++;
      return;
    }
    let cd;
    try {
      cd = decodeChannelData(buf);
    } catch (e) {
      if (!(e instanceof StunDecodeError)) throw e;
      this.metrics.droppedMalformed++;
      return;
    }
    a.channelToPeer(cd.channel, cd.data);
  }

  private onSend(conn: ClientConnection, msg: DecodedStunMessage): void {
    const a = this.allocations.get(conn.key);
    const peerAttr = getAttribute(msg, AttrType.xorPeerAddress);
    const data = getAttribute(msg, AttrType.data);
    // RFC 8656 §11.3: no allocation, no XOR-PEER-ADDRESS or DATA, or unknown comprehension-required
    // attributes: the indication is discarded.
    if (!a || !peerAttr || !data || unknownComprehensionRequired(msg, KNOWN).length > 0) {
      this.metrics.droppedNoPermission++;
      return;
    }
    let peer: TransportAddress;
    try {
      peer = decodeXorAddress(peerAttr.value, msg.transactionId, 'XOR-PEER-ADDRESS');
    } catch (e) {
      if (!(e instanceof StunDecodeError)) throw e;
      this.metrics.droppedMalformed++;
      return;
    }
    if (peer.family !== a.relay.family || !this.peerAllowed(peer)) {
      this.metrics.peerDenied++;
      return;
    }
    a.sendToPeer(data.value, peer);
  }

  private onRequest(conn: ClientConnection, msg: DecodedStunMessage): void {
    if (msg.method === StunMethod.binding) {
      const unknown = unknownComprehensionRequired(msg, KNOWN);
      if (unknown.length > 0) {
        this.answerUnauthenticated(conn, this.responder.error(msg, 'unknownAttribute', [{ type: AttrType.unknownAttributes, value: encodeUnknownAttributes(unknown) }]));
        return;
      }
      this.metrics.bindingRequests++;
      // No SOFTWARE: Binding is unauthenticated, so its answer must stay small (issue 11 D3).
      this.answerUnauthenticated(conn, bindingSuccess(msg, conn.remote));
      return;
    }
    const turnMethods: number[] = [StunMethod.allocate, StunMethod.refresh, StunMethod.createPermission, StunMethod.channelBind];
    if (!turnMethods.includes(msg.method)) {
      // RFC 8489 §6.3.1: a request with a method the server does not know gets 400.
      this.answerUnauthenticated(conn, this.responder.error(msg, 'badRequest'));
      return;
    }
    const auth = this.auth.authenticate(msg, msg.method === StunMethod.allocate ? undefined : this.allocations.get(conn.key));
    if (!auth.ok) {
      this.answerUnauthenticated(conn, auth.response);
      return;
    }
    const unknown = unknownComprehensionRequired(msg, KNOWN);
    if (unknown.length > 0) {
      conn.send(this.responder.error(msg, 'unknownAttribute', [{ type: AttrType.unknownAttributes, value: encodeUnknownAttributes(unknown) }], auth.key));
      return;
    }
    const reply = (name: StunErrorName, attrs: StunAttribute[] = []) => conn.send(this.responder.error(msg, name, attrs, auth.key));
    if (msg.method === StunMethod.allocate) {
      this.allocate(conn, msg, auth).catch(() => reply('serverError'));
      return;
    }
    const a = this.allocations.get(conn.key);
    if (!a) return void reply('allocationMismatch');
    // RFC 8656 §5: later requests must use the username and realm that created the allocation.
    if (a.username !== auth.username || a.realm !== auth.realm) return void reply('wrongCredentials');
    try {
      if (msg.method === StunMethod.refresh) this.refresh(conn, msg, a);
      else if (msg.method === StunMethod.createPermission) this.createPermission(conn, msg, a);
      else this.channelBind(conn, msg, a);
    } catch (e) {
      if (!(e instanceof StunDecodeError)) throw e;
      reply('badRequest');
    }
  }

  /** RFC 8656 §7.2. */
  private async allocate(conn: ClientConnection, msg: DecodedStunMessage, auth: { username: string; realm: string; quotaUser: string; anonymous: boolean; key: Buffer }): Promise<void> {
    const reply = (name: StunErrorName) => void conn.send(this.responder.error(msg, name, [], auth.key));
    const existing = this.allocations.get(conn.key);
    if (existing) {
      // A retransmission of the Allocate that created it gets the same answer; anything else 437.
      if (existing.allocateResponse?.transactionId === msg.transactionId.toString('hex')) conn.send(existing.allocateResponse.response);
      else reply('allocationMismatch');
      return;
    }
    if (this.pending.has(conn.key)) return; // still binding the relay for a retransmitted request
    const transportAttr = getAttribute(msg, AttrType.requestedTransport);
    let transport: number;
    let lifetime: number;
    let family: 4 | 6 = 4;
    let evenPort: { reserveNext: boolean } | undefined;
    let token: Buffer | undefined;
    try {
      if (!transportAttr) return reply('badRequest');
      transport = decodeRequestedTransport(transportAttr.value);
      const lt = getAttribute(msg, AttrType.lifetime);
      lifetime = lt ? decodeLifetime(lt.value) : this.opts.defaultLifetime;
      const fam = getAttribute(msg, AttrType.requestedAddressFamily);
      const ep = getAttribute(msg, AttrType.evenPort);
      const rt = getAttribute(msg, AttrType.reservationToken);
      if (rt && (ep || fam)) return reply('badRequest'); // §7.2: token excludes EVEN-PORT and REQUESTED-ADDRESS-FAMILY
      if (ep) evenPort = decodeEvenPort(ep.value);
      if (rt) token = Buffer.from(rt.value);
      if (token && token.length !== 8) return reply('badRequest');
      if (fam) {
        const f = decodeAddressFamily(fam.value);
        if (f === FAMILY_IPV4) family = 4;
        else if (f === FAMILY_IPV6) family = 6;
        else return reply('addressFamilyNotSupported');
      }
    } catch (e) {
      if (!(e instanceof StunDecodeError)) throw e;
      return reply('badRequest');
    }
    if (transport !== TRANSPORT_UDP) return reply('unsupportedTransportProtocol');
    const reservation = token ? this.reservations.get(token.toString('hex')) : undefined;
    if (token && !reservation) return reply('insufficientCapacity');
    if (reservation) family = reservation.relay.family;
    const relayAddress = this.relayAddresses.get(family);
    if (!relayAddress) return reply('addressFamilyNotSupported');
    // Count the allocation against the quotas before the await, so a flood cannot overshoot.
    if (!this.quotas.take(auth.quotaUser, auth.anonymous)) {
      this.metrics.quotaRejections++;
      return reply('allocationQuotaReached');
    }
    lifetime = Math.min(Math.max(lifetime, this.opts.defaultLifetime), this.opts.maxLifetime);
    this.pending.add(conn.key);
    let socket: Socket;
    let next: Socket | undefined;
    let relay: TransportAddress;
    try {
      if (reservation) {
        this.clock.clearTimeout(reservation.timer);
        this.reservations.delete(token!.toString('hex'));
        socket = reservation.socket;
        relay = reservation.relay;
      } else {
        ({ socket, next } = await bindRelay(relayAddress, this.opts.relayPortMin, this.opts.relayPortMax, evenPort !== undefined, evenPort?.reserveNext ?? false));
        relay = { family, address: relayAddress, port: socket.address().port };
      }
    } catch {
      this.quotas.release(auth.quotaUser, auth.anonymous);
      this.pending.delete(conn.key);
      return reply('insufficientCapacity');
    }
    this.pending.delete(conn.key);
    if (this.closed) {
      socket.close();
      next?.close();
      this.quotas.release(auth.quotaUser, auth.anonymous);
      return;
    }
    const attributes: StunAttribute[] = [
      { type: AttrType.xorRelayedAddress, value: encodeXorAddress(relay, msg.transactionId) },
      { type: AttrType.lifetime, value: encodeLifetime(lifetime) },
      { type: AttrType.xorMappedAddress, value: encodeXorAddress(conn.remote, msg.transactionId) },
    ];
    if (next) {
      const t = randomBytes(8);
      const reserved: Reservation = {
        socket: next,
        relay: { family, address: relayAddress, port: relay.port + 1 },
        timer: this.clock.setTimeout(() => {
          this.reservations.delete(t.toString('hex'));
          next.close();
        }, RESERVATION_LIFETIME_MS),
      };
      reserved.timer.unref?.();
      this.reservations.set(t.toString('hex'), reserved);
      attributes.push({ type: AttrType.reservationToken, value: t });
    }
    const allocation = new Allocation({
      client: conn,
      relay,
      socket,
      username: auth.username,
      realm: auth.realm,
      quotaUser: auth.quotaUser,
      anonymous: auth.anonymous,
      key: auth.key,
      lifetimeSeconds: lifetime,
      maxBytesPerSecond: this.opts.maxBytesPerSecond,
      clock: this.clock,
      metrics: this.metrics,
      onExpire: (a) => this.remove(a),
    });
    const response = this.responder.success(msg, attributes, auth.key);
    allocation.allocateResponse = { transactionId: msg.transactionId.toString('hex'), response };
    this.allocations.set(conn.key, allocation);
    this.metrics.allocationsActive++;
    this.metrics.allocationsTotal++;
    conn.send(response);
  }

  /** RFC 8656 §8.2. LIFETIME 0 deletes the allocation. */
  private refresh(conn: ClientConnection, msg: DecodedStunMessage, a: Allocation): void {
    const fam = getAttribute(msg, AttrType.requestedAddressFamily);
    if (fam) {
      const f = decodeAddressFamily(fam.value);
      if ((f === FAMILY_IPV4 ? 4 : f === FAMILY_IPV6 ? 6 : 0) !== a.relay.family) {
        conn.send(this.responder.error(msg, 'peerAddressFamilyMismatch', [], a.key));
        return;
      }
    }
    const lt = getAttribute(msg, AttrType.lifetime);
    let lifetime = lt ? decodeLifetime(lt.value) : this.opts.defaultLifetime;
    if (lifetime === 0) {
      this.remove(a);
    } else {
      lifetime = Math.min(Math.max(lifetime, this.opts.defaultLifetime), this.opts.maxLifetime);
      a.refresh(lifetime);
    }
    conn.send(this.responder.success(msg, [{ type: AttrType.lifetime, value: encodeLifetime(lifetime) }], a.key));
  }

  /** Peers of a request, judged all-or-nothing: 443 on family mismatch, 403 when policy denies. */
  private peersOf(msg: DecodedStunMessage, a: Allocation): TransportAddress[] | StunErrorName {
    const attrs = getAttributes(msg, AttrType.xorPeerAddress);
    if (attrs.length === 0) return 'badRequest';
    const peers = attrs.map((p) => decodeXorAddress(p.value, msg.transactionId, 'XOR-PEER-ADDRESS'));
    for (const p of peers) {
      if (p.family !== a.relay.family) return 'peerAddressFamilyMismatch';
      if (!this.peerAllowed(p)) {
        this.metrics.peerDenied++;
        return 'forbidden';
      }
    }
    return peers;
  }

  /** RFC 8656 §10.2. */
  private createPermission(conn: ClientConnection, msg: DecodedStunMessage, a: Allocation): void {
    const peers = this.peersOf(msg, a);
    if (typeof peers === 'string') {
      conn.send(this.responder.error(msg, peers, [], a.key));
      return;
    }
    for (const p of peers) {
      if (!a.permit(p.address)) {
        conn.send(this.responder.error(msg, 'insufficientCapacity', [], a.key));
        return;
      }
    }
    conn.send(this.responder.success(msg, [], a.key));
  }

  /** RFC 8656 §11.2. */
  private channelBind(conn: ClientConnection, msg: DecodedStunMessage, a: Allocation): void {
    const ch = getAttribute(msg, AttrType.channelNumber);
    const channel = ch ? decodeChannelNumber(ch.value) : -1;
    if (channel < CHANNEL_MIN || channel > CHANNEL_MAX || getAttributes(msg, AttrType.xorPeerAddress).length !== 1) {
      conn.send(this.responder.error(msg, 'badRequest', [], a.key));
      return;
    }
    const peers = this.peersOf(msg, a);
    if (typeof peers === 'string') {
      conn.send(this.responder.error(msg, peers, [], a.key));
      return;
    }
    const peer = peers[0]!;
    if (a.channelConflict(channel, peer)) {
      conn.send(this.responder.error(msg, 'badRequest', [], a.key));
      return;
    }
    a.bindChannel(channel, peer);
    conn.send(this.responder.success(msg, [], a.key));
  }

  private remove(a: Allocation): void {
    if (this.allocations.get(a.client.key) !== a) return;
    this.allocations.delete(a.client.key);
    a.close();
    this.quotas.release(a.quotaUser, a.anonymous);
    this.metrics.allocationsActive--;
  }
}
