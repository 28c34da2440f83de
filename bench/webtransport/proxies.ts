/**
 * Lossy paths on loopback for the `webtransport-lossy` benchmark (no netem here: the kernel has no
 * sch_netem, so `tc qdisc … netem` in an `unshare -n` namespace fails):
 *
 * - {@link DroppingUdpProxy}: forwards UDP both ways between each client address and the server,
 *   dropping each packet with probability `loss` (independently, both directions). QUIC
 *   retransmits lost stream data; a lost DATAGRAM is gone.
 * - {@link DelayingTcpProxy}: the TCP-side equivalent. Loopback TCP does not lose packets, so the
 *   cost of a loss is emulated: each server→client chunk is, with probability `loss`, held for
 *   `delayMs` (200 ms, Linux's minimum RTO) and, because TCP delivers in order, everything behind
 *   it waits too — the head-of-line blocking a retransmission causes.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export class DroppingUdpProxy {
  readonly socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  private readonly upstream = new Map<string, dgram.Socket>();
  dropped = 0;
  forwarded = 0;

  private constructor(
    private readonly target: number,
    /** Drop probability per packet; may be changed while running. */
    public loss: number,
  ) {}

  static async start(target: number, loss: number): Promise<DroppingUdpProxy> {
    const p = new DroppingUdpProxy(target, loss);
    await new Promise<void>((r) => p.socket.bind(0, '127.0.0.1', r));
    p.socket.on('message', (msg, from) => p.fromClient(msg, from));
    return p;
  }

  get port(): number {
    return this.socket.address().port;
  }

  private pass(): boolean {
    if (Math.random() < this.loss) {
      this.dropped++;
      return false;
    }
    this.forwarded++;
    return true;
  }

  private fromClient(msg: Buffer, from: dgram.RemoteInfo): void {
    const key = `${from.address}:${from.port}`;
    let up = this.upstream.get(key);
    if (!up) {
      up = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
      up.bind(0, '127.0.0.1');
      up.on('message', (back) => {
        if (this.pass()) this.socket.send(back, from.port, from.address);
      });
      this.upstream.set(key, up);
    }
    if (this.pass()) up.send(msg, this.target, '127.0.0.1');
  }

  close(): void {
    for (const u of this.upstream.values()) u.close();
    this.socket.close();
  }
}

export class DelayingTcpProxy {
  readonly server: net.Server;
  delayed = 0;

  private constructor(
    private readonly target: number,
    /** Probability that a chunk is held; may be changed while running. */
    public loss: number,
    private readonly delayMs: number,
  ) {
    this.server = net.createServer((c) => this.onClient(c));
  }

  static async start(target: number, loss: number, delayMs = 200): Promise<DelayingTcpProxy> {
    const p = new DelayingTcpProxy(target, loss, delayMs);
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private onClient(client: net.Socket): void {
    client.setNoDelay(true);
    const up = net.connect(this.target, '127.0.0.1');
    up.setNoDelay(true);
    client.pipe(up);
    // In order: a chunk leaves no earlier than the one before it (one queue, one timer).
    const queue: Array<{ at: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | null = null;
    const release = (): void => {
      timer = null;
      const now = performance.now();
      while (queue.length > 0 && queue[0]!.at <= now) client.write(queue.shift()!.chunk);
      if (queue.length > 0) timer = setTimeout(release, queue[0]!.at - now);
    };
    up.on('data', (chunk: Buffer) => {
      const now = performance.now();
      if (Math.random() < this.loss) {
        this.delayed++;
        queue.push({ at: now + this.delayMs, chunk });
      } else if (queue.length > 0) queue.push({ at: now, chunk });
      else return void client.write(chunk);
      timer ??= setTimeout(release, queue[0]!.at - now);
    });
    const end = (): void => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  }

  close(): void {
    this.server.close();
  }
}
