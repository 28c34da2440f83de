/**
 * The SDK's default {@link Clock}: plain platform timers, safe in browsers.
 *
 * Why not `systemClock` from src/util/clock.ts: it calls `unref()` on every timer, which throws in
 * browsers (timers are numbers there), and an SDK's reconnect timer SHOULD keep a Node process
 * alive — a script whose only job is to stay subscribed must not exit during a backoff. The Client
 * clears every timer in `disconnect()` / `close()`, so nothing dangles.
 */
import type { Clock, TimerHandle } from '../util/clock.ts';

type PlatformTimer = ReturnType<typeof globalThis.setTimeout>;

export const platformClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout(h) {
    if (h !== undefined) globalThis.clearTimeout(h as unknown as PlatformTimer);
  },
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms) as unknown as TimerHandle,
  clearInterval(h) {
    if (h !== undefined) globalThis.clearInterval(h as unknown as PlatformTimer);
  },
};
