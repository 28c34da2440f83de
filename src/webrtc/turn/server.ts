/**
 * TurnServer: STUN Binding and TURN (RFC 8656) over UDP and TCP on the configured addresses. It
 * owns the listening sockets and hands whole messages to a {@link TurnProcessor}; TCP streams are
 * cut by {@link StreamFramer}.
 *
 *     const turn = new TurnServer(resolveTurnOptions(config.turn, process.env));
 *     const bound = await turn.listen();   // [{ transport: 'udp', address, port, family }, ...]
 *     ...
 *     await turn.close();                  // idempotent; closes allocations and relays too
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { systemClock, type Clock } from '../../util/clock.ts';
import { StreamFramer } from '../stun/framing.ts';
import { ipFamily, type TransportAddress } from '../stun/ip.ts';
import { TcpClientConnection, UdpClientConnection } from './connection.ts';
import { emptyMetrics, type TurnMetrics } from './metrics.ts';
import { resolveTurnOptions, type TurnServerOptions } from './options.ts';
import { TurnProcessor } from './processor.ts';

export interface BoundAddress {
  readonly transport: 'udp' | 'tcp';
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

export interface TurnServerDeps {
  /** Time source for lifetimes, nonces and bandwidth. @default systemClock */
  clock?: Clock;
}

/** Socket buffers asked for on listening sockets (the kernel caps them at net.core.*mem_max). */
const SOCKET_BUFFER_BYTES = 4 << 20;

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** The address relays of `family` bind to when none is configured for a wildcard listener. */
function interfaceAddress(family: 4 | 6): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (!i.internal && i.family === (family === 4 ? 'IPv4' : 'IPv6') && !i.address.startsWith('fe80:')) return i.address;
    }
  }
  return family === 4 ? '127.0.0.1' : '::1';
}

export class TurnServer {
  readonly options: TurnServerOptions;
  private readonly clock: Clock;
  private readonly counters: TurnMetrics = emptyMetrics();
  private processor: TurnProcessor | undefined;
  private udp: UdpSocket[] = [];
  private tcp: TcpServer[] = [];
  private readonly tcpSockets = new Map<TcpSocket, TcpClientConnection>();
  private bound: BoundAddress[] = [];
  private closing: Promise<void> | undefined;

  /**
   * @param options resolved or partial options; the environment is NOT read here (pass
   * `resolveTurnOptions(partial, process.env)` for that), so tests stay hermetic.
   */
  constructor(options: Partial<TurnServerOptions> = {}, deps: TurnServerDeps = {}) {
    this.options = resolveTurnOptions(options, {});
    this.clock = deps.clock ?? systemClock;
  }

  /** A snapshot of the counters. */
  get metrics(): Readonly<TurnMetrics> {
    return { ...this.counters };
  }

  /**
   * The TCP clients' write buffers now: bytes queued per connection (each stays within
   * `tcpBufferBytes`), for tests and diagnostics.
   */
  tcpBuffers(): Array<{ remote: string; bufferedBytes: number }> {
    return [...this.tcpSockets.values()].map((c) => ({ remote: `${c.remote.address}:${c.remote.port}`, bufferedBytes: c.bufferedBytes }));
  }

  /** Addresses bound by {@link listen}. */
  get addresses(): readonly BoundAddress[] {
    return this.bound;
  }

  /** The relay address per family allocations get (after listen). */
  relayAddresses(): Map<4 | 6, string> {
    const out = new Map<4 | 6, string>();
    for (const a of this.options.relayAddresses) out.set(ipFamily(a) as 4 | 6, a);
    for (const l of this.options.listeningAddresses) {
      const fam = ipFamily(l) as 4 | 6;
      if (!out.has(fam)) out.set(fam, isWildcard(l) ? interfaceAddress(fam) : l);
    }
    return out;
  }

  /**
   * Binds UDP and/or TCP on every listening address. With port 0, one free port is picked and used
   * for every address and both protocols (retrying if the TCP side is taken), as clients take a
   * single port. Rejects (after closing what it opened) when a bind fails.
   */
  async listen(): Promise<BoundAddress[]> {
    if (this.processor) throw new Error('TurnServer.listen() called twice');
    if (this.closing) throw new Error('TurnServer is closed');
    this.processor = new TurnProcessor(this.options, this.clock, this.counters, this.relayAddresses());
    const attempts = this.options.port === 0 ? 20 : 1;
    for (let i = 1; ; i++) {
      try {
        await this.bindAll(this.options.port);
        this.processor.setListeningEndpoints(this.bound);
        return this.bound;
      } catch (e) {
        await this.closeListeners();
        const code = (e as NodeJS.ErrnoException).code;
        if (i >= attempts || code !== 'EADDRINUSE') throw e;
      }
    }
  }

