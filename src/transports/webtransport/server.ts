/**
 * The WebTransport listener of a node: the QUIC endpoint, HTTP/3 per connection, and a Session
 * per WebTransport session, plus `GET /connection/webtransport` on the node's HTTP port, which
 * tells clients the `https://` URL and, in dev mode, the certificate hash to pin.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, type NodeCore } from '../../server/core.ts';
import { Session } from '../../server/session.ts';
import { loadQuiche, quicheLoadError, type Quiche, type QuicheConfig } from './binding.ts';
import { certificateHash, generateDevCertificate, type Certificate } from './cert.ts';
import { QuicEndpoint, type ConnectionHandler, type QuicConn } from './endpoint.ts';
import { H3Connection, type ConnectRequest, type WtSession } from './h3.ts';
import { wtJson, wtMsgpack } from './framer.ts';
import { resolveWebTransportOptions, type WebTransportOptions } from './options.ts';
import { WebTransportTransport } from './transport.ts';

export const WEBTRANSPORT_PATH = '/connection/webtransport';

/** What `GET /connection/webtransport` answers. */
export interface WebTransportInfo {
  available: boolean;
  url?: string;
  /** For `new WebTransport(url, { serverCertificateHashes })`; absent with a CA-issued certificate. */
  certificateHashes?: Array<{ algorithm: 'sha-256'; value: string }>;
  reason?: string;
}

function pem(v: string): string {
  return v.includes('-----BEGIN') ? v : readFileSync(v, 'utf8');
}

export class WebTransportServer {
  endpoint: QuicEndpoint | null = null;
  private cert: Certificate | null = null;
  private rotation: NodeJS.Timeout | null = null;
  private readonly dev: boolean;
  reason = '';

  constructor(
    readonly node: NodeCore,
    readonly options: WebTransportOptions,
  ) {
    this.dev = options.cert === '';
    node.route((req, res, url) => this.route(req, res, url));
  }

  get port(): number {
    return this.endpoint?.local.port ?? 0;
  }

  get url(): string {
    const host = this.options.publicHost || new URL(this.node.httpUrl).hostname;
    return `https://${host.includes(':') ? `[${host}]` : host}:${this.port}${WEBTRANSPORT_PATH}`;
  }

  /** The pinned hash in dev mode (SHA-256 of the current certificate), or null. */
  get certificateHash(): Buffer | null {
    return this.dev && this.cert ? this.cert.sha256 : null;
  }

  info(): WebTransportInfo {
    if (!this.endpoint) return { available: false, reason: this.reason || 'not started' };
    const out: WebTransportInfo = { available: true, url: this.url };
    const h = this.certificateHash;
    if (h) out.certificateHashes = [{ algorithm: 'sha-256', value: h.toString('base64') }];
    return out;
  }

