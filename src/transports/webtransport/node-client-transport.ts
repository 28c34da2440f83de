/**
 * The SDK's WebTransport transport for Node (issue 14 item 4): the same protocol as the browser
 * transport (client-transport.ts) — `GET /connection/webtransport`, extended CONNECT, one
 * bidirectional stream of length-prefixed frames, publications of `datagrams` namespaces as HTTP/3
 * datagrams — spoken over the optional QUIC binding (binding.ts) as a client:
 *
 *     import { webtransportNodeTransport } from 'switchboard/src/transports/webtransport/node-client-transport.ts';
 *     new Client(url, { transports: [webtransportNodeTransport, 'websocket'] });
 *
 * Certificates: a dev node's certificate is pinned by the SHA-256 the info route hands out (the
 * leaf's DER hash must match, else the connection is closed before any frame is sent). A node with
 * a CA-issued certificate (no hashes) is verified by BoringSSL against its default trust store
 * (not tested here). Without the binding, `create()` rejects at once and the Client goes on to
 * the next transport. Node-only: never bundled with the browser SDK.
 */
import dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import type { ClientTransport, TransportContext, TransportEvents, TransportFactory } from '../../client/transport.ts';
import { endpointUrl } from '../../client/endpoint.ts';
import { loadQuiche, type HostPort, type QuicheConnection } from './binding.ts';
import { FrameReader, FrameType, encodeFrame } from './frames.ts';
import { MessageReader, frameMessage } from './framer.ts';
import { decodeFieldSection, encodeFieldSection, type Field } from './qpack.ts';
import { SettingId, encodeSettingsFrame } from './settings.ts';
import { decodeDatagram } from './streams.ts';
import { encodeVarint, encodeVarints } from './varint.ts';

interface Info {
  available: boolean;
  url?: string;
  certificateHashes?: Array<{ algorithm: string; value: string }>;
  reason?: string;
}

const SETTINGS: Array<[number, number]> = [
  [SettingId.qpackMaxTableCapacity, 0],
  [SettingId.enableConnectProtocol, 1],
  [SettingId.h3Datagram, 1],
  [SettingId.enableWebTransportDraft02, 1],
];
/** Client-initiated streams: bidi 0 (CONNECT), bidi 4 (the session's data), uni 2/6/10 (control, QPACK). */
const CONNECT_STREAM = 0;
const DATA_STREAM = 4;
/** Bytes queued on the data stream past which send() reports backpressure. */
const HIGH_WATERMARK = 256 * 1024;
const PACKET = 1350;

class NodeWebTransport implements ClientTransport {
  readonly name = 'webtransport';
  private readonly buf = Buffer.allocUnsafe(65536);
  private readonly out: Array<[number, Buffer]> = [];
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  private readonly connectReader = new FrameReader();
  private readonly stream: MessageReader;
  private readonly dgram: MessageReader;
  /** Resolves with the CONNECT response status. */
  onStatus: (status: number) => void = () => {};
  onEstablished: () => void = () => {};
  private established = false;

  constructor(
    private readonly conn: QuicheConnection,
    private readonly sock: dgram.Socket,
    private readonly local: HostPort,
    private readonly events: TransportEvents,
    private readonly binary: boolean,
    maxMessageBytes: number,
  ) {
    this.stream = new MessageReader(maxMessageBytes);
    this.dgram = new MessageReader(maxMessageBytes);
    sock.on('message', (msg, r) => {
      try {
        conn.recv(msg, { from: { host: r.address, port: r.port }, to: local });
      } catch {
        /* quiche answers what it refuses */
      }
      this.pump();
    });
  }

  /** Queues bytes on a stream in order; what flow control refuses waits for the next packet. */
  write(id: number, data: Buffer, fin = false): void {
    if (this.out.length === 0) {
      const n = this.conn.streamSend(id, data, fin) ?? 0;
      if (n < data.length) this.enqueue(id, data.subarray(n));
    } else this.enqueue(id, data);
    this.pump();
  }

  private enqueue(id: number, data: Buffer): void {
    this.out.push([id, data]);
    this.queued += data.length;
  }

  send(data: Uint8Array): boolean {
    if (this.ended) return false;
    this.write(DATA_STREAM, frameMessage(data));
    return this.queued < HIGH_WATERMARK;
  }

