/**
 * Who is speaking, from the RFC 6464 audio level each Opus packet carries (−dBov, 0 loudest, 127
 * silence), in the manner of LiveKit's audio level observer: levels are observed over windows of
 * `windowMs`; a window counts as speech when at least `minActiveFraction` of its packets are at
 * or above `activeDbov` (no quieter than −35 dBov by default) — a cough or a click does not — and
 * its level is the mean linear amplitude of those packets. Reported levels are smoothed over
 * windows and fall to 0 within a window of silence or of no packets. Pure: time is passed in.
 */

export interface AudioLevelOptions {
  /** Quietest level (−dBov) that counts as speech. @default 35 */
  activeDbov: number;
  /** Share of a window's packets that must be speech. @default 0.4 */
  minActiveFraction: number;
  /** Observation window. @default 500 */
  windowMs: number;
  /** Weight of the newest window in the smoothed level (1: no smoothing). @default 0.5 */
  smoothing: number;
}

export const AUDIO_LEVEL_DEFAULTS: AudioLevelOptions = { activeDbov: 35, minActiveFraction: 0.4, windowMs: 500, smoothing: 0.5 };

/** Linear amplitude (0–1) of a level in −dBov. */
export function dbovToLinear(dbov: number): number {
  return Math.pow(10, -Math.min(127, Math.max(0, dbov)) / 20);
}

/** One audio stream's speech detector. */
export class AudioLevelMeter {
  private readonly o: AudioLevelOptions;
  private windowStart = -1;
  private packets = 0;
  private active = 0;
  private activeSum = 0;
  private smoothed = 0;
  /** Packets observed in total. */
  observed = 0;

  constructor(options: Partial<AudioLevelOptions> = {}) {
    this.o = { ...AUDIO_LEVEL_DEFAULTS, ...options };
  }

  /** One packet's level (−dBov, 0–127; other values are ignored) at `now` (ms). */
  observe(dbov: number, now: number): void {
    if (!Number.isInteger(dbov) || dbov < 0 || dbov > 127) return;
    this.roll(now);
    this.observed++;
    this.packets++;
    if (dbov <= this.o.activeDbov) {
      this.active++;
      this.activeSum += dbovToLinear(dbov);
    }
  }

  /** The smoothed speech level at `now`: 0 (not speaking) to 1 (full scale). */
  level(now: number): number {
    this.roll(now);
    return this.smoothed;
  }

  /** Closes the windows that ended before `now`; a window with nothing in it counts as silence. */
  private roll(now: number): void {
    if (this.windowStart < 0) {
      this.windowStart = now;
      return;
    }
    if (now - this.windowStart < this.o.windowMs) return;
    const speech = this.packets > 0 && this.active >= this.o.minActiveFraction * this.packets;
    const level = speech ? this.activeSum / this.active : 0;
    // Silence ends speech at once (a speaker list must not linger); speech is smoothed in.
    this.smoothed = level === 0 ? 0 : this.smoothed === 0 ? level : this.o.smoothing * level + (1 - this.o.smoothing) * this.smoothed;
    this.packets = this.active = 0;
    this.activeSum = 0;
    this.windowStart += this.o.windowMs;
    // Whole windows since then had no packets: silence, skipped in one step.
    if (now - this.windowStart >= this.o.windowMs) {
      this.smoothed = 0;
      this.windowStart += Math.floor((now - this.windowStart) / this.o.windowMs) * this.o.windowMs;
    }
  }
}

/** One entry of a room's speaker list. */
export interface Speaker {
  user: string;
  client: string;
  level: number;
}

/**
 * Whether two speaker lists differ enough to tell the room: another set or order of speakers,
 * or a level that moved by more than `levelStep`.
 */
export function speakersChanged(prev: readonly Speaker[], next: readonly Speaker[], levelStep = 0.1): boolean {
  if (prev.length !== next.length) return true;
  for (let i = 0; i < prev.length; i++) {
    if (prev[i]!.client !== next[i]!.client) return true;
    if (Math.abs(prev[i]!.level - next[i]!.level) > levelStep) return true;
  }
  return false;
}
