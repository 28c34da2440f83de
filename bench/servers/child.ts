/**
 * The child-process side shared by every server entry: starts the server, reports its port (on
 * stdout and over IPC) and answers the orchestrator's requests for memory (after forced GC) and
 * CPU readings. Run with `--expose-gc`.
 */
import type { ServerReply, ServerRequest } from './messages.ts';

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

declare const gc: undefined | (() => void);

async function collect(): Promise<void> {
  if (typeof gc !== 'function') throw new Error('server child needs --expose-gc');
  // Several passes with turns in between so weak callbacks and finalizers run and free more.
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
}

function reply(msg: ServerReply): void {
  process.send?.(msg);
}

export async function serve(name: string, start: () => Promise<RunningServer>): Promise<void> {
  let server: RunningServer;
  try {
    server = await start();
  } catch (err) {
    console.error(`bench server ${name} failed to start:`, err);
    reply({ type: 'failed', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    process.exitCode = 1;
    process.disconnect?.();
    return;
  }
  console.log(`PORT ${server.port}`);
  reply({ type: 'ready', port: server.port, pid: process.pid });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Exit even if close() hangs on connections the load generator has not closed yet.
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    try {
      await server.close();
    } catch (err) {
      console.error(`bench server ${name}: close failed`, err);
    }
    process.exit(0); // process.exit (not a natural drain) so --cpu-prof writes its profile now
  };
  process.on('message', (msg: ServerRequest) => {
    switch (msg.type) {
      case 'memory':
        void collect().then(() => {
          const m = process.memoryUsage();
          reply({ type: 'memory', rss: m.rss, heapUsed: m.heapUsed, external: m.external });
        });
        return;
      case 'cpu': {
        const c = process.cpuUsage();
        reply({ type: 'cpu', cpuUs: c.user + c.system, sysUs: c.system });
        return;
      }
      case 'stop':
        void stop();
        return;
    }
  });
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
}