  close(code = 1000, reason = ''): void {
    if (this.ended) return;
    try {
      this.conn.close(true, 0x100, Buffer.from(reason.slice(0, 100)));
    } catch {
      /* closing */
    }
    this.pump(); // sends the CONNECTION_CLOSE
    this.end(code, reason);
  }

  private end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Let the CONNECTION_CLOSE leave before the socket goes (not unref'd: the socket must close).
    setTimeout(() => {
      try {
        this.sock.close();
      } catch {
        /* already closed */
      }
    }, 50);
    // Asynchronously, as every other transport: close() is called from inside Client.close().
    setImmediate(() => this.events.close({ code, reason }));
  }

  pump(): void {
    if (this.ended) return;
    if (this.conn.isEstablished()) {
      if (!this.established) {
        this.established = true;
        this.onEstablished();
      }
      while (this.out.length > 0) {
        const [id, d] = this.out[0]!;
        let n: number;
        try {
          n = this.conn.streamSend(id, d, false) ?? 0;
        } catch {
          n = d.length; // stream gone: drop it
        }
        this.queued -= n;
        if (n < d.length) {
          this.out[0] = [id, d.subarray(n)];
          break;
        }
        this.out.shift();
      }
      this.read();
    }
    for (;;) {
      const pkt = Buffer.allocUnsafe(PACKET);
      let r;
      try {
        r = this.conn.send(pkt);
      } catch {
        break;
      }
      if (r === null) break;
      this.sock.send(pkt.subarray(0, r[0]), r[1].to.port, r[1].to.host);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.conn.isClosed()) {
      const e = this.conn.peerError();
      return this.end(e ? e.errorCode : 1006, e ? Buffer.from(e.reason).toString() : this.conn.isTimedOut() ? 'idle timeout' : 'connection closed');
    }
    const t = this.conn.timeout();
    if (t !== null) {
      this.timer = setTimeout(() => {
        this.conn.onTimeout();
        this.pump();
      }, t + 1);
    }
  }

  private read(): void {
    for (const id of this.conn.readable()) {
      for (;;) {
        let r: [number, boolean] | null;
        try {
          r = this.conn.streamRecv(id, this.buf);
        } catch {
          break; // reset: the session's close follows
        }
        if (r === null) break;
        const chunk = Buffer.from(this.buf.subarray(0, r[0]));
        if (id === CONNECT_STREAM) this.onConnectStream(chunk);
        else if (id === DATA_STREAM) this.deliver(this.stream, chunk);
        // Server uni streams (control, QPACK) are read and ignored: we never use a dynamic table.
        if (r[1]) break;
      }
    }
    for (let d = this.conn.dgramRecvVec(); d !== null; d = this.conn.dgramRecvVec()) {
      try {
        const [sid, payload] = decodeDatagram(d);
        if (sid !== CONNECT_STREAM) continue;
        this.deliver(this.dgram, payload);
      } catch {
        /* a malformed datagram is a lost one */
      }
    }
  }

  private onConnectStream(chunk: Buffer): void {
    for (const e of this.connectReader.push(chunk)) {
      if (e.kind === 'frame' && e.type === FrameType.headers) {
        const status = decodeFieldSection(e.payload).find(([k]) => k === ':status');
        this.onStatus(Number(status?.[1] ?? 0));
      }
      // Later DATA on the CONNECT stream is capsules (CLOSE_WEBTRANSPORT_SESSION): the QUIC
      // connection close that follows ends the transport.
    }
  }

  private deliver(reader: MessageReader, chunk: Buffer): void {
    let msgs: Buffer[];
    try {
      msgs = reader.push(chunk);
    } catch (err) {
      return this.close(3504, err instanceof Error ? err.message : 'bad message');
    }
    for (const m of msgs) {
      if (this.ended) return;
      this.events.message(this.binary ? new Uint8Array(m) : m.toString('utf8'));
    }
  }
}

