/**
 * Input types of the send-side bandwidth estimator. They are structural on purpose: the TWCC
 * decoder (rtcp/twcc.ts) and the pacer produce them without this folder importing either.
 */

/** One transport-wide sequence number's fate, as a TWCC feedback reports it. */
export interface PacketFeedback {
  /** Transport-wide sequence number (unwrapped or 16-bit; only used as a key into the send history). */
  transportSeq: number;
  /** Receive time in ms on the receiver's clock (any offset), or null when reported lost. */
  arrivalMs: number | null;
}

/** A packet the sender put on the wire, with what the feedback lacks (size, send time). */
export interface SentPacket {
  transportSeq: number;
  /** Bytes on the wire (RTP header + payload + padding). */
  size: number;
  /** Send time in ms on the sender's clock. */
  sendMs: number;
  /** Set on packets sent as part of a probe cluster. */
  probeClusterId?: number;
}

/** A feedback result joined with its send record. */
export interface PacketResult extends SentPacket {
  arrivalMs: number | null;
}

/** Overuse detector verdict (GCC §5.4). */
export type BandwidthUsage = 'normal' | 'overusing' | 'underusing';
