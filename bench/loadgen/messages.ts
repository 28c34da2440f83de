/** IPC messages between the orchestrator (bench/run.ts) and the subscriber workers. */
import type { Role, SystemName } from './dialect.ts';
import type { SubscriberTransport } from './http/subscriber.ts';

export type ToWorker =
  | {
      type: 'open';
      system: SystemName;
      role: Extract<Role, 'subscriber' | 'idle'>;
      host: string;
      port: number;
      count: number;
      localAddress?: string;
      /** How the connections reach the server. @default 'websocket' */
      transport?: SubscriberTransport;
      /** Handshakes in flight at once. */
      concurrency: number;
    }
  /** Resets counters and starts a measurement; `latency` also parses send timestamps. */
  | { type: 'measure'; latency: boolean; progressMs: number }
  | { type: 'report' }
  | { type: 'close' };

export interface WorkerReport {
  delivered: number;
  /** Monotonic µs of the first and last read that carried a delivery (0 when none). */
  firstUs: number;
  lastUs: number;
  /** Latency histogram pairs (µs buckets) when measuring latency. */
  latency: Array<[number, number]>;
  /** Connections lost since opening, and the first few problems seen. */
  lost: number;
  problems: string[];
  /** CPU time (µs, user + system) used since the measurement started, and the wall time. */
  cpuUs: number;
  /** The system (kernel) part of cpuUs. */
  sysUs: number;
  wallUs: number;
}

export type FromWorker =
  | { type: 'opened'; opened: number; error?: string }
  | { type: 'progress'; delivered: number }
  | ({ type: 'report' } & WorkerReport);
