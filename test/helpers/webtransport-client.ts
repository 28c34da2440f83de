/**
 * A minimal HTTP/3 + WebTransport client on the same QUIC binding (quiche), for protocol tests:
 * it speaks just enough (control + QPACK streams, SETTINGS, extended CONNECT, the 0x41 stream
 * signal, datagrams) and lets a test send arbitrary bytes on any stream to check the server's
 * error codes. Loopback only.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { loadQuiche, type QuicheConnection, type Quiche } from '../../src/transports/webtransport/binding.ts';
import { literalLookup } from '../../src/transports/webtransport/endpoint.ts';
import { FrameReader, FrameType, encodeFrame } from '../../src/transports/webtransport/frames.ts';
import { MessageReader, frameMessage } from '../../src/transports/webtransport/framer.ts';
import { decodeFieldSection, encodeFieldSection, type Field } from '../../src/transports/webtransport/qpack.ts';
import { SettingId, encodeSettingsFrame } from '../../src/transports/webtransport/settings.ts';
import { decodeDatagram, encodeDatagram } from '../../src/transports/webtransport/streams.ts';
import { encodeVarint, encodeVarints } from '../../src/transports/webtransport/varint.ts';

export const CLIENT_SETTINGS: Array<[number, number]> = [
  [SettingId.qpackMaxTableCapacity, 0],
  [SettingId.enableConnectProtocol, 1],
  [SettingId.h3Datagram, 1],
  [SettingId.enableWebTransportDraft02, 1],
];

export class H3TestClient {
  readonly streams = new Map<number, Buffer[]>();
  readonly fins = new Set<number>();
  readonly resets = new Map<number, number>();
  readonly datagrams: Buffer[] = [];
  private readonly waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly buf = Buffer.allocUnsafe(65536);

  private constructor(
    readonly q: Quiche,
    readonly conn: QuicheConnection,
    private readonly sock: dgram.Socket,
    private readonly local: { host: string; port: number },
    private readonly remote: { host: string; port: number },
  ) {
    sock.on('message', (msg, r) => {
      try {
        conn.recv(msg, { from: { host: r.address, port: r.port }, to: local });
      } catch {
        /* quiche handles */
      }
      this.schedulePump();
    });
  }

  static async connect(port: number, opts: { settings?: boolean; timeoutMs?: number } = {}): Promise<H3TestClient> {
    const q = await loadQuiche();
    if (!q) throw new Error('QUIC binding unavailable');
    const cfg = q.Config.withBoringSslCtx(false, false, null, null, null, null);
    cfg.verifyPeer(false);
    cfg.setApplicationProtos(['h3']);
    cfg.setMaxIdleTimeout(10000);
    cfg.setInitialMaxData(4 << 20);
    cfg.setInitialMaxStreamDataBidiLocal(1 << 20);
    cfg.setInitialMaxStreamDataBidiRemote(1 << 20);
    cfg.setInitialMaxStreamDataUni(1 << 20);
    cfg.setInitialMaxStreamsBidi(16);
    cfg.setInitialMaxStreamsUni(16);
    cfg.setMaxSendUdpPayloadSize(1350);
    cfg.enableDgram(true, 1024, 1024);
    const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, lookup: literalLookup });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const local = { host: '127.0.0.1', port: sock.address().port };
    const remote = { host: '127.0.0.1', port };
    const conn = q.Connection.connect('localhost', randomBytes(20), local, remote, cfg);
    const c = new H3TestClient(q, conn, sock, local, remote);
    c.pump();
    await c.until(() => conn.isEstablished() || conn.isClosed(), opts.timeoutMs ?? 3000);
    if (!conn.isEstablished()) throw new Error('QUIC handshake failed');
    if (opts.settings !== false) {
      c.send(2, Buffer.concat([encodeVarint(0x00), encodeSettingsFrame(CLIENT_SETTINGS)]));
      c.send(6, encodeVarint(0x02));
      c.send(10, encodeVarint(0x03));
    }
    return c;
  }

  /** Writes in order; what flow control does not take now waits and is retried after each packet. */
  send(id: number, data: Buffer, fin = false): void {
    const q = this.outq.get(id);
    if (q) {
      q.push([data, fin]);
      return this.pump();
    }
    const n = this.conn.streamSend(id, data, fin) ?? 0;
    if (n < data.length) this.outq.set(id, [[data.subarray(n), fin]]);
    this.pump();
  }

  private readonly outq = new Map<number, Array<[Buffer, boolean]>>();

  private retry(): void {
    for (const [id, q] of this.outq) {
      while (q.length > 0) {
        const [d, fin] = q[0]!;
        const n = this.conn.streamSend(id, d, fin) ?? 0;
        if (n < d.length) {
          q[0] = [d.subarray(n), fin];
          break;
        }
        q.shift();
      }
      if (q.length === 0) this.outq.delete(id);
    }
  }

  sendDatagram(sessionStream: number, payload: Buffer): void {
    this.conn.dgramSend(encodeDatagram(sessionStream, payload));
    this.pump();
  }

  /** Extended CONNECT on stream `id`; resolves with the response fields. */
  async connectSession(id: number, opts: { path?: string; origin?: string; extra?: Field[] } = {}): Promise<Field[]> {
    const fields: Field[] = [
      [':method', 'CONNECT'],
      [':protocol', 'webtransport'],
      [':scheme', 'https'],
      [':authority', `localhost:${this.remote.port}`],
      [':path', opts.path ?? '/connection/webtransport'],
      ...(opts.origin ? ([['origin', opts.origin]] as Field[]) : []),
      ...(opts.extra ?? []),
    ];
    this.send(id, encodeFrame(FrameType.headers, encodeFieldSection(fields)));
    return this.responseHeaders(id);
  }

  async responseHeaders(id: number): Promise<Field[]> {
    let out: Field[] | null = null;
    await this.until(() => {
      const r = new FrameReader();
      for (const e of r.push(Buffer.concat(this.streams.get(id) ?? []))) {
        if (e.kind === 'frame' && e.type === FrameType.headers) {
          out = decodeFieldSection(e.payload);
          return true;
        }
      }
      return this.resets.has(id) || this.closed;
    });
    if (!out) throw new Error(`no response on stream ${id} (reset ${this.resets.get(id)})`);
    return out;
  }

  /** Opens the session's data stream (0x41 signal + session ID) and returns a reader of Switchboard messages from it. */
  openSessionStream(id: number, session: number, first: Buffer[] = []): void {
    this.send(id, Buffer.concat([encodeVarints(0x41, session), ...first.map(frameMessage)]));
  }

  /** Messages the server sent on stream `id` (framer.ts), waiting until `n` have arrived. */
  async messages(id: number, n: number, timeoutMs = 3000): Promise<string[]> {
    let got: Buffer[] = [];
    await this.until(() => {
      got = new MessageReader(1 << 20).push(Buffer.concat(this.streams.get(id) ?? []));
      return got.length >= n || this.closed;
    }, timeoutMs);
    return got.map((b) => b.toString());
  }

  datagramPayloads(sessionStream: number): Buffer[] {
    return this.datagrams.map((d) => decodeDatagram(d)).filter(([s]) => s === sessionStream).map(([, p]) => p);
  }

  /** Resolves when `cond()` holds (checked after every packet), rejects after `timeoutMs`. */
  until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(check);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error('timed out waiting'));
      }, timeoutMs);
      const check = () => {
        if (!cond()) return;
        clearTimeout(t);
        const i = this.waiters.indexOf(check);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  /** Waits for the connection to close; returns the server's error (code) if it sent one. */
  async closedWith(timeoutMs = 3000): Promise<{ isApp: boolean; errorCode: number; reason: string } | null> {
    await this.until(() => this.closed || this.conn.isClosed() || this.conn.isDraining(), timeoutMs);
    const e = this.conn.peerError();
    return e ? { isApp: e.isApp, errorCode: e.errorCode, reason: Buffer.from(e.reason).toString() } : null;
  }

  private pumpScheduled = false;

  /**
   * Every packet the socket read in this poll phase goes into quiche first, then one pump answers
   * them all. Why: pump() after each packet made quiche send an ACK per received packet (it ACKs
   * whatever is pending on every send); RFC 9000 §13.2.2 asks for one per two ack-eliciting
   * packets, and browsers ACK less often still, so the server's receive path was doing twice the
   * work a real client causes.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Reads stream `id` until it has nothing more; `known`: a stream seen before, read without readable(). */
  private readStream(id: number, known: boolean): void {
    for (;;) {
      let r: [number, boolean] | null;
      try {
        r = this.conn.streamRecv(id, this.buf);
      } catch (err) {
        const m = /StreamReset\((\d+)\)/.exec(String(err));
        // A known stream quiche has already collected answers with another error: not a reset.
        if (m || !known) this.resets.set(id, m ? Number(m[1]) : -1);
        return;
      }
      if (r === null) return;
      if (r[0] > 0) {
        const l = this.streams.get(id) ?? [];
        l.push(Buffer.from(this.buf.subarray(0, r[0])));
        this.streams.set(id, l);
      }
      if (r[1]) {
        this.fins.add(id);
        return;
      }
    }
  }

  private pump(): void {
    if (this.conn.isEstablished()) {
      this.retry();
      // readable() is an expensive crossing in the binding (~28 µs, endpoint.ts): ask isReadable()
      // first, read the streams already seen directly, and iterate readable() only when
      // something is left (a new stream, a reset).
      if (this.conn.isReadable()) {
        for (const id of this.streams.keys()) if (!this.fins.has(id) && !this.resets.has(id)) this.readStream(id, true);
        for (let d = this.conn.dgramRecvVec(); d !== null; d = this.conn.dgramRecvVec()) this.datagrams.push(Buffer.from(d));
        if (this.conn.isReadable()) for (const id of this.conn.readable()) this.readStream(id, false);
      }
    }
    for (;;) {
      const out = Buffer.allocUnsafe(1350);
      let r;
      try {
        r = this.conn.send(out);
      } catch {
        break;
      }
      if (r === null) break;
      this.sock.send(out.subarray(0, r[0]), r[1].to.port, r[1].to.host);
    }
    if (this.conn.isClosed()) this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const t = this.conn.timeout();
    if (t !== null && !this.closed) {
      this.timer = setTimeout(() => {
        this.conn.onTimeout();
        this.pump();
      }, t + 1);
    }
    for (const w of [...this.waiters]) w();
    this.onPacket?.();
  }

  /** Called after every packet and timer (the benchmark drains streams and datagrams here). */
  onPacket: (() => void) | null = null;

  async close(): Promise<void> {
    try {
      this.conn.close(true, 0x100, Buffer.from('bye'));
    } catch {
      /* closed */
    }
    this.pump();
    if (this.timer) clearTimeout(this.timer);
    this.closed = true;
    await new Promise<void>((r) => this.sock.close(() => r()));
  }
}
