/**
 * The UDP side of QUIC: one socket, quiche connections routed by connection ID, their timers, and
 * per-stream write queues. quiche is sans-I/O: every packet in goes through `recv`, every packet
 * out comes from `send`, and the time of the next timer from `timeout()`. This file is the only
 * one that touches the socket; what the streams mean is the handler's business (h3.ts).
 *
 * Why write queues: `streamSend` takes only what flow control and congestion control allow now
 * and returns how much it took (RFC 9000 §4). The rest must wait for MAX_STREAM_DATA / ACKs, so it
 * is kept here, in order, and retried after every received packet; `bufferedBytes` is what the
 * Session sees as backpressure.
 */
import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { HostPort, Quiche, QuicheConfig, QuicheConnection } from './binding.ts';
import { streamErrorCode } from './binding.ts';

export interface EndpointLimits {
  /** Most QUIC connections at once; Initials past it are dropped. @default 10000 */
  maxConnections: number;
  /** Most connections still in the handshake per source address. @default 32 */
  maxHandshakesPerIp: number;
  /** Bytes queued per connection for streams beyond what quiche took. @default 4 MiB */
  maxQueuedBytesPerConnection: number;
  /** Kernel receive buffer; datagrams are dropped by the kernel below about this. @default 4 MiB */
  udpReceiveBufferBytes: number;
}

/** What the endpoint tells the layer above, per connection. */
export interface ConnectionHandler {
  /** The handshake completed. */
  onEstablished(c: QuicConn): void;
  /** Stream `id` has data (or a FIN, or a reset) to read. */
  onReadable(c: QuicConn, id: number): void;
  /** One QUIC DATAGRAM. */
  onDatagram(c: QuicConn, data: Buffer): void;
  /** Stream `id`'s write queue went empty. */
  onDrained(c: QuicConn, id: number): void;
  /** The connection is gone (after close, idle timeout, or the peer's CONNECTION_CLOSE). Once. */
  onClosed(c: QuicConn, info: { app: boolean; code: number; reason: string }): void;
}

interface Pending {
  chunks: Buffer[];
  bytes: number;
  fin: boolean;
}

const SEND_BUF = 1350;

/**
 * The socket's address lookup. Why: dgram resolves the address of every `send`, and dns.lookup
 * answers an IP literal on the next tick — a closure and a nextTick per packet, for addresses that
 * are always literals here (they come from received packets). This answers literals at once and
 * leaves names to dns.lookup.
 */
export function literalLookup(address: string, options: LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const f = isIP(address);
  if (f !== 0) callback(null, address, f);
  else dnsLookup(address, typeof options === 'number' ? { family: options } : options, callback);
}
/** Bytes per send slab (about 48 packets). */
const SLAB_BYTES = 64 * 1024;

/** One QUIC connection: a quiche Connection plus its write queues and timer. */
export class QuicConn {
  readonly remote: HostPort;
  /** Application state of the layer above. */
  state: unknown = null;
  private readonly queues = new Map<number, Pending>();
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  /** When `timer` fires (performance.now() ms). */
  private timerAt = 0;
  private flushScheduled = false;
  private established = false;
  private closedReported = false;
  /** Connection IDs this connection is known by in the endpoint's map. */
  readonly ids: string[] = [];

  constructor(
    readonly conn: QuicheConnection,
    private readonly endpoint: QuicEndpoint,
    remote: HostPort,
    private readonly handler: ConnectionHandler,
  ) {
    this.remote = remote;
  }

  get isEstablished(): boolean {
    return this.established;
  }

