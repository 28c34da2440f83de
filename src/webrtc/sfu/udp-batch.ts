/**
 * Batched UDP sends for the SFU's fan-out (issue 12, forwarding cost): a packet forwarded to N
 * subscribers is N datagrams; `dgram.send` costs a request object, a callback and a trip through
 * libuv for each. Here the datagrams are written into one arena, encrypted in place
 * (srtp.ts `protectRtpAt`), and handed to the kernel in one native call (sendmmsg per run of one
 * socket, native/sfu_native.c) when the current task's fan-out is done (a microtask), or at once
 * when the arena fills.
 *
 * A datagram the kernel cannot take now (EAGAIN on the non-blocking socket) goes out through
 * `dgram.send` instead, copied out of the arena; a socket closed before the flush is skipped.
 * Without the native helper nothing is batched: callers check {@link UdpBatch.target} first.
 *
 * One batch per thread ({@link udpBatch}); the SFU's worker threads have their own.
 */
import type { Socket } from 'node:dgram';
import { sfuNative, type SfuNative } from './srtp/native.ts';

/** Bytes of the arena: a flush happens before a datagram would not fit. */
export const ARENA_BYTES = 256 * 1024;
/** Datagrams per flush at most. */
export const MAX_DATAGRAMS = 512;
const ENTRY = 5;

/** Where datagrams of one socket to one remote go (resolved once per nominated ICE pair). */
export interface UdpTarget {
  readonly socket: Socket;
  readonly fd: number;
  /** The remote IPv4 address as a 32-bit integer, and as text for the dgram fallback. */
  readonly ip: number;
  readonly host: string;
  readonly port: number;
  /** Set by the owner when the socket closes: queued datagrams for it are dropped. */
  readonly transport: { closed?: boolean };
}

/** The file descriptor of a bound dgram socket (Linux), or -1. Node keeps its handle behind a symbol. */
export function socketFd(socket: Socket): number {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = sym ? (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[sym] : undefined;
  const fd = state?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/** A dotted IPv4 address as a 32-bit integer (host order), or undefined for anything else. */
export function ipv4ToInt(host: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return undefined;
    v = v * 256 + b;
  }
  return v | 0;
}

export class UdpBatch {
  readonly arena = Buffer.allocUnsafe(ARENA_BYTES);
  private readonly desc = new Int32Array(MAX_DATAGRAMS * ENTRY);
  private readonly targets: (UdpTarget | undefined)[] = new Array<UdpTarget | undefined>(MAX_DATAGRAMS).fill(undefined);
  private count = 0;
  private used = 0;
  private scheduled = false;
  /** Datagrams the native call sent. */
  sent = 0;
  /** Datagrams sent through dgram because the socket was full (EAGAIN). */
  fallback = 0;
  /** Datagrams that failed (native errno or dgram error) or whose socket had closed. */
  errors = 0;
  /** Native calls made. */
  flushes = 0;

  constructor(private readonly native: SfuNative) {}

  /** A target for `socket` → host:port, or undefined when it cannot be batched (not IPv4, no fd). */
  target(socket: Socket, host: string, port: number, transport: { closed?: boolean }): UdpTarget | undefined {
    const ip = ipv4ToInt(host);
    const fd = socketFd(socket);
    if (ip === undefined || fd < 0 || !(port > 0 && port < 65536)) return undefined;
    return { socket, fd, ip, host, port, transport };
  }

  /**
   * Room for a datagram of up to `bytes` in the arena: returns its offset (flushing first when it
   * would not fit). The caller writes the datagram there and then calls {@link commit}.
   */
  reserve(bytes: number): number {
    if (bytes > ARENA_BYTES) throw new RangeError(`datagram of ${bytes} bytes is larger than the arena`);
    if (this.used + bytes > ARENA_BYTES || this.count >= MAX_DATAGRAMS) this.flush();
    return this.used;
  }

  /** Queues arena[offset..offset+length) (written after {@link reserve}) for `t`. */
  commit(t: UdpTarget, offset: number, length: number): void {
    const i = this.count++;
    const e = i * ENTRY;
    const d = this.desc;
    d[e] = t.fd;
    d[e + 1] = t.ip;
    d[e + 2] = t.port;
    d[e + 3] = offset;
    d[e + 4] = length;
    this.targets[i] = t;
    this.used = offset + length;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  private readonly flushTask = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Sends everything queued now. */
  flush(): void {
    const n = this.count;
    if (n === 0) return;
    const d = this.desc;
    const targets = this.targets;
    for (let i = 0; i < n; i++) {
      // A socket closed since the datagram was queued (its fd may be another socket's by now).
      if (targets[i]!.transport.closed) {
        d[i * ENTRY + 4] = 0;
        this.errors++;
      }
    }
    let done = 0;
    try {
      this.flushes++;
      done = this.native.sendBatch(d, this.arena, n);
    } catch {
      // Arguments the helper refused (cannot happen for entries written by commit): count them lost.
      this.errors += n;
      done = n;
    }
    for (let i = 0; i < done; i++) {
      const len = d[i * ENTRY + 4]!;
      if (len > 0) this.sent++;
      else if (len < 0) this.errors++;
    }
    for (let i = done; i < n; i++) {
      const e = i * ENTRY;
      const len = d[e + 4]!;
      const t = targets[i]!;
      if (len <= 0) continue;
      this.fallback++;
      // dgram keeps the buffer until the send completes: a copy out of the arena.
      const copy = Buffer.from(this.arena.subarray(d[e + 3]!, d[e + 3]! + len));
      t.socket.send(copy, t.port, t.host, this.onFallbackSent);
    }
    targets.fill(undefined, 0, n);
    this.count = 0;
    this.used = 0;
  }

  private readonly onFallbackSent = (err: Error | null): void => {
    if (err) this.errors++;
  };
}

let batch: UdpBatch | null | undefined;

/** This thread's batch, or undefined when the native helper is not in use. */
export function udpBatch(): UdpBatch | undefined {
  if (batch === undefined) {
    const n = sfuNative();
    batch = n ? new UdpBatch(n) : null;
  }
  return batch ?? undefined;
}
