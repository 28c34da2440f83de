// Shared test helpers: a minimal STUN/TURN client over UDP or TCP built on our codec, coturn
// binary lookup (fails in CI when missing, skips elsewhere), and child-process running.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import {
  AttrType,
  StreamFramer,
  StunClass,
  decodeStunMessage,
  decodeErrorCode,
  decodeText,
  encodeStunMessage,
  encodeText,
  getAttribute,
  longTermKey,
  newTransactionId,
  encodeRequestedTransport,
  TRANSPORT_UDP,
  type DecodedStunMessage,
  type StunAttribute,
} from '../../src/webrtc/stun/index.ts';

export interface Endpoint {
  address: string;
  port: number;
}

/** A datagram/stream STUN client that queues everything it receives. */
export class TestClient {
  /** Every client still open, so a suite's after() can close what failed tests left behind. */
  static readonly open = new Set<TestClient>();
  static closeAll(): void {
    for (const c of TestClient.open) c.close();
  }

  private readonly queue: Buffer[] = [];
  private waiter: (() => void) | undefined;
  realm = '';
  nonce = '';
  key: Buffer | undefined;
  username = '';

  private constructor(
    private readonly sendRaw: (b: Buffer) => void,
    private readonly closeFn: () => void,
    readonly local: () => Endpoint,
    readonly closed: () => boolean,
    private readonly flow?: { pause(): void; resume(): void },
  ) {
    TestClient.open.add(this);
  }

  static udp(server: Endpoint): Promise<TestClient> {
    const family = server.address.includes(':') ? 6 : 4;
    const s: UdpSocket = createSocket(family === 6 ? 'udp6' : 'udp4');
    return new Promise((resolve) => {
      s.bind(0, family === 6 ? '::1' : '127.0.0.1', () => {
        const c = new TestClient(
          (b) => s.send(b, server.port, server.address),
          () => s.close(),
          () => ({ address: s.address().address, port: s.address().port }),
          () => false,
        );
        s.on('message', (m) => c.push(m));
        resolve(c);
      });
    });
  }

  static tcp(server: Endpoint): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const s: TcpSocket = connect({ host: server.address, port: server.port }, () => {
        const framer = new StreamFramer();
        let closed = false;
        const c = new TestClient(
          (b) => s.write(b),
          () => s.destroy(),
          () => ({ address: s.localAddress ?? '', port: s.localPort ?? 0 }),
          () => closed,
          { pause: () => s.pause(), resume: () => s.resume() },
        );
        s.on('data', (d) => framer.push(d).forEach((f) => c.push(Buffer.from(f))));
        s.on('close', () => {
          closed = true;
          c.waiter?.();
        });
        s.on('error', () => {});
        resolve(c);
      });
      s.once('error', reject);
    });
  }

  private push(b: Buffer): void {
    this.queue.push(b);
    this.waiter?.();
  }

  send(b: Buffer): void {
    this.sendRaw(b);
  }

  /** TCP only: stop reading the socket (the kernel buffers fill, then the server's). */
  pause(): void {
    if (!this.flow) throw new Error('pause() is for TCP clients');
    this.flow.pause();
  }

  resume(): void {
    this.flow?.resume();
  }

  /** The next message received, or undefined after `ms`. */
  async next(ms = 1000): Promise<Buffer | undefined> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed()) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift();
  }

  /** Waits for the STUN response to `txid`, skipping indications/ChannelData (kept aside). */
  async response(txid: Buffer, ms = 2000): Promise<DecodedStunMessage | undefined> {
    const deadline = Date.now() + ms;
    const aside: Buffer[] = [];
    try {
      for (;;) {
        const b = await this.next(deadline - Date.now());
        if (!b) return undefined;
        if ((b[0]! & 0xc0) === 0) {
          const m = decodeStunMessage(b);
          if (m.transactionId.equals(txid) && (m.cls === StunClass.success || m.cls === StunClass.error)) return m;
        }
        aside.push(b);
      }
    } finally {
      this.queue.unshift(...aside);
    }
  }

  /** Sends a request (with integrity once authenticated) and waits for its response. */
  async request(method: number, attributes: StunAttribute[], opts: { auth?: boolean; fingerprint?: boolean } = {}): Promise<DecodedStunMessage | undefined> {
    const transactionId = newTransactionId();
    const attrs = [...attributes];
    if (opts.auth && this.key) {
      attrs.push(
        { type: AttrType.username, value: encodeText(this.username) },
        { type: AttrType.realm, value: encodeText(this.realm) },
        { type: AttrType.nonce, value: encodeText(this.nonce) },
      );
    }
    this.send(encodeStunMessage({ method, cls: StunClass.request, transactionId, attributes: attrs }, { integrityKey: opts.auth ? this.key : undefined, fingerprint: opts.fingerprint ?? true }));
    return this.response(transactionId);
  }

  /**
   * An authenticated request: on 401/438 picks up REALM/NONCE and retries once (the RFC 8489
   * §9.2 dance clients do).
   */
  async authed(method: number, attributes: StunAttribute[], username: string, password: string): Promise<DecodedStunMessage> {
    this.username = username;
    for (let i = 0; i < 3; i++) {
      const res = await this.request(method, attributes, { auth: this.key !== undefined });
      if (!res) throw new Error('no response');
      const code = errorCode(res);
      if (code === 401 || code === 438) {
        const realm = getAttribute(res, AttrType.realm);
        const nonce = getAttribute(res, AttrType.nonce);
        if (!realm || !nonce) return res;
        if (code === 401 && this.key && this.realm === decodeText(realm.value, 'realm') && i > 0) return res;
        this.realm = decodeText(realm.value, 'realm');
        this.nonce = decodeText(nonce.value, 'nonce');
        this.key = longTermKey(username, this.realm, password);
        continue;
      }
      return res;
    }
    throw new Error('authentication loop');
  }

  close(): void {
    if (!TestClient.open.delete(this)) return;
    this.closeFn();
  }
}

