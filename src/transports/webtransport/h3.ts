/**
 * HTTP/3 and WebTransport over one QUIC connection, server side (RFC 9114, RFC 9204 without a
 * dynamic table, RFC 9220 extended CONNECT, RFC 9297 capsules and datagrams,
 * draft-ietf-webtrans-http3-02 as Chromium speaks it). Codecs are pure (frames.ts, qpack.ts,
 * capsules.ts …); this is the state machine that applies them to the connection's streams:
 *
 * - our unidirectional streams: control (SETTINGS first), QPACK encoder and decoder (empty: no
 *   dynamic table);
 * - the peer's: one control stream (SETTINGS first, then GOAWAY / unknown frames), QPACK streams
 *   (only "Set Dynamic Table Capacity 0" is acceptable on the encoder stream), anything else is
 *   refused with STOP_SENDING;
 * - client bidi streams: an HTTP request (only extended CONNECT with `:protocol webtransport` is
 *   served) or, after the 0x41 signal and a session ID, a WebTransport stream of that session.
 *
 * Connection errors (H3Error thrown by a codec or by a rule here) close the QUIC connection with
 * the error's HTTP/3 code, as RFC 9114 §8 asks.
 */
import { streamErrorCode } from './binding.ts';
import { CapsuleReader, encodeCloseCapsule } from './capsules.ts';
import type { QuicConn } from './endpoint.ts';
import { H3Error, H3ErrorCode } from './errors.ts';
import { FrameReader, FrameType, decodeGoaway, encodeFrame } from './frames.ts';
import { decodeFieldSection, encodeFieldSection, readPrefixInt, type Field } from './qpack.ts';
import { decodeSettings, encodeSettingsFrame, peerWebTransport, serverSettings, type PeerWebTransport } from './settings.ts';
import { UniStreamType, decodeDatagram, encodeDatagram, isClientBidi, isUni } from './streams.ts';
import { encodeVarint, readVarint } from './varint.ts';

export interface H3Options {
  /** Largest HEADERS / SETTINGS payload and decoded field section. @default 16384 */
  maxFieldSectionBytes: number;
  /** WebTransport sessions per QUIC connection. @default 1 */
  maxSessionsPerConnection: number;
  /** Time from an accepted CONNECT to the session's first stream. @default 10000 */
  sessionStreamTimeoutMs: number;
  /** Bytes read from one stream per readable event before yielding. @default 65536 */
  readChunkBytes: number;
}

/** A CONNECT request, as the application sees it before accepting it. */
export interface ConnectRequest {
  authority: string;
  path: string;
  origin: string | undefined;
  headers: readonly Field[];
}

/** What the server application decides for each request and session. */
export interface H3App {
  /** A CONNECT with `:protocol webtransport`: null accepts; otherwise the refusal status. */
  onConnect(req: ConnectRequest, c: QuicConn): { status: number; message: string } | null;
  /** The session's first stream arrived: the session is ready for data. */
  onSessionReady(s: WtSession): void;
}

