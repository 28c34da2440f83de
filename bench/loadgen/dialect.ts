/**
 * What differs between the systems under test on the client side: the URL, the handshake after
 * the WebSocket upgrade, how a delivery, an ack and a heartbeat look on the wire, and how a publish
 * is encoded. Everything else (sockets, counting, timing) is shared, so the systems are measured
 * with the same instrument.
 */
export const SYSTEMS = ['switchboard', 'socketio', 'ws'] as const;
export type SystemName = (typeof SYSTEMS)[number];

/**
 * `subscriber`: handshake + join the bench channel/room; `idle`: handshake only (memory scenario);
 * `publisher`: handshake, then publishes and counts acks.
 */
export type Role = 'subscriber' | 'idle' | 'publisher';

export interface SessionHooks {
  /** Sends one text message on the connection. */
  send(text: string): void;
  /** The role's handshake is complete. */
  ready(): void;
  /** A delivery whose payload marker starts at `buf[markerAt]`. */
  delivery(buf: Buffer, markerAt: number): void;
  /** `n` publishes were acknowledged. */
  acked(n: number): void;
  /** Something the bench did not expect (error reply, disconnect push); the text says what. */
  problem(message: string): void;
}

/** The per-connection protocol state machine of one system. */
export interface Session {
  /** Called once right after the WebSocket upgrade. */
  open(): void;
  /** One text message from the server. Hot path: must not allocate for deliveries. */
  onText(buf: Buffer, start: number, end: number): void;
}

export interface Dialect {
  readonly system: SystemName;
  readonly path: string;
  readonly subprotocol?: string;
  session(role: Role, hooks: SessionHooks): Session;
  /** One publish command carrying `payload` (already JSON-safe ASCII) with ack id `id`. */
  publish(id: number, payload: string): string;
}
