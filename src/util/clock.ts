/**
 * The time source every timer owner takes (heartbeat, presence TTL, backoff, TURN lifetimes), so
 * timing logic is tested by advancing a {@link ManualClock} instead of sleeping.
 */
export interface TimerHandle {
  /** Keeps the process from exiting while the timer is pending; background timers call unref(). */
  unref?(): unknown;
}

export interface Clock {
  /** Milliseconds since the epoch (wall clock for real clocks). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

/**
 * The process clock for servers. Timers it makes are unref()ed where the platform has unref
 * (Node): a server's background timers must not keep a stopping process alive. Browser timers
 * are plain numbers and are returned as they are.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms) as unknown as TimerHandle;
    t.unref?.();
    return t;
  },
  clearTimeout(h) {
    if (h !== undefined) clearTimeout(h as Parameters<typeof clearTimeout>[0]);
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms) as unknown as TimerHandle;
    t.unref?.();
    return t;
  },
  clearInterval(h) {
    if (h !== undefined) clearInterval(h as Parameters<typeof clearInterval>[0]);
  },
};

interface ManualTimer extends TimerHandle {
  at: number;
  every: number;
  fn: () => void;
  cancelled: boolean;
  seq: number;
}

/** A clock that only moves when told to. For unit tests of pure timing logic. */
export class ManualClock implements Clock {
  private current: number;
  private timers: ManualTimer[] = [];
  private seq = 0;

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, 0);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(h: TimerHandle | undefined): void {
    if (h) (h as ManualTimer).cancelled = true;
  }

  clearInterval(h: TimerHandle | undefined): void {
    this.clearTimeout(h);
  }

  /** Moves time forward by `ms`, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => !t.cancelled && t.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.current = Math.max(this.current, due.at);
      if (due.every > 0) due.at += due.every;
      else due.cancelled = true;
      due.fn();
    }
    this.current = end;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  private add(fn: () => void, ms: number, every: number): TimerHandle {
    const t: ManualTimer = { at: this.current + Math.max(0, ms), every, fn, cancelled: false, seq: this.seq++ };
    this.timers.push(t);
    return t;
  }
}