/** One WebTransport session: its CONNECT stream, its data stream, its datagrams. */
export class WtSession {
  /** Client bidi stream carrying the application's bytes, -1 until it arrives. */
  dataStream = -1;
  paused = false;
  closed = false;
  onData: (chunk: Buffer) => void = () => {};
  onDrain: () => void = () => {};
  onDatagram: (payload: Buffer) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};
  /** @internal */ timer: NodeJS.Timeout | null = null;
  /** @internal */ readonly capsules: CapsuleReader;

  constructor(
    readonly h3: H3Connection,
    readonly connectStream: number,
    readonly request: ConnectRequest,
  ) {
    this.capsules = new CapsuleReader(h3.options.maxFieldSectionBytes);
  }

  get quic(): QuicConn {
    return this.h3.quic;
  }

  get bufferedBytes(): number {
    return this.dataStream < 0 ? 0 : this.quic.bufferedBytes(this.dataStream);
  }

  /** Queues bytes on the data stream; false when the connection's budget is spent or the stream is gone. */
  write(data: Buffer): boolean {
    if (this.closed || this.dataStream < 0) return false;
    return this.quic.write(this.dataStream, data);
  }

  /** An HTTP datagram for this session; false when dropped (too big, queue full, datagrams off). */
  sendDatagram(payload: Buffer): boolean {
    if (this.closed || !this.h3.datagramsEnabled) return false;
    return this.quic.sendDatagram(encodeDatagram(this.connectStream, payload));
  }

  /** Largest datagram payload deliverable now (after the quarter stream ID). */
  get maxDatagramPayload(): number {
    const n = this.quic.maxDatagramBytes;
    return n > 8 ? n - encodeVarint(this.connectStream / 4).length : 0;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.dataStream >= 0) this.h3.readStream(this.dataStream);
  }

  /**
   * Ends the session: CLOSE_WEBTRANSPORT_SESSION and FIN on the CONNECT stream, FIN on the data
   * stream after what is queued. Idempotent; `onClose` is not called for a local close.
   */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.h3.detach(this);
    if (this.dataStream >= 0) this.quic.write(this.dataStream, Buffer.alloc(0), true);
    this.quic.write(this.connectStream, encodeFrame(FrameType.data, encodeCloseCapsule(code, reason)), true);
  }

  /** @internal The peer ended the session (capsule, FIN or reset of the CONNECT stream, connection close). */
  ended(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.h3.detach(this);
    this.onClose(code, reason);
  }
}

type StreamState =
  | { kind: 'uni-type'; pending: Buffer }
  | { kind: 'control'; reader: FrameReader; settings: boolean }
  | { kind: 'qpack-encoder'; pending: Buffer }
  | { kind: 'discard' }
  | { kind: 'request'; reader: FrameReader; session: WtSession | null; headers: boolean }
  | { kind: 'wt-prefix'; pending: Buffer }
  | { kind: 'wt-data'; session: WtSession };

const SERVER_CONTROL = 3;
const SERVER_QPACK_ENCODER = 7;
const SERVER_QPACK_DECODER = 11;

export class H3Connection {
  readonly streams = new Map<number, StreamState>();
  readonly sessions = new Map<number, WtSession>();
  peer: PeerWebTransport | null = null;
  private peerControl = false;
  private peerEncoder = false;
  private peerDecoder = false;
  private dead = false;
  /** Bytes refused by our own rules (for tests and stats): last connection error sent. */
  lastError: H3Error | null = null;
  private readonly buf: Buffer;

  constructor(
    readonly quic: QuicConn,
    readonly options: H3Options,
    private readonly app: H3App,
  ) {
    this.buf = Buffer.allocUnsafe(options.readChunkBytes);
  }

  /** Whether both sides enabled HTTP datagrams. */
  get datagramsEnabled(): boolean {
    return this.peer?.datagrams === true;
  }

  onEstablished(): void {
    this.quic.write(SERVER_CONTROL, Buffer.concat([encodeVarint(UniStreamType.control), encodeSettingsFrame(serverSettings(this.options.maxFieldSectionBytes))]));
    this.quic.write(SERVER_QPACK_ENCODER, encodeVarint(UniStreamType.qpackEncoder));
    this.quic.write(SERVER_QPACK_DECODER, encodeVarint(UniStreamType.qpackDecoder));
  }

  /** Closes the connection with an HTTP/3 error. */
  fail(err: H3Error): void {
    if (this.dead) return;
    this.dead = true;
    this.lastError = err;
    for (const s of [...this.sessions.values()]) s.ended(err.h3code, err.message);
    this.quic.close(err.h3code, err.message);
  }

  onClosed(info: { code: number; reason: string }): void {
    this.dead = true;
    for (const s of [...this.sessions.values()]) s.ended(info.code === 0 ? H3ErrorCode.noError : info.code, info.reason || 'connection closed');
  }

  onDrained(id: number): void {
    for (const s of this.sessions.values()) if (s.dataStream === id) s.onDrain();
  }

