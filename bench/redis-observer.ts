/**
 * The orchestrator's view of the Redis the cross-node scenario runs on: counter readings around a
 * phase and a MONITOR sample (bench/redis-stats.ts explains why both). Never RESETSTATs, so tests
 * that read the same counters on a shared Redis are not disturbed.
 */
import { Redis } from 'ioredis';
import { parseSnapshot, tallyMonitor, type MonitorTally, type RedisSnapshot } from './redis-stats.ts';

export class RedisObserver {
  private constructor(
    private readonly url: string,
    private readonly admin: Redis,
  ) {}

  /** Connects and checks that Redis answers (fails fast with the URL in the message). */
  static async open(url: string): Promise<RedisObserver> {
    const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectionName: 'bench-observer' });
    try {
      await admin.connect();
      await admin.ping();
    } catch (err) {
      admin.disconnect();
      throw new Error(`Redis at ${url} is not reachable (${err instanceof Error ? err.message : String(err)}); start one or pass --redis URL`, { cause: err });
    }
    return new RedisObserver(url, admin);
  }

  /** One INFO call with every section needed (one call, so the observer adds one `info` per reading). */
  async snapshot(): Promise<RedisSnapshot> {
    return parseSnapshot(String(await this.admin.call('INFO', 'commandstats', 'stats', 'cpu', 'clients')));
  }

  /**
   * Runs `publish` (which returns how many publications it made) with MONITOR on, and tallies
   * what Redis executed meanwhile by origin. Waits `settleMs` after it for the feed to catch up.
   */
  async monitorSample(publish: () => Promise<number>, settleMs = 300): Promise<{ tally: MonitorTally; publications: number }> {
    const monitorConn = new Redis(this.url, { maxRetriesPerRequest: 1, connectionName: 'bench-monitor' });
    const entries: Array<{ source: string; command: string }> = [];
    try {
      const monitor = await monitorConn.monitor();
      monitor.on('monitor', (_time: string, args: unknown[], source: string) => {
        entries.push({ source, command: String(args[0] ?? '') });
      });
      const publications = await publish();
      await new Promise((r) => setTimeout(r, settleMs));
      monitor.disconnect();
      return { tally: tallyMonitor(entries), publications };
    } finally {
      monitorConn.disconnect();
    }
  }

  close(): void {
    this.admin.disconnect();
  }
}
