/**
 * Reconnect delays: exponential backoff with FULL jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): the delay is uniform in [0, min(maxDelay, minDelay · 2^attempt)].
 *
 * Why full jitter rather than "delay ± 10 %": after a node restarts, thousands of clients drop at
 * the same instant; full jitter spreads their reconnects over the whole window, so the node sees a
 * flat line instead of synchronized waves. A server-advised `delay` (disconnect frame) is a floor.
 */

export interface BackoffOptions {
  /** Upper bound of the first window, ms. @default 500 */
  minDelay: number;
  /** Largest window, ms. @default 20000 */
  maxDelay: number;
}

/** Window upper bound for `attempt` (0-based): `min(maxDelay, minDelay · 2^attempt)`. */
export function backoffCap(attempt: number, opts: BackoffOptions): number {
  const exp = Math.min(attempt, 30); // 2^30 · minDelay already exceeds any sane maxDelay
  return Math.min(opts.maxDelay, opts.minDelay * 2 ** exp);
}

/**
 * Delay before reconnect attempt `attempt` (0 for the first), in whole ms.
 * @param random a source of uniform numbers in [0, 1) (`Math.random`; injected by tests)
 * @param advised server-advised minimum delay (the disconnect frame's `delay`), ms
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random, advised = 0): number {
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = Math.floor(r * backoffCap(attempt, opts));
  return Math.max(jittered, Math.max(0, advised));
}