  onDatagram(d: Buffer): void {
    if (this.dead) return;
    try {
      const [sid, payload] = decodeDatagram(d);
      this.sessions.get(sid)?.onDatagram(payload);
      // RFC 9297 §2.1: datagrams for an unknown or closed stream are dropped (they may race the close).
    } catch (err) {
      if (err instanceof H3Error) this.fail(err);
      else throw err;
    }
  }

  /** @internal */
  detach(s: WtSession): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    this.sessions.delete(s.connectStream);
  }

  /** Reads what stream `id` has, unless its session is paused (then quiche's flow control holds the peer). */
  readStream(id: number): void {
    if (this.dead) return;
    const st = this.streams.get(id);
    if (st?.kind === 'wt-data' && st.session.paused) return;
    try {
      for (;;) {
        let r: [number, boolean] | null;
        try {
          r = this.quic.conn.streamRecv(id, this.buf);
        } catch (err) {
          const code = streamErrorCode(err, 'StreamReset');
          if (code === null) throw err;
          this.onReset(id, code);
          return;
        }
        if (r === null) return;
        const [n, fin] = r;
        if (n > 0) this.onBytes(id, Buffer.from(this.buf.subarray(0, n)));
        if (fin) {
          this.onFin(id);
          return;
        }
        const now = this.streams.get(id);
        if (now?.kind === 'wt-data' && now.session.paused) return;
        if (n < this.buf.length) return;
      }
    } catch (err) {
      if (err instanceof H3Error) this.fail(err);
      else throw err;
    }
  }

  private stateFor(id: number): StreamState {
    let st = this.streams.get(id);
    if (st) return st;
    if (isUni(id)) st = { kind: 'uni-type', pending: Buffer.alloc(0) };
    else if (isClientBidi(id)) st = { kind: 'request', reader: new FrameReader({ maxFrameBytes: this.options.maxFieldSectionBytes, allowWebTransportSignal: true }), session: null, headers: false };
    else throw new H3Error('streamCreationError', `stream ${id} is server-initiated`);
    this.streams.set(id, st);
    return st;
  }

  private onBytes(id: number, chunk: Buffer): void {
    const st = this.stateFor(id);
    switch (st.kind) {
      case 'uni-type': {
        const all = Buffer.concat([st.pending, chunk]);
        const t = readVarint(all, 0);
        if (t === null) {
          st.pending = all;
          return;
        }
        this.openUni(id, t.value);
        const rest = all.subarray(t.length);
        if (rest.length > 0) this.onBytes(id, rest);
        return;
      }
      case 'control':
        for (const e of st.reader.push(chunk)) {
          if (e.kind !== 'frame') throw new H3Error('frameUnexpected', 'DATA on the control stream');
          if (!st.settings) {
            if (e.type !== FrameType.settings) throw new H3Error('missingSettings', `first control frame is 0x${e.type.toString(16)}, not SETTINGS`);
            st.settings = true;
            this.peer = peerWebTransport(decodeSettings(e.payload));
            continue;
          }
          if (e.type === FrameType.settings) throw new H3Error('frameUnexpected', 'second SETTINGS frame');
          if (e.type === FrameType.headers || e.type === FrameType.pushPromise) throw new H3Error('frameUnexpected', `frame 0x${e.type.toString(16)} on the control stream`);
          if (e.type === FrameType.goaway) {
            decodeGoaway(e.payload);
            for (const s of [...this.sessions.values()]) s.ended(H3ErrorCode.noError, 'peer sent GOAWAY');
          }
        }
        return;
      case 'qpack-encoder': {
        // With QPACK_MAX_TABLE_CAPACITY 0 the only valid instruction is Set Dynamic Table Capacity 0.
        let buf = Buffer.concat([st.pending, chunk]);
        while (buf.length > 0) {
          if ((buf[0]! & 0xe0) !== 0x20) throw new H3Error('qpackEncoderStreamError', 'dynamic table insert with capacity 0');
          let v: number;
          let at: number;
          try {
            [v, at] = readPrefixInt(buf, 0, 5);
          } catch {
            if (buf.length > 8) throw new H3Error('qpackEncoderStreamError', 'bad instruction');
            break;
          }
          if (v !== 0) throw new H3Error('qpackEncoderStreamError', `dynamic table capacity ${v} over our maximum 0`);
          buf = buf.subarray(at);
        }
        st.pending = Buffer.from(buf);
        return;
      }
      case 'discard':
        return;
      case 'request':
        return this.onRequestBytes(id, st, chunk);
      case 'wt-prefix': {
        const all = Buffer.concat([st.pending, chunk]);
        const sid = readVarint(all, 0);
        if (sid === null) {
          st.pending = all;
          return;
        }
        const s = this.sessions.get(sid.value);
        if (!s || s.dataStream >= 0) {
          // Unknown session (we do not buffer streams for sessions not yet accepted) or a second
          // stream: this implementation runs one stream per session.
          this.streams.set(id, { kind: 'discard' });
          this.quic.resetStream(id, s ? H3ErrorCode.requestRejected : H3ErrorCode.wtBufferedStreamRejected);
          return;
        }
        s.dataStream = id;
        if (s.timer) clearTimeout(s.timer);
        s.timer = null;
        this.streams.set(id, { kind: 'wt-data', session: s });
        this.app.onSessionReady(s);
        const rest = all.subarray(sid.length);
        if (rest.length > 0 && !s.closed) s.onData(rest);
        return;
      }
      case 'wt-data':
        if (!st.session.closed) st.session.onData(chunk);
        return;
    }
  }

  private openUni(id: number, type: number): void {
    const critical = (seen: boolean, what: string) => {
      if (seen) throw new H3Error('streamCreationError', `second ${what} stream`);
    };
    switch (type) {
      case UniStreamType.control:
        critical(this.peerControl, 'control');
        this.peerControl = true;
        this.streams.set(id, { kind: 'control', reader: new FrameReader({ maxFrameBytes: this.options.maxFieldSectionBytes }), settings: false });
        return;
      case UniStreamType.qpackEncoder:
        critical(this.peerEncoder, 'QPACK encoder');
        this.peerEncoder = true;
        this.streams.set(id, { kind: 'qpack-encoder', pending: Buffer.alloc(0) });
        return;
      case UniStreamType.qpackDecoder:
        // Section acknowledgements / stream cancellations: nothing to do without a dynamic table.
        critical(this.peerDecoder, 'QPACK decoder');
        this.peerDecoder = true;
        this.streams.set(id, { kind: 'discard' });
        return;
      case UniStreamType.push:
        throw new H3Error('streamCreationError', 'a client must not open push streams');
      default:
        // WebTransport uni streams (0x54) are not used by this transport; unknown types (GREASE)
        // must be ignored: stop reading (§6.2 "abort reading … with H3_STREAM_CREATION_ERROR").
        this.streams.set(id, { kind: 'discard' });
        this.quic.stopReading(id, type === UniStreamType.webtransport ? H3ErrorCode.requestRejected : H3ErrorCode.streamCreationError);
    }
  }

  private onRequestBytes(id: number, st: Extract<StreamState, { kind: 'request' }>, chunk: Buffer): void {
    for (const e of st.reader.push(chunk)) {
      if (e.kind === 'webtransport') {
        this.streams.set(id, { kind: 'wt-prefix', pending: Buffer.alloc(0) });
        this.onBytes(id, e.rest);
        return;
      }
      if (e.kind === 'data') {
        if (!st.headers) throw new H3Error('frameUnexpected', 'DATA before HEADERS');
        const s = st.session;
        if (s && !s.closed) {
          for (const c of s.capsules.push(e.chunk)) {
            if (c.type === 'close') s.ended(c.code, c.reason);
            else s.ended(0, 'peer is draining');
          }
        }
        continue;
      }
      if (e.type === FrameType.headers) {
        if (st.headers) continue; // trailers: nothing to do with them on a CONNECT stream
        st.headers = true;
        this.onHeaders(id, st, e.payload);
        continue;
      }
      // SETTINGS, GOAWAY, MAX_PUSH_ID, CANCEL_PUSH belong on the control stream; PUSH_PROMISE is server-only.
      throw new H3Error('frameUnexpected', `frame 0x${e.type.toString(16)} on a request stream`);
    }
  }

  private respond(id: number, status: number, extra: Field[] = [], fin = true): void {
    this.quic.write(id, encodeFrame(FrameType.headers, encodeFieldSection([[':status', String(status)], ...extra])), fin);
  }

  private onHeaders(id: number, st: Extract<StreamState, { kind: 'request' }>, payload: Buffer): void {
    const fields = decodeFieldSection(payload, { maxSectionBytes: this.options.maxFieldSectionBytes });
    const pseudo = new Map<string, string>();
    let regular = false;
    for (const [n, v] of fields) {
      if (n.startsWith(':')) {
        // RFC 9114 §4.3: pseudo-headers first, once each, only the defined ones — else malformed.
        if (regular || pseudo.has(n) || ![':method', ':scheme', ':authority', ':path', ':protocol'].includes(n)) return this.malformed(id);
        pseudo.set(n, v);
      } else {
        regular = true;
        if (n !== n.toLowerCase()) return this.malformed(id);
      }
    }
    const method = pseudo.get(':method');
    if (method !== 'CONNECT' || pseudo.get(':protocol') !== 'webtransport') {
      if (!method || (method !== 'CONNECT' && (!pseudo.has(':scheme') || !pseudo.has(':path')))) return this.malformed(id);
      return this.respond(id, method === 'CONNECT' ? 501 : 404);
    }
    const authority = pseudo.get(':authority');
    const path = pseudo.get(':path');
    if (!authority || !path || pseudo.get(':scheme') !== 'https') return this.malformed(id);
    if (this.sessions.size >= this.options.maxSessionsPerConnection) return this.respond(id, 429);
    const req: ConnectRequest = { authority, path, origin: fields.find(([n]) => n === 'origin')?.[1], headers: fields };
    const refusal = this.app.onConnect(req, this.quic);
    if (refusal) return this.respond(id, refusal.status);
    const s = new WtSession(this, id, req);
    st.session = s;
    this.sessions.set(id, s);
    s.timer = setTimeout(() => s.close(H3ErrorCode.requestIncomplete, 'no session stream in time'), this.options.sessionStreamTimeoutMs);
    s.timer.unref();
    // draft-02: the response must carry the draft version the server speaks.
    this.respond(id, 200, [['sec-webtransport-http3-draft', 'draft02']], false);
  }

  /** RFC 9114 §4.1.2: a malformed request is a stream error of type H3_MESSAGE_ERROR. */
  private malformed(id: number): void {
    this.streams.set(id, { kind: 'discard' });
    this.quic.resetStream(id, H3ErrorCode.messageError);
  }

  private onFin(id: number): void {
    const st = this.streams.get(id);
    if (!st) return;
    switch (st.kind) {
      case 'control':
      case 'qpack-encoder':
        throw new H3Error('closedCriticalStream', `peer closed its ${st.kind} stream`);
      case 'uni-type':
        this.streams.delete(id);
        return;
      case 'request':
        if (!st.reader.atBoundary) throw new H3Error('frameError', 'stream ended inside a frame');
        if (st.session && !st.session.closed) st.session.ended(0, 'CONNECT stream closed');
        this.streams.delete(id);
        return;
      case 'wt-data':
        if (!st.session.closed) st.session.ended(0, 'session stream closed');
        this.streams.delete(id);
        return;
      default:
        this.streams.delete(id);
    }
  }

  private onReset(id: number, code: number): void {
    const st = this.streams.get(id);
    this.streams.delete(id);
    if (!st) return;
    if (st.kind === 'control' || st.kind === 'qpack-encoder') throw new H3Error('closedCriticalStream', `peer reset its ${st.kind} stream`);
    if (st.kind === 'request' && st.session) st.session.ended(code, 'CONNECT stream reset');
    if (st.kind === 'wt-data') st.session.ended(code, 'session stream reset');
  }
}
