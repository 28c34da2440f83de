/**
 * One TURN allocation (RFC 8656 §2.2, §5): a relayed transport address bound to a client's
 * 5-tuple, with its permissions (§9), channel bindings (§12), lifetime (§7) and the relay socket.
 * Relaying in both directions happens here; request handling lives in the processor.
 */
import type { Socket, RemoteInfo } from 'node:dgram';
import type { Clock, TimerHandle } from '../../util/clock.ts';
import { encodeXorAddress } from '../stun/address.ts';
import { AttrType, StunClass, StunMethod } from '../stun/constants.ts';
import type { TransportAddress } from '../stun/ip.ts';
import { encodeStunMessage, newTransactionId } from '../stun/message.ts';
import { TokenBucket } from './bandwidth.ts';
import type { ClientConnection } from './connection.ts';
import type { TurnMetrics } from './metrics.ts';

/** RFC 8656 §9: "The Permission Lifetime MUST be 300 seconds (= 5 minutes)." */
export const PERMISSION_LIFETIME_MS = 300_000;
/** RFC 8656 §12: a channel binding lasts 10 minutes unless refreshed. */
export const CHANNEL_LIFETIME_MS = 600_000;
/** A cap on permissions per allocation, against memory abuse (not in the RFC; 508 past it). */
export const MAX_PERMISSIONS = 1024;

export interface Channel {
  readonly number: number;
  readonly peer: TransportAddress;
  expiresAt: number;
}

export interface AllocationInit {
  client: ClientConnection;
  relay: TransportAddress;
  socket: Socket;
  /** USERNAME and REALM that created it; later requests must match (RFC 8656 §5, else 441). */
  username: string;
  realm: string;
  /** The identity quotas count against (the user part of a time-limited username). */
  quotaUser: string;
  /** Whether `quotaUser` is an anonymous identity (counted in the anonymous pool). */
  anonymous: boolean;
  /** The long-term key, for integrity on responses. */
  key: Buffer;
  lifetimeSeconds: number;
  maxBytesPerSecond: number;
  clock: Clock;
  metrics: TurnMetrics;
  /** Called once when the lifetime runs out (the owner removes and closes it). */
  onExpire: (a: Allocation) => void;
}

const peerKey = (address: string, port: number) => `${address}|${port}`;

export class Allocation {
  readonly client: ClientConnection;
  readonly relay: TransportAddress;
  readonly username: string;
  readonly realm: string;
  readonly quotaUser: string;
  readonly anonymous: boolean;
  readonly key: Buffer;
  /** The last Allocate success, resent on a retransmitted Allocate (RFC 8656 §7.2). */
  allocateResponse: { transactionId: string; response: Buffer } | undefined;

  private readonly socket: Socket;
  private readonly clock: Clock;
  private readonly metrics: TurnMetrics;
  private readonly bucket: TokenBucket | undefined;
  private readonly permissions = new Map<string, number>();
  private readonly channelsByNumber = new Map<number, Channel>();
  private readonly channelsByPeer = new Map<string, Channel>();
  private timer: TimerHandle | undefined;
  private expiresAt = 0;
  private closed = false;

  constructor(init: AllocationInit) {
    this.client = init.client;
    this.relay = init.relay;
    this.socket = init.socket;
    this.username = init.username;
    this.realm = init.realm;
    this.quotaUser = init.quotaUser;
    this.anonymous = init.anonymous;
    this.key = init.key;
    this.clock = init.clock;
    this.metrics = init.metrics;
    this.bucket = init.maxBytesPerSecond > 0 ? new TokenBucket(init.clock, init.maxBytesPerSecond) : undefined;
    this.onExpire = init.onExpire;
    this.socket.on('message', (msg, rinfo) => this.fromPeer(msg, rinfo));
    // A relay socket error (e.g. ICMP-induced ECONNREFUSED on some platforms) must not crash the process.
    this.socket.on('error', () => {});
    this.refresh(init.lifetimeSeconds);
  }

  private readonly onExpire: (a: Allocation) => void;

  get isClosed(): boolean {
    return this.closed;
  }

  /** Seconds left, rounded down. */
  get remainingSeconds(): number {
    return Math.max(0, Math.floor((this.expiresAt - this.clock.now()) / 1000));
  }

  /** Restarts the lifetime at `seconds` from now (RFC 8656 §8). */
  refresh(seconds: number): void {
    this.clock.clearTimeout(this.timer);
    this.expiresAt = this.clock.now() + seconds * 1000;
    this.timer = this.clock.setTimeout(() => {
      if (this.closed) return;
      this.metrics.allocationsExpired++;
      this.onExpire(this);
    }, seconds * 1000);
    this.timer.unref?.();
  }

