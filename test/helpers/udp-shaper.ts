/**
 * A userspace UDP shaper for tests (issue 12: netem is missing from this kernel; a shaper in the
 * test needs no privileges): listens on 127.0.0.1, forwards every client's datagrams to one
 * upstream address through a socket of its own per client, and shapes what comes back — the
 * downlink — like `tc tbf`: a rate (bits/s), a drop-tail queue of bounded bytes, and random loss.
 * Rate and loss can change while packets flow; the uplink (client → upstream) only has random
 * loss (`lossUp`). Put in front of a TURN server, it shapes one browser's relayed leg and nobody
 * else's.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface ShaperStats {
  up: number;
  down: number;
  /** Downlink packets dropped by the random loss. */
  lost: number;
  /** Uplink packets dropped by the random loss (`lossUp`). */
  lostUp: number;
  /** Downlink packets dropped because the queue was full. */
  overflow: number;
}

export class UdpShaper {
  /** Downlink rate in bits/s (Infinity: no limit). */
  rateBps = Infinity;
  /** Probability of dropping a downlink packet. */
  loss = 0;
  /**
   * Probability of dropping an uplink packet that is not STUN/TURN control (TURN ChannelData,
   * first byte 0x40–0x7f, carries the media; control messages pass, so allocations stay up).
   */
  lossUp = 0;
  /** Downlink queue limit in bytes (tbf's `limit`). */
  queueBytes = 30_000;
  readonly stats: ShaperStats = { up: 0, down: 0, lost: 0, lostUp: 0, overflow: 0 };
  private readonly front: Socket;
  private readonly clients = new Map<string, Socket>();
  private queue: { buf: Buffer; port: number; address: string }[] = [];
  private queued = 0;
  private free = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  private constructor(
    private readonly upstream: { address: string; port: number },
    front: Socket,
  ) {
    this.front = front;
    front.on('message', (msg, from) => this.fromClient(msg, from.address, from.port));
  }

  static async start(upstream: { address: string; port: number }): Promise<UdpShaper> {
    const s = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => resolve());
    });
    return new UdpShaper(upstream, s);
  }

  get port(): number {
    return this.front.address().port;
  }

  private fromClient(msg: Buffer, address: string, port: number): void {
    if (this.closed) return;
    const key = `${address}:${port}`;
    let up = this.clients.get(key);
    if (!up) {
      if (this.clients.size >= 64) return;
      up = createSocket('udp4');
      up.bind(0, '127.0.0.1');
      up.on('message', (m) => this.toClient(m, address, port));
      up.on('error', () => {});
      this.clients.set(key, up);
    }
    if (this.lossUp > 0 && msg[0]! >= 0x40 && msg[0]! <= 0x7f && Math.random() < this.lossUp) {
      this.stats.lostUp++;
      return;
    }
    this.stats.up++;
    up.send(msg, this.upstream.port, this.upstream.address);
  }

  private toClient(buf: Buffer, address: string, port: number): void {
    if (this.closed) return;
    if (this.loss > 0 && Math.random() < this.loss) {
      this.stats.lost++;
      return;
    }
    if (!Number.isFinite(this.rateBps) && this.queue.length === 0) {
      this.stats.down++;
      this.front.send(buf, port, address);
      return;
    }
    if (this.queued + buf.length > this.queueBytes) {
      this.stats.overflow++;
      return;
    }
    this.queue.push({ buf, port, address });
    this.queued += buf.length;
    this.pump();
  }

  private pump(): void {
    if (this.timer || this.closed) return;
    const now = performance.now();
    while (this.queue.length > 0) {
      if (this.free > now + 0.5) break;
      const p = this.queue.shift()!;
      this.queued -= p.buf.length;
      const ms = Number.isFinite(this.rateBps) ? (p.buf.length * 8000) / this.rateBps : 0;
      this.free = Math.max(this.free, now) + ms;
      this.stats.down++;
      this.front.send(p.buf, p.port, p.address);
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.max(1, this.free - now));
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.front.close();
    for (const s of this.clients.values()) s.close();
  }
}