  /** Idempotent: stops listening, closes TCP clients, allocations and relay sockets. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.processor?.close();
      await this.closeListeners();
    })();
    return this.closing;
  }

  private async bindAll(port: number): Promise<void> {
    this.bound = [];
    let chosen = port;
    for (const address of this.options.listeningAddresses) {
      const family = ipFamily(address) as 4 | 6;
      if (this.options.udp) {
        const s = await this.bindUdp(address, chosen);
        chosen = s.address().port;
        this.bound.push({ transport: 'udp', family, address, port: chosen });
      }
      if (this.options.tcp) {
        const srv = await this.bindTcp(address, chosen);
        const addr = srv.address();
        chosen = typeof addr === 'object' && addr ? addr.port : chosen;
        this.bound.push({ transport: 'tcp', family, address, port: chosen });
      }
    }
  }

  private bindUdp(address: string, port: number): Promise<UdpSocket> {
    const family = ipFamily(address) as 4 | 6;
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: family === 4 ? 'udp4' : 'udp6', ipv6Only: family === 6 });
      socket.once('error', reject);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', reject);
        socket.on('error', () => {}); // e.g. ICMP errors surfaced on send; never fatal for a server
        try {
          socket.setRecvBufferSize(SOCKET_BUFFER_BYTES);
          socket.setSendBufferSize(SOCKET_BUFFER_BYTES);
        } catch {
          // capped by the kernel; not an error
        }
        const local: TransportAddress = { family, address, port: socket.address().port };
        const processor = this.processor!;
        const prefix = `udp|${address}|${local.port}|`;
        socket.on('message', (msg, rinfo) => {
          const key = `${prefix}${rinfo.address}|${rinfo.port}`;
          const conn = processor.allocations.get(key)?.client ?? new UdpClientConnection(socket, { family: rinfo.family === 'IPv6' ? 6 : 4, address: rinfo.address, port: rinfo.port }, local);
          processor.onMessage(conn, msg);
        });
        this.udp.push(socket);
        resolve(socket);
      });
    });
  }

  private bindTcp(address: string, port: number): Promise<TcpServer> {
    const family = ipFamily(address) as 4 | 6;
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.onTcp(socket, family, address));
      server.once('error', reject);
      server.listen({ host: address, port, ipv6Only: family === 6, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => {});
        this.tcp.push(server);
        resolve(server);
      });
    });
  }

  private onTcp(socket: TcpSocket, family: 4 | 6, address: string): void {
    const processor = this.processor!;
    if (this.tcpSockets.size >= this.options.maxTcpConnections || this.closing) {
      socket.destroy();
      return;
    }
    this.counters.tcpConnections++;
    socket.setNoDelay(true);
    const conn = new TcpClientConnection(
      socket,
      { family: socket.remoteFamily === 'IPv6' ? 6 : 4, address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      { family, address, port: socket.localPort ?? 0 },
      this.options.tcpBufferBytes,
      () => this.counters.tcpOverflowCloses++,
    );
    this.tcpSockets.set(socket, conn);
    const framer = new StreamFramer(this.options.maxMessageBytes + 4);
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = framer.push(chunk);
      } catch {
        // The stream is not STUN/ChannelData (or a frame never ends): no later byte can be trusted.
        this.counters.droppedMalformed++;
        socket.destroy();
        return;
      }
      for (const f of frames) processor.onMessage(conn, f);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.tcpSockets.delete(socket);
      this.counters.tcpConnections--;
      processor.onClientGone(conn.key);
    });
  }

  private async closeListeners(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = [];
    this.tcp = [];
    for (const s of this.tcpSockets.keys()) s.destroy();
    await Promise.all([
      ...udp.map((s) => new Promise<void>((r) => s.close(() => r()))),
      ...tcp.map((s) => new Promise<void>((r) => s.close(() => r()))),
    ]);
  }
}
