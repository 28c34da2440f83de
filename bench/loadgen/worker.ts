/**
 * Subscriber worker process (forked by the orchestrator): holds many raw WebSocket (or raw HTTP:
 * SSE, long polling) clients of one system, counts deliveries and, when asked, records
 * publish→deliver latency from the timestamp in each payload. Exits when the parent says `close` or disappears.
 */
import { openClient } from './client.ts';
import { dialects } from './dialects/index.ts';
import { Histogram } from './histogram.ts';
import type { FromWorker, ToWorker } from './messages.ts';
import { nowMicros, readSentMicros } from './payload.ts';
import { openHttpClient, type Closable } from './http/subscriber.ts';

const MAX_PROBLEMS = 5;
const clients: Closable[] = [];
let delivered = 0;
let firstUs = 0;
let lastUs = 0;
let chunkUs = 0;
let measuring = false;
let latency = false;
let hist = new Histogram();
let lost = 0;
let problems: string[] = [];
let cpuStart = process.cpuUsage();
let wallStart = nowMicros();
let progressTimer: NodeJS.Timeout | undefined;

function send(msg: FromWorker): void {
  process.send?.(msg);
}

function problem(message: string): void {
  if (problems.length < MAX_PROBLEMS) problems.push(message);
}

const hooks = {
  onChunk(): void {
    chunkUs = nowMicros();
  },
  delivery(buf: Buffer, markerAt: number): void {
    if (!measuring) return;
    delivered++;
    if (firstUs === 0) firstUs = chunkUs;
    lastUs = chunkUs;
    if (latency) {
      const sent = readSentMicros(buf, markerAt);
      if (sent >= 0) hist.record(chunkUs - sent);
      else problem('payload timestamp cut short');
    }
  },
  problem,
  lost(reason: string): void {
    lost++;
    problem(`connection lost: ${reason}`);
  },
};

async function openAll(msg: Extract<ToWorker, { type: 'open' }>): Promise<void> {
  const dialect = dialects[msg.system];
  const target = { host: msg.host, port: msg.port, ...(msg.localAddress ? { localAddress: msg.localAddress } : {}) };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < msg.count) {
      next++;
      const transport = msg.transport ?? 'websocket';
      clients.push(transport === 'websocket' ? await openClient(dialect, msg.role, target, hooks) : await openHttpClient(dialect, transport, msg.role, target, hooks));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(msg.concurrency, msg.count) }, lane));
    send({ type: 'opened', opened: clients.length });
  } catch (err) {
    send({ type: 'opened', opened: clients.length, error: err instanceof Error ? err.message : String(err) });
  }
}

function startMeasure(msg: Extract<ToWorker, { type: 'measure' }>): void {
  delivered = 0;
  firstUs = lastUs = 0;
  hist = new Histogram();
  latency = msg.latency;
  measuring = true;
  cpuStart = process.cpuUsage();
  wallStart = nowMicros();
  clearInterval(progressTimer);
  progressTimer = setInterval(() => send({ type: 'progress', delivered }), msg.progressMs);
}

function report(): void {
  clearInterval(progressTimer);
  measuring = false;
  const cpu = process.cpuUsage(cpuStart);
  send({
    type: 'report',
    delivered,
    firstUs,
    lastUs,
    latency: hist.toPairs(),
    lost,
    problems,
    cpuUs: cpu.user + cpu.system,
    sysUs: cpu.system,
    wallUs: nowMicros() - wallStart,
  });
  problems = [];
}

process.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'open':
      void openAll(msg);
      return;
    case 'measure':
      startMeasure(msg);
      return;
    case 'report':
      report();
      return;
    case 'close':
      clearInterval(progressTimer);
      for (const c of clients) c.close();
      process.disconnect?.();
      setTimeout(() => process.exit(0), 100).unref();
      return;
  }
});
process.on('disconnect', () => process.exit(0));