export function errorCode(msg: DecodedStunMessage): number | undefined {
  const a = getAttribute(msg, AttrType.errorCode);
  return a ? decodeErrorCode(a.value).code : undefined;
}

export const udpTransport: StunAttribute = { type: AttrType.requestedTransport, value: encodeRequestedTransport(TRANSPORT_UDP) };

/** A free UDP port on `address` (bound then released: good enough for a child that binds next). */
export function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  return new Promise((resolve) => s.bind(0, address, () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  }));
}

/**
 * Path of a coturn binary. Missing: fails the test when CI=true (the interop suite must not
 * silently skip there), skips with the reason elsewhere.
 */
export function coturnBinary(t: TestContext, name: string): string | undefined {
  const path = `/usr/bin/${name}`;
  if (existsSync(path)) return path;
  const why = `${path} not found (install the Debian package "coturn")`;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return undefined;
}

export interface RunResult {
  code: number | null;
  stdout: string;
}

/** Runs a command to completion (killed after `timeoutMs`), capturing stdout+stderr. */
export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: out });
    });
  });
}

/** Starts a long-running child (e.g. turnutils_peer); returns a stop function. */
export function startChild(cmd: string, args: string[]): () => Promise<void> {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

/** The final totals turnutils_uclient prints. */
export interface UclientTotals {
  sentMsgs: number;
  recvMsgs: number;
  sentBytes: number;
  recvBytes: number;
  lost: number;
  sendDropped: number;
  avgRttMs: number;
}

export function parseUclient(out: string): UclientTotals | undefined {
  const msgs = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
  const bytes = /start_mclient: tot_send_bytes ~ (\d+), tot_recv_bytes ~ (\d+)\s*$/m.exec(out);
  const lost = /Total lost packets (\d+) \([^)]*\), total send dropped (\d+)/.exec(out);
  const rtt = /Average round trip delay ([\d.]+) ms/.exec(out);
  if (!msgs || !bytes || !lost) return undefined;
  return {
    sentMsgs: Number(msgs[1]),
    recvMsgs: Number(msgs[2]),
    sentBytes: Number(bytes[1]),
    recvBytes: Number(bytes[2]),
    lost: Number(lost[1]),
    sendDropped: Number(lost[2]),
    avgRttMs: rtt ? Number(rtt[1]) : NaN,
  };
}
