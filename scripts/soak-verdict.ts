/** The soak's loss verdict (scripts/soak.ts), kept apart so it can be unit-tested. */

export interface GapRecord {
  epoch: string;
  /** Reported range in `epoch`, inclusive; absent when the report named none. */
  from?: number;
  to?: number;
  /** The subscriber's epoch before this report differed (or it had none): a stream reset. */
  epochChange: boolean;
  /** When the report arrived (ms). */
  at: number;
}

/**
 * Whether a gap report accounts for a publication the subscriber never got. A range covers its own
 * offsets of its epoch. A stream reset (the report's epoch differs from the subscriber's previous
 * one) also covers every publication of *another* epoch that was sent before the report: those were
 * stored in a stream that no longer exists, and the protocol cannot name the tail of a lost stream.
 * Nothing else is covered: a publication of the new epoch outside the reported range, or of an old
 * epoch sent after the report, missing is a silent loss.
 */
export function covered(gaps: readonly GapRecord[], epoch: string, offset: number, sentAt: number): boolean {
  return gaps.some((g) => (g.epoch === epoch && g.from !== undefined && offset >= g.from && offset <= (g.to ?? Number.MAX_SAFE_INTEGER)) || (g.epochChange && g.epoch !== epoch && sentAt <= g.at));
}
