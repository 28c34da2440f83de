/** Counters a TurnServer keeps for metrics export. Plain numbers; the exporter reads a snapshot. */
export interface TurnMetrics {
  /** Allocations alive now. */
  allocationsActive: number;
  /** Allocations ever created. */
  allocationsTotal: number;
  /** Allocations that ended by lifetime expiry (not Refresh 0 or connection close). */
  allocationsExpired: number;
  /** Allocate requests refused with 486 (user or total quota). */
  quotaRejections: number;
  /** Packets and payload bytes relayed client -> peer. */
  packetsToPeers: number;
  bytesToPeers: number;
  /** Packets and payload bytes relayed peer -> client. */
  packetsFromPeers: number;
  bytesFromPeers: number;
  /** Requests that failed authentication (bad integrity, unknown or expired user); not first challenges. */
  authFailures: number;
  /** 438 Stale Nonce answers. */
  staleNonces: number;
  /** Binding requests answered. */
  bindingRequests: number;
  /** Peer relaying refused by the peer policy (403 answered, or a Send dropped). */
  peerDenied: number;
  /** Packets dropped: no permission / no channel / over bandwidth / undecodable / TCP queue full. */
  droppedNoPermission: number;
  droppedBandwidth: number;
  droppedMalformed: number;
  droppedBackpressure: number;
  /** Unauthenticated UDP answers (challenges, Binding, early errors) not sent: over unauthenticatedRate for their source. */
  droppedUnauthenticatedRate: number;
  /** TCP client connections open now. */
  tcpConnections: number;
  /** TCP connections closed because a response did not fit the write-buffer limit (the client stopped reading). */
  tcpOverflowCloses: number;
}

export function emptyMetrics(): TurnMetrics {
  return {
    allocationsActive: 0,
    allocationsTotal: 0,
    allocationsExpired: 0,
    quotaRejections: 0,
    packetsToPeers: 0,
    bytesToPeers: 0,
    packetsFromPeers: 0,
    bytesFromPeers: 0,
    authFailures: 0,
    staleNonces: 0,
    bindingRequests: 0,
    peerDenied: 0,
    droppedNoPermission: 0,
    droppedBandwidth: 0,
    droppedMalformed: 0,
    droppedBackpressure: 0,
    droppedUnauthenticatedRate: 0,
    tcpConnections: 0,
    tcpOverflowCloses: 0,
  };
}