  private route(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname !== WEBTRANSPORT_PATH || req.method !== 'GET') return false;
    const info = this.info();
    res.setHeader('Access-Control-Allow-Origin', '*');
    sendJson(res, info.available ? 200 : 503, info);
    return true;
  }

  private quicheConfig(q: Quiche): QuicheConfig {
    const o = this.options;
    const enc = (s: string) => new TextEncoder().encode(s);
    let certPem: string;
    let keyPem: string;
    if (this.dev) {
      this.cert = generateDevCertificate();
      certPem = this.cert.certPem;
      keyPem = this.cert.keyPem;
    } else {
      certPem = pem(o.cert);
      keyPem = pem(o.key);
      this.cert = { certPem, keyPem, sha256: certificateHash(certPem), notBefore: 0, notAfter: 0 };
    }
    const c = q.Config.withBoringSslCtx(false, false, null, [enc(keyPem)], [enc(certPem)], null);
    c.setApplicationProtos(['h3']);
    c.setMaxIdleTimeout(o.idleTimeoutMs);
    c.setMaxRecvUdpPayloadSize(1500);
    c.setMaxSendUdpPayloadSize(1350);
    c.setInitialMaxData(Math.max(o.streamWindowBytes * 2, 1 << 20));
    c.setInitialMaxStreamDataBidiLocal(o.streamWindowBytes);
    c.setInitialMaxStreamDataBidiRemote(o.streamWindowBytes);
    c.setInitialMaxStreamDataUni(16384);
    c.setInitialMaxStreamsBidi(o.maxStreamsPerConnection);
    // Control, QPACK encoder and decoder, and a few the peer may open and we refuse (GREASE).
    c.setInitialMaxStreamsUni(8);
    c.setMaxStreamWindow(o.streamWindowBytes);
    c.setMaxConnectionWindow(Math.max(o.streamWindowBytes * 2, 1 << 20));
    c.setDisableActiveMigration(true);
    c.enableDgram(true, 256, o.datagramQueueLength);
    return c;
  }

  async start(): Promise<void> {
    const q = await loadQuiche();
    if (!q) {
      this.reason = `QUIC binding unavailable (${quicheLoadError()}); install the optional dependency @matrixai/quic`;
      console.warn(`switchboard: WebTransport off: ${this.reason}`);
      return;
    }
    const o = this.options;
    const handler: ConnectionHandler = {
      onEstablished: (c) => this.h3(c).onEstablished(),
      onReadable: (c, id) => this.h3(c).readStream(id),
      onDatagram: (c, d) => {
        if (d.length <= o.maxDatagramBytes + 8) this.h3(c).onDatagram(d);
      },
      onDrained: (c, id) => this.h3(c).onDrained(id),
      onClosed: (c, info) => this.h3(c).onClosed(info),
    };
    this.endpoint = await QuicEndpoint.listen(
      q,
      this.quicheConfig(q),
      { host: o.host || this.node.options.host, port: o.port },
      { maxConnections: o.maxConnections, maxHandshakesPerIp: o.maxHandshakesPerIp, maxQueuedBytesPerConnection: o.maxConnectionBufferBytes, udpReceiveBufferBytes: o.udpReceiveBufferBytes },
      handler,
    );
    if (this.dev) {
      // Replace the certificate well before it expires; connections made with the old one go on.
      this.rotation = setInterval(() => {
        if (this.endpoint) this.endpoint.config = this.quicheConfig(q);
      }, o.certRotationHours * 3600_000);
      this.rotation.unref();
    }
  }

  private h3(c: QuicConn): H3Connection {
    let h = c.state as H3Connection | null;
    if (!h) {
      h = new H3Connection(c, { maxFieldSectionBytes: this.options.maxFieldSectionBytes, maxSessionsPerConnection: this.options.maxSessionsPerConnection, sessionStreamTimeoutMs: this.node.options.handshakeTimeout * 1000, readChunkBytes: 65536 }, {
        onConnect: (req) => this.onConnect(req, c),
        onSessionReady: (s) => this.onSessionReady(s),
      });
      c.state = h;
    }
    return h;
  }

  private originAllowed(origin: string | undefined, authority: string): boolean {
    if (origin === undefined) return true; // not a browser
    const allowed = this.node.options.allowedOrigins;
    if (allowed.includes('*') || allowed.includes(origin)) return true;
    if (allowed.length > 0) return false;
    // Same site as this node: the page came from its HTTP port (or from this very authority).
    try {
      const o = new URL(origin);
      const host = authority.replace(/:\d+$/, '');
      return o.host === authority || o.host === `${host}:${this.node.port}` || (o.hostname === host && o.port === String(this.node.port));
    } catch {
      return false;
    }
  }

  private onConnect(req: ConnectRequest, c: QuicConn): { status: number; message: string } | null {
    let url: URL;
    try {
      url = new URL(req.path, 'https://x');
    } catch {
      return { status: 400, message: 'bad path' };
    }
    if (url.pathname !== WEBTRANSPORT_PATH) return { status: 404, message: `no WebTransport endpoint here; use ${WEBTRANSPORT_PATH}` };
    const f = url.searchParams.get('format');
    if (f !== null && f !== 'json' && f !== 'msgpack') return { status: 400, message: 'format must be json or msgpack' };
    if (!this.originAllowed(req.origin, req.authority)) return { status: 403, message: 'origin not allowed' };
    const refusal = this.node.admit(c.remote.host);
    if (refusal) return { status: refusal.status, message: refusal.message };
    return null;
  }

  private onSessionReady(s: WtSession): void {
    const url = new URL(s.request.path, 'https://x');
    const format = url.searchParams.get('format') === 'msgpack' ? wtMsgpack : wtJson;
    const transport = new WebTransportTransport(s, format, this.node.options.maxMessageBytes, this.options.maxDatagramBytes);
    const session = new Session(this.node, transport);
    this.node.addSession(session);
    transport.attach(session);
  }

  async close(): Promise<void> {
    if (this.rotation) clearInterval(this.rotation);
    this.rotation = null;
    const e = this.endpoint;
    this.endpoint = null;
    await e?.close();
  }
}

/** Starts the listener described by the node's `webtransport` block; null when it is off. */
export async function startWebTransport(node: NodeCore): Promise<WebTransportServer | null> {
  const options = resolveWebTransportOptions(node.options.webtransport);
  if (!options) return null;
  const server = new WebTransportServer(node, options);
  await server.start();
  return server;
}
