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
  /**
   * Sends one whole STUN control message (a response). Control must not be lost silently, so on
   * TCP a message that would take the write buffer past its limit closes the connection instead
   * (the client stopped reading); false then.
   */
  send(message: Buffer): boolean;
  /** Sends relayed data as a whole STUN message (a Data indication). False when dropped (buffer full). */
  sendData(message: Buffer): boolean;
  /** Sends `data` as ChannelData on `channel` (padded to 4 bytes on TCP, RFC 8656 §12.5). False when dropped. */
  sendChannelData(channel: number, data: Buffer): boolean;
  /** Bytes written for this client and not yet handed to the kernel (TCP); 0 for UDP. */
  readonly bufferedBytes: number;
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

  readonly bufferedBytes = 0;

  send(message: Buffer): boolean {
    this.socket.send(message, this.remote.port, this.remote.address);
    return true;
  }

  sendData(message: Buffer): boolean {
    return this.send(message);
  }

  sendChannelData(channel: number, data: Buffer): boolean {
    // Two iovecs, one sendmsg(): the payload is not copied. No padding on UDP (§12.5 allows it).
    this.socket.send([channelDataHeader(channel, data.length), data], this.remote.port, this.remote.address);
    return true;
  }
}

let tcpSeq = 0;

/**
 * One TCP client. Every write is bounded by `maxBuffered` bytes in the socket's user-space write
 * buffer (`writableLength`: what the kernel has not taken yet because the client stopped reading):
 * relayed data (Data indications, ChannelData) is dropped when it would not fit — media is
 * loss-tolerant — and a control message (a STUN response) that would not fit closes the
 * connection, as centrifuge's writer disconnects a slow client: a client that does not read its
 * responses cannot be served, and the bound must hold for every byte we queue.
 */
export class TcpClientConnection implements ClientConnection {
  readonly transport = 'tcp';
  readonly key: string;

  /**
   * @param maxBuffered the write-buffer limit in bytes (TurnServerOptions.tcpBufferBytes).
   * @param onOverflow called once when a control message closes the connection.
   */
  constructor(
    private readonly socket: TcpSocket,
    readonly remote: TransportAddress,
    readonly local: TransportAddress,
    private readonly maxBuffered: number,
    private readonly onOverflow: () => void = () => {},
  ) {
    this.key = `tcp|${local.address}|${local.port}|${remote.address}|${remote.port}|${++tcpSeq}`;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  private fits(bytes: number): boolean {
    return this.socket.writableLength + bytes <= this.maxBuffered;
  }

  send(message: Buffer): boolean {
    if (this.socket.destroyed) return false;
    if (!this.fits(message.length)) {
      this.socket.destroy();
      this.onOverflow();
      return false;
    }
    this.socket.write(message);
    return true;
  }

  sendData(message: Buffer): boolean {
    if (this.socket.destroyed || !this.fits(message.length)) return false;
    this.socket.write(message);
    return true;
  }

  sendChannelData(channel: number, data: Buffer): boolean {
    const size = 4 + ((data.length + 3) & ~3);
    if (this.socket.destroyed || !this.fits(size)) return false;
    const out = Buffer.allocUnsafe(size);
    out.writeUInt16BE(channel, 0);
    out.writeUInt16BE(data.length, 2);
    data.copy(out, 4);
    out.fill(0, 4 + data.length);
    this.socket.write(out);
    return true;
  }
}
