/**
 * Plain counters on the hot path (a number increment, no label lookup); the metrics module reads
 * them at scrape time.
 */
export class Stats {
  messagesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  bytesOut = 0;
  publishes = 0;
  slowDisconnects = 0;
  conflated = 0;
  recoveries = 0;
  recoveryGaps = 0;
  connectionsTotal = 0;
  readonly commands = new Map<string, number>();
  readonly errors = new Map<number, number>();
  readonly disconnects = new Map<number, number>();
  /** Connection lifetimes in seconds, observed on close; drained by the metrics module. */
  durations: number[] = [];

  count(map: Map<string | number, number>, key: string | number): void {
    (map as Map<string | number, number>).set(key, (map.get(key) ?? 0) + 1);
  }
}
