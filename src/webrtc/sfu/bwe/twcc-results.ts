/**
 * Turns one decoded transport-wide CC feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
 * §3.1) into the per-packet results {@link SendSideBwe.onFeedback} takes. Structural input, so any
 * decoder with these fields fits (rtcp/twcc.ts's TransportCcFeedback does).
 */
import type { PacketFeedback } from './types.ts';

/** The fields of a TWCC feedback this needs. */
export interface TwccLike {
  /** Transport sequence number of the first status (16-bit). */
  baseSeq: number;
  /** 24-bit reference time in 64 ms units. */
  referenceTime: number;
  /** Per packet from baseSeq: 0 not received, 1 small delta, 2 large delta. */
  status: ArrayLike<number>;
  /** Receive deltas in 250 µs ticks, one per received packet, in order. */
  deltas: ArrayLike<number>;
}

/**
 * Per-packet results: arrival = reference time × 64 ms + running sum of deltas (receiver clock,
 * its offset is irrelevant to the estimator, which only uses differences). Sequence numbers are
 * 16-bit, as the sender's `onSent` must record them. A status with no delta left (a malformed
 * report) ends the list.
 */
export function twccToFeedback(fb: TwccLike): PacketFeedback[] {
  const out: PacketFeedback[] = [];
  let t = fb.referenceTime * 64;
  let d = 0;
  for (let i = 0; i < fb.status.length; i++) {
    const seq = (fb.baseSeq + i) & 0xffff;
    const st = fb.status[i];
    if (st === 0) {
      out.push({ transportSeq: seq, arrivalMs: null });
      continue;
    }
    const delta = fb.deltas[d++];
    if (delta === undefined) break;
    t += delta / 4;
    out.push({ transportSeq: seq, arrivalMs: t });
  }
  return out;
}