async function info(ctx: TransportContext): Promise<Info> {
  const f = ctx.fetch ?? globalThis.fetch;
  const url = endpointUrl(ctx.url, 'poll').replace(/\/connection\/poll(?=$|\?)/, '/connection/webtransport');
  const r = await f(url, ctx.signal ? { signal: ctx.signal } : {});
  const i = (await r.json()) as Info;
  if (!i.available || !i.url) throw new Error(`WebTransport not served by this node${i.reason ? `: ${i.reason}` : ''}`);
  return i;
}

/** The Node WebTransport transport factory (QUIC binding as the client). */
export const webtransportNodeTransport: TransportFactory = {
  name: 'webtransport',
  formats: ['json', 'msgpack'],
  async create(ctx: TransportContext, events: TransportEvents): Promise<ClientTransport> {
    const q = await loadQuiche();
    if (!q) throw new Error('QUIC binding unavailable (install the optional dependency @matrixai/quic)');
    const i = await info(ctx);
    const target = new URL(i.url!);
    target.searchParams.set('format', ctx.codec.name);
    const host = target.hostname.replace(/^\[|\]$/g, '');
    const pins = (i.certificateHashes ?? []).filter((h) => h.algorithm === 'sha-256').map((h) => h.value);
    const cfg = q.Config.withBoringSslCtx(pins.length === 0, false, null, null, null, null);
    cfg.verifyPeer(pins.length === 0);
    cfg.setApplicationProtos(['h3']);
    cfg.setMaxIdleTimeout(30_000);
    cfg.setInitialMaxData(4 << 20);
    cfg.setInitialMaxStreamDataBidiLocal(1 << 20);
    cfg.setInitialMaxStreamDataBidiRemote(1 << 20);
    cfg.setInitialMaxStreamDataUni(1 << 16);
    cfg.setInitialMaxStreamsBidi(4);
    cfg.setInitialMaxStreamsUni(8);
    cfg.setMaxSendUdpPayloadSize(PACKET);
    cfg.enableDgram(true, 1024, 256);
    const family = host.includes(':') ? 'udp6' : 'udp4';
    const sock = dgram.createSocket({ type: family, recvBufferSize: 4 << 20 });
    await new Promise<void>((r, reject) => {
      sock.once('error', reject);
      sock.bind(0, family === 'udp6' ? '::' : '0.0.0.0', () => r());
    });
    sock.on('error', () => {});
    const local = { host: family === 'udp6' ? '::' : '0.0.0.0', port: sock.address().port };
    const remote = { host, port: Number(target.port || 443) };
    const conn = q.Connection.connect(target.hostname === host ? host : target.hostname, randomBytes(20), local, remote, cfg);
    const maxMessage = Math.max(ctx.maxMessageBytes ?? 65536, 1 << 20);
    const t = new NodeWebTransport(conn, sock, local, events, ctx.codec.binary, maxMessage);
    const opened = new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        t.close(1006, err.message);
        reject(err);
      };
      const onAbort = (): void => fail(new Error('connection attempt aborted (UDP blocked or WebTransport unreachable?)'));
      if (ctx.signal?.aborted) onAbort();
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      t.onEstablished = () => {
        if (pins.length > 0) {
          const leaf = conn.peerCertChain()?.[0];
          const hash = leaf ? createHash('sha256').update(leaf).digest('base64') : '';
          if (!pins.includes(hash)) return fail(new Error('server certificate does not match the pinned SHA-256'));
        }
        t.write(2, Buffer.concat([encodeVarint(0x00), encodeSettingsFrame(SETTINGS)]));
        t.write(6, encodeVarint(0x02));
        t.write(10, encodeVarint(0x03));
        const fields: Field[] = [
          [':method', 'CONNECT'],
          [':protocol', 'webtransport'],
          [':scheme', 'https'],
          [':authority', target.host],
          [':path', `${target.pathname}${target.search}`],
        ];
        t.write(CONNECT_STREAM, encodeFrame(FrameType.headers, encodeFieldSection(fields)));
      };
      t.onStatus = (status) => {
        ctx.signal?.removeEventListener('abort', onAbort);
        if (status !== 200) return fail(new Error(`WebTransport CONNECT answered ${status}`));
        // The session's data stream: the 0x41 signal and the session ID (the CONNECT stream).
        t.write(DATA_STREAM, encodeVarints(0x41, CONNECT_STREAM));
        resolve();
      };
    });
    t.pump();
    await opened;
    return t;
  },
};
