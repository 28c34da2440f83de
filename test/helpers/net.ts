/** Loopback TCP helpers with no side effects (shared by tests, the soak and the bench). */
import { connect, createServer } from 'node:net';

/** True when something accepts TCP at host:port within `ms`. */
export async function reachable(host: string, port: number, ms = 1000, attempts = 3): Promise<boolean> {
  // Several tries: a file whose other tests block the event loop (execFileSync, a long compile)
  // can run this timer before the connect callback, so one timeout alone is no proof of absence.
  for (let i = 0; i < attempts; i++) {
    if (await reachableOnce(host, port, ms)) return true;
  }
  return false;
}

function reachableOnce(host: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** A free TCP port on loopback (and port+10000 free too, for Redis Cluster's bus port). */
export async function freePort(withBus = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    if (!withBus) return port;
    if (port + 10000 < 65536 && !(await reachable('127.0.0.1', port + 10000, 200))) return port;
  }
  throw new Error('no free port found');
}
