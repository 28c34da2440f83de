/**
 * The QUIC binding: `@matrixai/quic` (quiche 0.18 + BoringSSL through napi), an optional
 * dependency. Only its native layer is used — quiche's sans-I/O Connection — because the
 * package's own server hides datagrams and owns the UDP socket; endpoint.ts does the I/O. The
 * types below are the subset we call, declared here so the project type-checks (and runs) on a
 * machine where the optional package is absent.
 */

export interface HostPort {
  host: string;
  port: number;
}

export interface QuicheConfig {
  setApplicationProtos(protos: string[]): void;
  setMaxIdleTimeout(ms: number): void;
  setMaxRecvUdpPayloadSize(n: number): void;
  setMaxSendUdpPayloadSize(n: number): void;
  setInitialMaxData(n: number): void;
  setInitialMaxStreamDataBidiLocal(n: number): void;
  setInitialMaxStreamDataBidiRemote(n: number): void;
  setInitialMaxStreamDataUni(n: number): void;
  setInitialMaxStreamsBidi(n: number): void;
  setInitialMaxStreamsUni(n: number): void;
  setDisableActiveMigration(v: boolean): void;
  enableDgram(enabled: boolean, recvQueueLen: number, sendQueueLen: number): void;
  setMaxStreamWindow(n: number): void;
  setMaxConnectionWindow(n: number): void;
  verifyPeer(v: boolean): void;
  grease(v: boolean): void;
}

export interface QuicheConnection {
  recv(data: Uint8Array, info: { from: HostPort; to: HostPort }): number;
  send(out: Uint8Array): [number, { from: HostPort; to: HostPort }] | null;
  streamRecv(id: number, out: Uint8Array): [number, boolean] | null;
  streamSend(id: number, data: Uint8Array, fin: boolean): number | null;
  streamShutdown(id: number, direction: number, err: number): void | null;
  streamCapacity(id: number): number;
  streamFinished(id: number): boolean;
  readable(): Iterable<number>;
  /** Whether any stream is readable or a DATAGRAM is queued (one crossing; readable() costs far more). */
  isReadable(): boolean;
  writable(): Iterable<number>;
  dgramRecvVec(): Uint8Array | null;
  dgramSend(data: Uint8Array): void | null;
  dgramMaxWritableLen(): number | null;
  dgramSendQueueLen(): number;
  isDgramSendQueueFull(): boolean;
  timeout(): number | null;
  onTimeout(): void;
  close(app: boolean, err: number, reason: Uint8Array): void | null;
  isEstablished(): boolean;
  isClosed(): boolean;
  isDraining(): boolean;
  isTimedOut(): boolean;
  peerError(): { isApp: boolean; errorCode: number; reason: Uint8Array } | null;
  localError(): { isApp: boolean; errorCode: number; reason: Uint8Array } | null;
  applicationProto(): Uint8Array;
  /** DER certificates the peer presented, leaf first. */
  peerCertChain(): Uint8Array[] | null;
  stats(): { sent: number; recv: number; lost: number; sentBytes: number; recvBytes: number };
}

export interface Quiche {
  MAX_CONN_ID_LEN: number;
  MIN_CLIENT_INITIAL_LEN: number;
  MAX_DATAGRAM_SIZE: number;
  Shutdown: { Read: number; Write: number };
  Type: { Initial: number; Short: number };
  negotiateVersion(scid: Uint8Array, dcid: Uint8Array, out: Uint8Array): number;
  versionIsSupported(version: number): boolean;
  Config: {
    new (): QuicheConfig;
    withBoringSslCtx(verifyPeer: boolean, verifyAllowFail: boolean, ca?: Uint8Array | null, key?: Uint8Array[] | null, cert?: Uint8Array[] | null, sigalgs?: string | null): QuicheConfig;
  };
  Connection: {
    accept(scid: Uint8Array, odcid: Uint8Array | null, local: HostPort, remote: HostPort, config: QuicheConfig): QuicheConnection;
    connect(serverName: string | null, scid: Uint8Array, local: HostPort, remote: HostPort, config: QuicheConfig): QuicheConnection;
  };
  Header: { fromSlice(data: Uint8Array, dcidLen: number): { ty: number; version: number; dcid: Uint8Array; scid: Uint8Array } };
}

let loaded: Promise<Quiche | null> | null = null;
let loadError = '';

/**
 * The binding, or null when the optional package (or its prebuilt binary for this platform) is
 * missing. Loaded once, on first use: a node without WebTransport configured never loads it.
 */
export function loadQuiche(): Promise<Quiche | null> {
  loaded ??= (async () => {
    try {
      const name = '@matrixai/quic';
      // A variable specifier: bundlers and tsc must not require the optional package.
      const m = (await import(name)) as { native?: { quiche?: Quiche } };
      const q = m.native?.quiche;
      if (!q?.Connection) throw new Error('@matrixai/quic has no native quiche binding');
      return q;
    } catch (err) {
      loadError = err instanceof Error ? err.message : String(err);
      return null;
    }
  })();
  return loaded;
}

/** Why loadQuiche() returned null ('' when it did not). */
export function quicheLoadError(): string {
  return loadError;
}

/** quiche reports stream errors as exceptions whose message names the QUIC error and code. */
export function streamErrorCode(err: unknown, kind: 'StreamReset' | 'StreamStopped'): number | null {
  const m = err instanceof Error ? new RegExp(`${kind}\\((\\d{1,16})\\)`).exec(err.message) : null;
  return m ? Number(m[1]) : null;
}