  /** Bytes waiting in stream `id`'s queue (not yet taken by quiche). */
  bufferedBytes(id: number): number {
    return this.queues.get(id)?.bytes ?? 0;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  /**
   * Writes in order after whatever is queued on the stream. Returns false when the stream is gone
   * (reset or stopped by the peer) or the connection's queue budget is spent — the caller closes.
   */
  write(id: number, data: Buffer, fin = false): boolean {
    if (this.closedReported) return false;
    let q = this.queues.get(id);
    if (!q) {
      let n: number;
      try {
        n = data.length > 0 || fin ? (this.conn.streamSend(id, data, fin) ?? 0) : 0;
      } catch (err) {
        if (streamErrorCode(err, 'StreamStopped') !== null) return false;
        throw err;
      }
      this.scheduleFlush();
      if (n === data.length) return true;
      q = { chunks: [], bytes: 0, fin: false };
      this.queues.set(id, q);
      data = data.subarray(n);
    }
    if (this.queued + data.length > this.endpoint.limits.maxQueuedBytesPerConnection) return false;
    if (data.length > 0) q.chunks.push(data);
    q.bytes += data.length;
    q.fin ||= fin;
    this.queued += data.length;
    return true;
  }

  /** Aborts both directions of a stream with an application error code (RESET_STREAM + STOP_SENDING). */
  resetStream(id: number, code: number): void {
    const q = this.queues.get(id);
    if (q) {
      this.queued -= q.bytes;
      this.queues.delete(id);
    }
    try {
      this.conn.streamShutdown(id, 1, code);
    } catch {
      /* already closed */
    }
    try {
      this.conn.streamShutdown(id, 0, code);
    } catch {
      /* already closed */
    }
    this.scheduleFlush();
  }

  /** Stops reading a stream the peer opened (STOP_SENDING), e.g. an unknown unidirectional stream type. */
  stopReading(id: number, code: number): void {
    try {
      this.conn.streamShutdown(id, 0, code);
    } catch {
      /* already closed */
    }
    this.scheduleFlush();
  }

  /** Queues a DATAGRAM; false when it is too large or the send queue is full (it is dropped: datagrams are unreliable). */
  sendDatagram(data: Buffer): boolean {
    const max = this.conn.dgramMaxWritableLen();
    if (max === null || data.length > max || this.conn.isDgramSendQueueFull()) return false;
    try {
      this.conn.dgramSend(data);
    } catch {
      return false;
    }
    this.scheduleFlush();
    return true;
  }

  /** Whether the DATAGRAM send queue (webtransport.datagramQueueLength) is full. */
  get datagramQueueFull(): boolean {
    return this.conn.isDgramSendQueueFull();
  }

  /** Largest DATAGRAM payload the peer accepts now, 0 when it accepts none. */
  get maxDatagramBytes(): number {
    return this.conn.dgramMaxWritableLen() ?? 0;
  }

  /** CONNECTION_CLOSE with an application (HTTP/3) error code. */
  close(code: number, reason: string): void {
    try {
      this.conn.close(true, code, Buffer.from(reason.slice(0, 100)));
    } catch {
      /* already closing */
    }
    this.scheduleFlush();
  }

  // ---- endpoint side ---------------------------------------------------------------------------

  /** @internal One UDP packet for this connection. */
  receive(msg: Buffer, from: HostPort): void {
    try {
      this.conn.recv(msg, { from, to: this.endpoint.local });
    } catch {
      // A packet quiche refuses (undecryptable, a protocol violation it answers itself): the
      // connection either goes on or closes; flush() reports which.
    }
    if (!this.established && this.conn.isEstablished()) {
      this.established = true;
      this.handler.onEstablished(this);
    }
    if (this.established) {
      this.retryQueues();
      // Most packets a sender receives are ACKs with nothing to read. isReadable() is one cheap
      // crossing; readable() builds an iterator in the binding that cost more than recv() itself
      // (~28 µs per call in the fan-out flood).
      if (this.conn.isReadable()) {
        for (const id of this.conn.readable()) this.handler.onReadable(this, id);
        for (let d = this.conn.dgramRecvVec(); d !== null; d = this.conn.dgramRecvVec()) this.handler.onDatagram(this, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      }
    }
    this.flush();
  }

  private retryQueues(): void {
    for (const [id, q] of this.queues) {
      while (q.chunks.length > 0) {
        const c = q.chunks[0]!;
        const last = q.chunks.length === 1;
        let n: number;
        try {
          n = this.conn.streamSend(id, c, last && q.fin) ?? 0;
        } catch {
          // Stopped or reset by the peer: drop what is queued; the reader side reports the reset.
          this.queued -= q.bytes;
          q.chunks = [];
          q.bytes = 0;
          break;
        }
        q.bytes -= n;
        this.queued -= n;
        if (n < c.length) {
          q.chunks[0] = c.subarray(n);
          break;
        }
        q.chunks.shift();
      }
      if (q.chunks.length === 0) {
        if (q.fin && q.bytes === 0) {
          try {
            this.conn.streamSend(id, Buffer.alloc(0), true);
          } catch {
            /* gone */
          }
        }
        this.queues.delete(id);
        this.handler.onDrained(this, id);
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends every packet quiche has ready, re-arms the timer, reports a close. */
  flush(): void {
    for (;;) {
      const buf = this.endpoint.sendSlice();
      let r;
      try {
        r = this.conn.send(buf);
      } catch {
        break;
      }
      if (r === null) break;
      this.endpoint.sendPacket(this.endpoint.takeSlice(r[0]), r[1].to);
    }
    if (this.conn.isClosed()) {
      this.disarm();
      return this.reportClosed();
    }
    const t = this.conn.timeout();
    if (t === null) return this.disarm();
    // Why not re-arm on every flush: quiche's next deadline moves later with nearly every packet
    // (idle and loss timers), and a clearTimeout + setTimeout per flush was a visible share of the
    // send loop. A timer that fires at or before the new deadline is kept: firing early is
    // harmless (quiche's onTimeout() acts only on expired timers, and the flush re-arms).
    const due = performance.now() + t + 1;
    if (this.timer && this.timerAt <= due) return;
    this.disarm();
    this.timerAt = due;
    this.timer = setTimeout(this.onTimer, t + 1);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.conn.onTimeout();
    this.retryQueues();
    this.flush();
  };

  private reportClosed(): void {
    if (this.closedReported) return;
    this.closedReported = true;
    this.queues.clear();
    this.queued = 0;
    this.endpoint.forget(this);
    const e = this.conn.peerError() ?? this.conn.localError();
    const info = e ? { app: e.isApp, code: e.errorCode, reason: Buffer.from(e.reason).toString('utf8') } : { app: false, code: 0, reason: this.conn.isTimedOut() ? 'idle timeout' : '' };
    this.handler.onClosed(this, info);
  }
}

/** A UDP socket serving QUIC connections. */
export class QuicEndpoint {
  readonly local: HostPort;
  private readonly socket: dgram.Socket;
  private readonly byId = new Map<string, QuicConn>();
  private readonly conns = new Set<QuicConn>();
  private readonly handshakes = new Map<string, number>();
  /** Initials dropped by the connection limits (for stats). */
  dropped = 0;
  /** UDP packets received and sent (for stats and the benchmark's packets-per-delivery). */
  packetsIn = 0;
  packetsOut = 0;
  private closed = false;

  private constructor(
    private readonly quiche: Quiche,
    /** TLS and transport parameters for new connections; replaced on certificate rotation. */
    public config: QuicheConfig,
    socket: dgram.Socket,
    readonly limits: EndpointLimits,
    private readonly handler: ConnectionHandler,
  ) {
    this.socket = socket;
    const a = socket.address();
    this.local = { host: a.address, port: a.port };
    socket.on('message', (msg, rinfo) => this.onPacket(msg, { host: rinfo.address, port: rinfo.port }));
    socket.on('error', () => {});
  }

  static async listen(quiche: Quiche, config: QuicheConfig, opts: { host: string; port: number }, limits: EndpointLimits, handler: ConnectionHandler): Promise<QuicEndpoint> {
    const socket = dgram.createSocket({ type: opts.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: limits.udpReceiveBufferBytes, sendBufferSize: limits.udpReceiveBufferBytes, lookup: literalLookup });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.port, opts.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new QuicEndpoint(quiche, config, socket, limits, handler);
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** The receive buffer the kernel granted (Linux doubles the request, capped by rmem_max). */
  get receiveBufferBytes(): number {
    return this.socket.getRecvBufferSize();
  }

  /**
   * Outgoing packets are cut from a shared slab instead of one allocation each (the profile of
   * the fan-out bench had ~13 % in GC): sendSlice() is room for one packet at the slab's head,
   * takeSlice(n) keeps its first n bytes. A slab is never rewritten once cut — socket.send() may
   * still hold earlier packets — so a full slab is simply replaced.
   */
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private slabAt = 0;

  /** @internal */
  sendSlice(): Buffer {
    if (this.slabAt + SEND_BUF > this.slab.length) {
      this.slab = Buffer.allocUnsafe(SLAB_BYTES);
      this.slabAt = 0;
    }
    return this.slab.subarray(this.slabAt, this.slabAt + SEND_BUF);
  }

  /** @internal */
  takeSlice(n: number): Buffer {
    const out = this.slab.subarray(this.slabAt, this.slabAt + n);
    this.slabAt += n;
    return out;
  }

  /** @internal */
  sendPacket(buf: Buffer, to: HostPort): void {
    if (this.closed) return;
    this.packetsOut++;
    this.socket.send(buf, to.port, to.host);
  }

  /** @internal */
  forget(c: QuicConn): void {
    for (const id of c.ids) this.byId.delete(id);
    if (this.conns.delete(c) && !c.isEstablished) this.handshakeDone(c.remote.host);
  }

  private handshakeDone(ip: string): void {
    const n = (this.handshakes.get(ip) ?? 1) - 1;
    if (n <= 0) this.handshakes.delete(ip);
    else this.handshakes.set(ip, n);
  }

  private onPacket(msg: Buffer, from: HostPort): void {
    this.packetsIn++;
    // Fast path (most packets): a short header (RFC 9000 §17.3, first bit 0) carries only the
    // DCID, and for our connections it is one of our SCIDs, of known length.
    if (msg.length > this.quiche.MAX_CONN_ID_LEN && (msg[0]! & 0x80) === 0) {
      const c = this.byId.get(msg.toString('hex', 1, 1 + this.quiche.MAX_CONN_ID_LEN));
      if (c) {
        const wasEstablished = c.isEstablished;
        c.receive(msg, from);
        if (!wasEstablished && c.isEstablished) this.handshakeDone(c.remote.host);
        return;
      }
    }
    let header;
    try {
      header = this.quiche.Header.fromSlice(msg, this.quiche.MAX_CONN_ID_LEN);
    } catch {
      return; // not QUIC
    }
    const dcid = Buffer.from(header.dcid).toString('hex');
    const known = this.byId.get(dcid);
    if (known) {
      const wasEstablished = known.isEstablished;
      known.receive(msg, from);
      if (!wasEstablished && known.isEstablished) this.handshakeDone(known.remote.host);
      return;
    }
    if (header.ty !== this.quiche.Type.Initial) return;
    if (!this.quiche.versionIsSupported(header.version)) {
      const out = Buffer.allocUnsafe(this.quiche.MAX_DATAGRAM_SIZE);
      const n = this.quiche.negotiateVersion(header.scid, header.dcid, out);
      this.sendPacket(out.subarray(0, n), from);
      return;
    }
    // RFC 9000 §14.1: a client Initial is padded to 1200 bytes; smaller ones are amplification bait.
    if (msg.length < this.quiche.MIN_CLIENT_INITIAL_LEN) return;
    if (this.conns.size >= this.limits.maxConnections || (this.handshakes.get(from.host) ?? 0) >= this.limits.maxHandshakesPerIp) {
      this.dropped++;
      return;
    }
    const scid = randomBytes(this.quiche.MAX_CONN_ID_LEN);
    let conn: QuicheConnection;
    try {
      conn = this.quiche.Connection.accept(scid, null, this.local, from, this.config);
    } catch {
      return;
    }
    const c = new QuicConn(conn, this, from, this.handler);
    // Until the client has our connection ID it keeps sending to the one it chose.
    c.ids.push(scid.toString('hex'), dcid);
    for (const id of c.ids) this.byId.set(id, c);
    this.conns.add(c);
    this.handshakes.set(from.host, (this.handshakes.get(from.host) ?? 0) + 1);
    c.receive(msg, from);
  }

  /** Closes every connection (CONNECTION_CLOSE with `code`) and then the socket. */
  async close(code = 0x100, reason = 'shutting down'): Promise<void> {
    if (this.closed) return;
    for (const c of [...this.conns]) c.close(code, reason);
    // One turn for the CONNECTION_CLOSE packets to leave.
    await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    await new Promise<void>((r) => this.socket.close(() => r()));
    for (const c of [...this.conns]) this.forget(c);
  }
}
