/**
 * The `webtransport` config block. Off unless `port` is set. Without `cert` and `key` the
 * transport runs in dev mode: a self-signed ECDSA P-256 certificate valid 10 days, replaced every
 * `certRotationHours`, its SHA-256 handed to clients for `serverCertificateHashes`.
 */
import { ConfigError } from '../../util/errors.ts';

export interface WebTransportOptions {
  /** UDP port (0: a free one). Required to turn the transport on. */
  port: number;
  /** UDP listen address. @default the node's `host` */
  host: string;
  /** PEM certificate chain, or a path to one. Absent with `key`: dev mode (self-signed). @default '' */
  cert: string;
  /** PEM private key, or a path to one. @default '' */
  key: string;
  /** Dev mode: hours between certificate replacements (each valid 10 days; browsers allow ≤ 14). @default 72 */
  certRotationHours: number;
  /** Public URL host for the `https://host:port/…` URL handed to clients. @default the HTTP URL's host */
  publicHost: string;
  /** QUIC connections at once. @default 10000 */
  maxConnections: number;
  /** Connections still in the handshake per source address. @default 32 */
  maxHandshakesPerIp: number;
  /** WebTransport sessions per QUIC connection. @default 1 */
  maxSessionsPerConnection: number;
  /** Client bidirectional streams per connection (CONNECT + session stream + spare). @default 8 */
  maxStreamsPerConnection: number;
  /** Bytes queued per connection beyond what QUIC flow control takes. @default 4194304 */
  maxConnectionBufferBytes: number;
  /** Per-stream receive window (bytes the peer may send ahead of our reads). @default 262144 */
  streamWindowBytes: number;
  /** Largest HEADERS / SETTINGS / capsule accepted. @default 16384 */
  maxFieldSectionBytes: number;
  /** Largest datagram payload sent or received. @default 1200 */
  maxDatagramBytes: number;
  /**
   * Datagrams queued per connection for sending (quiche's send queue). A lossy publication that
   * finds it full is dropped and counted in `switchboard_datagrams_dropped_total`. @default 256
   */
  datagramQueueLength: number;
  /** QUIC idle timeout in ms (heartbeats keep live sessions busier than this). @default 30000 */
  idleTimeoutMs: number;
  /** UDP receive buffer requested from the kernel (datagrams are dropped below ~4 MiB under load). @default 4194304 */
  udpReceiveBufferBytes: number;
}

export function defaultWebTransportOptions(): WebTransportOptions {
  return {
    port: -1,
    host: '',
    cert: '',
    key: '',
    certRotationHours: 72,
    publicHost: '',
    maxConnections: 10000,
    maxHandshakesPerIp: 32,
    maxSessionsPerConnection: 1,
    maxStreamsPerConnection: 8,
    maxConnectionBufferBytes: 4 << 20,
    streamWindowBytes: 256 << 10,
    maxFieldSectionBytes: 16384,
    maxDatagramBytes: 1200,
    datagramQueueLength: 256,
    idleTimeoutMs: 30000,
    udpReceiveBufferBytes: 4 << 20,
  };
}

/** Validates the block; null when the transport is off (no `port`). Throws ConfigError naming the field. */
export function resolveWebTransportOptions(input: Record<string, unknown>): WebTransportOptions | null {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError('option "webtransport" must be an object');
  const d = defaultWebTransportOptions();
  const out = { ...d };
  for (const [k, v] of Object.entries(input)) {
    if (!Object.hasOwn(d, k)) throw new ConfigError(`unknown option "webtransport.${k}"`);
    if (v === undefined) continue;
    const like = (d as unknown as Record<string, unknown>)[k];
    if (typeof v !== typeof like) throw new ConfigError(`option "webtransport.${k}" must be a ${typeof like}, got ${JSON.stringify(v)}`);
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0)) throw new ConfigError(`option "webtransport.${k}" must be a non-negative integer, got ${v}`);
    (out as unknown as Record<string, unknown>)[k] = v;
  }
  if (!Object.hasOwn(input, 'port')) {
    if (Object.keys(input).length > 0) throw new ConfigError('option "webtransport.port" is required to turn WebTransport on');
    return null;
  }
  if (out.port > 65535) throw new ConfigError('option "webtransport.port" must be 0–65535');
  if ((out.cert === '') !== (out.key === '')) throw new ConfigError('options "webtransport.cert" and "webtransport.key" go together (neither: dev certificate)');
  if (out.certRotationHours < 1 || out.certRotationHours > 13 * 24) throw new ConfigError('option "webtransport.certRotationHours" must be 1–312 (certificates live 10 days)');
  if (out.maxDatagramBytes < 64 || out.maxDatagramBytes > 65527) throw new ConfigError('option "webtransport.maxDatagramBytes" must be 64–65527');
  if (out.datagramQueueLength < 1 || out.datagramQueueLength > 65536) throw new ConfigError('option "webtransport.datagramQueueLength" must be 1–65536');
  if (out.maxStreamsPerConnection < 2) throw new ConfigError('option "webtransport.maxStreamsPerConnection" must be >= 2 (CONNECT + session stream)');
  return out;
}
