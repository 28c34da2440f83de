/**
 * Load balancers for cluster tests, generated from the shipped configs in deploy/ (only the listen
 * port, the node addresses and the runtime paths are replaced, so the test exercises what ships),
 * run in the foreground, and killed with their temp dirs on `stop()` and on process exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { freePort, reachable } from './net.ts';
import { reapOnExit, removeDir, tempDir } from './reaper.ts';

const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url));

export function haveBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/**
 * deploy/haproxy.cfg listening on `port` with `nodePorts` as its servers; `balance` replaces its
 * `balance leastconn` (e.g. 'roundrobin': every request to the next node, no stickiness).
 */
export function renderHaproxy(port: number, nodePorts: number[], balance?: string): string {
  const src = readFileSync(join(deploy, 'haproxy.cfg'), 'utf8');
  const lines = src.split('\n');
  const firstServer = lines.findIndex((l) => /^\s*server node\d/.test(l));
  if (firstServer < 0 || !/bind "\$\{SWITCHBOARD_LB_BIND-127\.0\.0\.1:8000\}"/.test(src) || !/^\s*balance leastconn$/m.test(src)) throw new Error('deploy/haproxy.cfg no longer has the expected bind/server/balance lines');
  const kept = lines.filter((l) => !/^\s*server node\d/.test(l));
  const servers = nodePorts.map((p, i) => `    server node${i + 1} 127.0.0.1:${p} cookie node${i + 1}`);
  kept.splice(firstServer, 0, ...servers);
  const cfg = balance ? kept.join('\n').replace(/^(\s*)balance leastconn$/m, `$1balance ${balance}`) : kept.join('\n');
  return cfg.replace('bind "${SWITCHBOARD_LB_BIND-127.0.0.1:8000}"', `bind 127.0.0.1:${port}`).replace(/^\s*log stdout.*$/m, '');
}

/**
 * deploy/nginx.conf (a drop-in for the `http` context) inside a minimal full configuration, as
 * Debian's nginx.conf would include it: listening on `port` with `nodePorts` upstream, pid, logs
 * and temp files under `dir`.
 */
export function renderNginx(port: number, nodePorts: number[], dir: string): string {
  const src = readFileSync(join(deploy, 'nginx.conf'), 'utf8');
  if (!/listen 127\.0\.0\.1:8000;/.test(src) || /^\s*(events|http)\s*\{/m.test(src)) throw new Error('deploy/nginx.conf is no longer a drop-in with the expected listen line');
  const upstream = nodePorts.map((p) => `    server 127.0.0.1:${p} max_fails=2 fail_timeout=5s;`).join('\n');
  return nginxMain(dir, src.replace(/^(\s*server 127\.0\.0\.1:800\d .*\n)+/m, upstream + '\n').replace('listen 127.0.0.1:8000;', `listen 127.0.0.1:${port};\n        access_log off;`));
}

/** A minimal nginx main configuration with `httpBody` in its `http` context, state under `dir`. */
export function nginxMain(dir: string, httpBody: string): string {
  return (
    `pid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')} warn;\ndaemon off;\nworker_processes auto;\n` +
    `events {\n    worker_connections 20000;\n}\n` +
    `http {\n    client_body_temp_path ${dir}/body;\n    proxy_temp_path ${dir}/proxy;\n    fastcgi_temp_path ${dir}/fastcgi;\n    uwsgi_temp_path ${dir}/uwsgi;\n    scgi_temp_path ${dir}/scgi;\n${httpBody}}\n`
  );
}

export interface Balancer {
  port: number;
  wsUrl: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}


async function run(cmd: string, args: (cfg: string, dir: string) => string[], render: (port: number, dir: string) => string): Promise<Balancer> {
  const port = await freePort();
  const dir = tempDir(`sb-${cmd}-`);
  const cfg = join(dir, `${cmd}.conf`);
  writeFileSync(cfg, render(port, dir));
  const proc = spawn(cmd, args(cfg, dir), { stdio: ['ignore', 'ignore', 'pipe'] });
  // SIGTERM at exit too: see stop().
  reapOnExit(proc, 'SIGTERM');
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    // SIGTERM, not SIGKILL: nginx's master must live long enough to stop its workers (a killed
    // master leaves them running). SIGKILL only if it does not go within 3 s.
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    await exited;
    removeDir(dir);
  };
  const end = Date.now() + 10_000;
  while (!(await reachable('127.0.0.1', port, 200))) {
    if (proc.exitCode !== null || Date.now() > end) {
      await stop();
      throw new Error(`${cmd} did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { port, wsUrl: `ws://127.0.0.1:${port}/connection/websocket`, proc, stop };
}

export function startHaproxy(nodePorts: number[], balance?: string): Promise<Balancer> {
  return run('haproxy', (cfg) => ['-f', cfg, '-db'], (port) => renderHaproxy(port, nodePorts, balance));
}

export function startNginx(nodePorts: number[]): Promise<Balancer> {
  return run('nginx', (cfg, dir) => ['-c', cfg, '-p', dir], (port, dir) => renderNginx(port, nodePorts, dir));
}

/** Opens `n` raw WebSocket connections (`concurrency` at a time), each past the `connect` command. */
export async function openConnections(url: string, n: number, concurrency = 200): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  const one = () =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, ['switchboard.json'], { perMessageDeflate: false });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('connect timed out'));
      }, 10_000);
      ws.once('open', () => ws.send(JSON.stringify({ t: 'connect', id: 1 })));
      ws.on('message', (m) => {
        if (String(m).includes('"t":"ok"')) {
          clearTimeout(timer);
          resolve(ws);
        }
      });
      ws.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  for (let i = 0; i < n; i += concurrency) out.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, one))));
  return out;
}

/** The node's connected-client count from /healthz. */
export async function nodeConnections(httpUrl: string): Promise<number> {
  const res = await fetch(`${httpUrl}/healthz`);
  return ((await res.json()) as { connections: number }).connections;
}
