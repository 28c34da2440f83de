/**
 * The client side of a 5-tuple: where responses and relayed data for one client go. UDP clients
 * share the listening socket; TCP clients own a connection. Write-only, like the house
 * `Transport`: reading belongs to the listener adapters.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import type { Socket as TcpSocket } from 'node:net';
import { channelDataHeader } from '../stun/channel-data.ts';
import type { TransportAddress } from '../stun/ip.ts';

export interface ClientConnection {
  readonly transport: 'udp' | 'tcp';
  /** The client's address as the server sees it (what XOR-MAPPED-ADDRESS reports). */
  readonly remote: TransportAddress;
  /** The server address the client talks to. */
  readonly local: TransportAddress;
  /** Identifies the 5-tuple among this server's clients. */
  readonly key: string;
  /** Sends one whole STUN message. Returns false when it was dropped (TCP send buffer full). */
  send(message: Buffer): boolean;
  /** Sends `data` as ChannelData on `channel` (padded to 4 bytes on TCP, RFC 8656 §12.5). */
  sendChannelData(channel: number, data: Buffer): boolean;
}

export function udpClientKey(address: string, port: number): string {
  return `${address}|${port}`;
}

export class UdpClientConnection implements ClientConnection {
  readonly transport = 'udp';
  readonly key: string;

  constructor(
    private readonly socket: UdpSocket,
    readonly remote: TransportAddress,
    readonly local: TransportAddress,
  ) {
    this.key = `udp|${local.address}|${local.port}|${udpClientKey(remote.address, remote.port)}`;
  }

  send(message: Buffer): boolean {
    this.socket.send(message, this.remote.port, this.remote.address);
    return true;
  }

  sendChannelData(channel: number, data: Buffer): boolean {
    // Two iovecs, one sendmsg(): the payload is not copied. No padding on UDP (§12.5 allows it).
    this.socket.send([channelDataHeader(channel, data.length), data], this.remote.port, this.remote.address);
    return true;
  }
}

let tcpSeq = 0;

export class TcpClientConnection implements ClientConnection {
  readonly transport = 'tcp';
  readonly key: string;

  /** @param maxQueued bytes waiting in the socket's buffer beyond which relayed data is dropped. */
  constructor(
    private readonly socket: TcpSocket,
    readonly remote: TransportAddress,
    readonly local: TransportAddress,
    private readonly maxQueued = 1 << 20,
  ) {
    this.key = `tcp|${local.address}|${local.port}|${remote.address}|${remote.port}|${++tcpSeq}`;
  }

  send(message: Buffer): boolean {
    if (this.socket.destroyed) return false;
    this.socket.write(message);
    return true;
  }

  sendChannelData(channel: number, data: Buffer): boolean {
    // Relayed media is loss-tolerant: a slow TCP client loses packets instead of growing memory.
    if (this.socket.destroyed || this.socket.writableLength > this.maxQueued) return false;
    const size = 4 + ((data.length + 3) & ~3);
    const out = Buffer.allocUnsafe(size);
    out.writeUInt16BE(channel, 0);
    out.writeUInt16BE(data.length, 2);
    data.copy(out, 4);
    out.fill(0, 4 + data.length);
    this.socket.write(out);
    return true;
  }
}
