/**
 * The client's heartbeat watchdog (docs/protocol.md "Heartbeat"): a connection is dead when
 * NOTHING arrived for `ping + pong` seconds.
 *
 * Why not re-arm a timer per message: at tens of thousands of messages per second that is a timer
 * cancel + create each time. Messages only stamp `touch()`; the timer re-arms itself for the
 * remaining time when it fires early.
 */
import type { Clock, TimerHandle } from '../util/clock.ts';

export class Watchdog {
  private timer: TimerHandle | undefined;
  private last = 0;
  private limit = 0;

  constructor(private readonly clock: Clock) {}

  /** Starts watching: `onDead` runs once if nothing is touched for `deadAfterMs` (0 = never). */
  start(deadAfterMs: number, onDead: () => void): void {
    this.stop();
    if (deadAfterMs <= 0) return;
    this.limit = deadAfterMs;
    this.last = this.clock.now();
    const check = (): void => {
      const idle = this.clock.now() - this.last;
      if (idle >= this.limit) {
        this.timer = undefined;
        onDead();
        return;
      }
      this.timer = this.clock.setTimeout(check, this.limit - idle);
    };
    this.timer = this.clock.setTimeout(check, deadAfterMs);
  }

  /** Something arrived. */
  touch(): void {
    this.last = this.clock.now();
  }

  stop(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