  /** Installs or refreshes a permission for `address` (RFC 8656 §9: IP only, port ignored). False when full. */
  permit(address: string): boolean {
    const now = this.clock.now();
    if (!this.permissions.has(address) && this.permissions.size >= MAX_PERMISSIONS) {
      for (const [ip, exp] of this.permissions) if (exp <= now) this.permissions.delete(ip);
      if (this.permissions.size >= MAX_PERMISSIONS) return false;
    }
    this.permissions.set(address, now + PERMISSION_LIFETIME_MS);
    return true;
  }

  hasPermission(address: string): boolean {
    const exp = this.permissions.get(address);
    if (exp === undefined) return false;
    if (exp > this.clock.now()) return true;
    this.permissions.delete(address);
    return false;
  }

  /** Would binding `channel` to `peer` conflict with a live binding (RFC 8656 §11.2 → 400)? */
  channelConflict(channel: number, peer: TransportAddress): boolean {
    const byNum = this.liveChannel(channel);
    if (byNum && (byNum.peer.address !== peer.address || byNum.peer.port !== peer.port)) return true;
    const byPeer = this.channelsByPeer.get(peerKey(peer.address, peer.port));
    return byPeer !== undefined && byPeer.expiresAt > this.clock.now() && byPeer.number !== channel;
  }

  /** Binds or refreshes `channel` ↔ `peer` and the peer's permission (RFC 8656 §11.2). Check {@link channelConflict} first. */
  bindChannel(channel: number, peer: TransportAddress): void {
    const expiresAt = this.clock.now() + CHANNEL_LIFETIME_MS;
    const existing = this.channelsByNumber.get(channel);
    if (existing && existing.peer.address === peer.address && existing.peer.port === peer.port) {
      existing.expiresAt = expiresAt;
    } else {
      if (existing) this.channelsByPeer.delete(peerKey(existing.peer.address, existing.peer.port));
      const c: Channel = { number: channel, peer, expiresAt };
      this.channelsByNumber.set(channel, c);
      this.channelsByPeer.set(peerKey(peer.address, peer.port), c);
    }
    this.permit(peer.address);
  }

  private liveChannel(channel: number): Channel | undefined {
    const c = this.channelsByNumber.get(channel);
    if (!c) return undefined;
    if (c.expiresAt > this.clock.now()) return c;
    this.channelsByNumber.delete(channel);
    this.channelsByPeer.delete(peerKey(c.peer.address, c.peer.port));
    return undefined;
  }

  /** ChannelData from the client (RFC 8656 §12.6): relay to the bound peer, or drop. */
  channelToPeer(channel: number, data: Buffer): void {
    const c = this.liveChannel(channel);
    if (!c || !this.hasPermission(c.peer.address)) {
      this.metrics.droppedNoPermission++;
      return;
    }
    this.toPeer(data, c.peer.address, c.peer.port);
  }

  /** A Send indication's payload (RFC 8656 §11.3): relay if permitted, else silently drop. */
  sendToPeer(data: Buffer, peer: TransportAddress): void {
    if (!this.hasPermission(peer.address)) {
      this.metrics.droppedNoPermission++;
      return;
    }
    this.toPeer(data, peer.address, peer.port);
  }

  private toPeer(data: Buffer, address: string, port: number): void {
    if (this.closed) return;
    if (this.bucket && !this.bucket.take(data.length)) {
      this.metrics.droppedBandwidth++;
      return;
    }
    this.socket.send(data, port, address);
    this.metrics.packetsToPeers++;
    this.metrics.bytesToPeers += data.length;
  }

  /** RFC 8656 §11.6: data arriving on the relay goes to the client if a permission covers its source. */
  private fromPeer(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    if (!this.hasPermission(rinfo.address)) {
      this.metrics.droppedNoPermission++;
      return;
    }
    if (this.bucket && !this.bucket.take(msg.length)) {
      this.metrics.droppedBandwidth++;
      return;
    }
    const c = this.channelsByPeer.get(peerKey(rinfo.address, rinfo.port));
    let ok: boolean;
    if (c && c.expiresAt > this.clock.now()) {
      ok = this.client.sendChannelData(c.number, msg);
    } else {
      const transactionId = newTransactionId();
      const peer: TransportAddress = { family: rinfo.family === 'IPv6' ? 6 : 4, address: rinfo.address, port: rinfo.port };
      ok = this.client.sendData(
        encodeStunMessage({
          method: StunMethod.data,
          cls: StunClass.indication,
          transactionId,
          attributes: [
            { type: AttrType.xorPeerAddress, value: encodeXorAddress(peer, transactionId) },
            { type: AttrType.data, value: msg },
          ],
        }),
      );
    }
    if (!ok) {
      this.metrics.droppedBackpressure++;
      return;
    }
    this.metrics.packetsFromPeers++;
    this.metrics.bytesFromPeers += msg.length;
  }

  /** Idempotent: stops the timer and closes the relay socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
