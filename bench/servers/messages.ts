/** IPC between the orchestrator and a server child. */
export type ServerRequest = { type: 'memory' } | { type: 'cpu' } | { type: 'stop' };

export type ServerReply =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'failed'; error: string }
  /** Bytes, read after forced GC. */
  | { type: 'memory'; rss: number; heapUsed: number; external: number }
  /** Total CPU time (user + system) of the process so far, µs. */
  | { type: 'cpu'; cpuUs: number; sysUs: number };
