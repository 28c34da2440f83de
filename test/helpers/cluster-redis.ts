/**
 * Redis instances for tests: the shared one at 127.0.0.1:6379 (SWITCHBOARD_TEST_REDIS_URL), and
 * throwaway `redis-server` processes on free ports (temp dir, no persistence unless the extra
 * arguments turn it on), killed and removed by `stop()` and on process exit even when a test fails.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { freePort, reachable } from './net.ts';
import { reapOnExit, removeDir, tempDir } from './reaper.ts';
import { join } from 'node:path';

export { freePort, reachable };

export const SHARED_REDIS_URL = process.env.SWITCHBOARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Whether a backend test may run: true when reachable; false (the caller skips) when not and not
 * in CI; throws in CI, where the service must be there, so a missing service fails loudly.
 */
export async function requireService(what: string, host: string, port: number): Promise<boolean> {
  if (await reachable(host, port)) return true;
  if (process.env.CI === 'true') throw new Error(`${what} is not reachable at ${host}:${port}, and CI=true: the service must be running`);
  return false;
}


export interface RedisProcess {
  port: number;
  url: string;
  dir: string;
  proc: ChildProcess;
  /** SIGKILL (or another signal) and wait for exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts the server again on the same port and dir (after kill): empty without persistence; with
   * `--appendonly yes` among the extra arguments it loads what it had written.
   */
  restart(): Promise<void>;
  /** Kills the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on a free port in a temp dir, with no persistence unless `extraArgs` turn it
 * on (later arguments override the defaults, e.g. `['--appendonly', 'yes', '--appendfsync', 'always']`).
 */
export async function startRedis(extraArgs: string[] = [], port?: number): Promise<RedisProcess> {
  const p = port ?? (await freePort(extraArgs.includes('--cluster-enabled')));
  const dir = tempDir('sb-redis-');
  const launch = async (): Promise<ChildProcess> => {
    const proc = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', join(dir, 'redis.log'), ...extraArgs], { stdio: 'ignore' });
    reapOnExit(proc);
    const end = Date.now() + 5000;
    while (!(await reachable('127.0.0.1', p, 200))) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`redis-server on port ${p} did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return proc;
  };
  const rp: RedisProcess = {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    dir,
    proc: await launch(),
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      const proc = rp.proc;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    },
    async restart() {
      await rp.kill();
      rp.proc = await launch();
    },
    async stop() {
      await rp.kill();
      removeDir(dir);
    },
  };
  return rp;
}

export interface RedisClusterProcess {
  nodes: RedisProcess[];
  /** Seed addresses (`127.0.0.1:port`). */
  seeds: string[];
  stop(): Promise<void>;
}

/** Starts `masters` cluster-enabled servers and joins them with `redis-cli --cluster create`. */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  const nodes: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']));
    }
    const seeds = nodes.map((n) => `127.0.0.1:${n.port}`);
    execFileSync('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore', timeout: 20_000 });
    // Wait until every node agrees the cluster is ok.
    const end = Date.now() + 15_000;
    for (const n of nodes) {
      while (!execFileSync('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).includes('cluster_state:ok')) {
        if (Date.now() > end) throw new Error('redis cluster did not become ok');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return { nodes, seeds, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Deletes every key under `prefix:` (test clean-up on the shared Redis). */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
