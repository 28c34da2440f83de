/**
 * A TCP fault proxy for chaos tests: listens on a loopback port and forwards every connection to
 * `target`, and on command cuts (destroys both sides) or stalls (stops forwarding, both ways, for
 * a while) some or all of the live connections. Used by scripts/soak.ts.
 */
import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  stalled: boolean;
}

export class FaultProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  /** Faults injected so far. */
  readonly faults = { cuts: 0, stalls: 0 };

  constructor(private target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.accept(client));
  }

  /** Points new connections at another target (e.g. a restarted node on a new port). */
  retarget(target: { host: string; port: number }): void {
    this.target = target;
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  get connections(): number {
    return this.pairs.size;
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.target.port, this.target.host);
    const pair: Pair = { client, upstream, stalled: false };
    this.pairs.add(pair);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Destroys a random `fraction` of the live connections (TCP RST-like: no close handshake). */
  cut(fraction = 1): number {
    let n = 0;
    for (const p of [...this.pairs]) {
      if (Math.random() >= fraction) continue;
      p.client.resetAndDestroy?.() ?? p.client.destroy();
      p.upstream.destroy();
      n++;
    }
    this.faults.cuts += n;
    return n;
  }

  /** Stops forwarding on a random `fraction` of connections for `ms` (a black hole, then recovery). */
  stall(fraction: number, ms: number): number {
    let n = 0;
    for (const p of this.pairs) {
      if (p.stalled || Math.random() >= fraction) continue;
      p.stalled = true;
      p.client.unpipe(p.upstream);
      p.upstream.unpipe(p.client);
      p.client.pause();
      p.upstream.pause();
      setTimeout(() => {
        p.stalled = false;
        if (p.client.destroyed || p.upstream.destroyed) return;
        p.client.pipe(p.upstream);
        p.upstream.pipe(p.client);
      }, ms).unref();
      n++;
    }
    this.faults.stalls += n;
    return n;
  }

  async close(): Promise<void> {
    this.cut(1);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
