/**
 * Structured logs with levels, for the node and the CLI: one record per line, JSON
 * (`{"time","level","msg",…fields}`, for log collectors) or pretty (`time LEVEL msg key=value`,
 * for a terminal), written synchronously to stderr (or a given sink).
 *
 * Why our own and not pino: what the node logs is small and rare (start-up, refusals, failures),
 * so pino's speed buys nothing, while its 11 runtime dependencies, worker-thread transports and a
 * separate pretty printer (pino-pretty, more dependencies) would all ship in the package. This is
 * the part of pino that is used — levels, JSON lines, child fields — in one file. An embedding
 * application can route the records into its own logger with `configureLogger({ sink })`.
 *
 * Refusals (a connection, token, origin or API call turned away) go through `refused()`: each
 * carries a `reason` code and is rate-limited per code (a token bucket: `burst` at once, then
 * `perSecond`), so a hostile client cannot flood the log; what was held back is counted and
 * reported as `suppressed` on the next record of that code, or within 10 s by a summary record.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'pretty';
export type LogFields = Record<string, unknown>;

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface LoggerOptions {
  /** Least severe level written. @default 'info' */
  level: LogLevel;
  /** @default 'json' unless stderr is a terminal */
  format: LogFormat;
  /** Where finished lines go. @default process.stderr.write */
  sink: (line: string) => void;
  /** Refusal records per reason code per second, after the burst. @default 5 */
  refusalsPerSecond: number;
  /** Refusal records per reason code at once. @default 20 */
  refusalBurst: number;
}

export function isLogLevel(v: string): v is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(v);
}

interface Bucket {
  tokens: number;
  at: number;
  suppressed: number;
  level: LogLevel;
  msg: string;
}

/** Values that must never reach a log line whole. */
const SECRET_KEY = /secret|password|token|apikey|api_key|authorization/i;

function plain(v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, ...(v.stack ? { stack: v.stack } : {}) };
  return v;
}

export class Logger {
  private opts: LoggerOptions;
  private readonly buckets = new Map<string, Bucket>();
  private summaryTimer: NodeJS.Timeout | null = null;

  constructor(options: Partial<LoggerOptions> = {}) {
    this.opts = {
      level: 'info',
      format: process.stderr.isTTY ? 'pretty' : 'json',
      sink: (line) => {
        process.stderr.write(line);
      },
      refusalsPerSecond: 5,
      refusalBurst: 20,
      ...options,
    };
  }

  configure(options: Partial<LoggerOptions>): void {
    this.opts = { ...this.opts, ...options };
  }

  get level(): LogLevel {
    return this.opts.level;
  }

  get format(): LogFormat {
    return this.opts.format;
  }

  enabled(level: LogLevel): boolean {
    return level !== 'silent' && RANK[level] >= RANK[this.opts.level];
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  /**
   * A refusal with its reason code (`origin_not_allowed`, `token_invalid`…), rate-limited per
   * code. `fields` should say who (ip, transport, origin, method) but never a secret.
   */
  refused(reason: string, msg: string, fields: LogFields = {}, level: LogLevel = 'warn'): void {
    if (!this.enabled(level)) return;
    const now = Date.now();
    let b = this.buckets.get(reason);
    if (!b) {
      if (this.buckets.size >= 1000) this.buckets.clear(); // reason codes are a fixed set; a bound anyway
      b = { tokens: this.opts.refusalBurst, at: now, suppressed: 0, level, msg };
      this.buckets.set(reason, b);
    }
    b.tokens = Math.min(this.opts.refusalBurst, b.tokens + ((now - b.at) / 1000) * this.opts.refusalsPerSecond);
    b.at = now;
    b.level = level;
    b.msg = msg;
    if (b.tokens < 1) {
      b.suppressed++;
      this.armSummary();
      return;
    }
    b.tokens--;
    const suppressed = b.suppressed;
    b.suppressed = 0;
    this.write(level, msg, { reason, ...fields, ...(suppressed > 0 ? { suppressed } : {}) });
  }

  /** Writes one record per reason code with refusals held back since its last record. */
  flushSuppressed(): void {
    for (const [reason, b] of this.buckets) {
      if (b.suppressed === 0) continue;
      const n = b.suppressed;
      b.suppressed = 0;
      this.write(b.level, `${n} more refusals like the last "${reason}" were not logged (rate limit)`, { reason, suppressed: n });
    }
  }

  private armSummary(): void {
    if (this.summaryTimer) return;
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = null;
      this.flushSuppressed();
    }, 10_000);
    this.summaryTimer.unref();
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const time = new Date();
    const rec: LogFields = {};
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) rec[k] = SECRET_KEY.test(k) && typeof v === 'string' ? '***' : plain(v);
    let line: string;
    if (this.opts.format === 'json') {
      line = JSON.stringify({ time: time.toISOString(), level, msg, ...rec });
    } else {
      const kv = Object.entries(rec)
        .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`)
        .join(' ');
      line = `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}${kv ? ` ${kv}` : ''}`;
    }
    try {
      this.opts.sink(`${line}\n`);
    } catch {
      // a broken sink must not break the caller
    }
  }
}

/** The process-wide logger the node and the CLI write to (`configureLogger` sets it up). */
export const log = new Logger(levelFromEnv(process.env));

function levelFromEnv(env: NodeJS.ProcessEnv): Partial<LoggerOptions> {
  const out: Partial<LoggerOptions> = {};
  const level = env.SWITCHBOARD_LOG_LEVEL?.toLowerCase();
  if (level && isLogLevel(level)) out.level = level;
  const format = env.SWITCHBOARD_LOG_FORMAT?.toLowerCase();
  if (format === 'json' || format === 'pretty') out.format = format;
  return out;
}

/** The reason code of an admission refusal (node.admit / the HTTP transports' pending limit). */
export function admissionReason(message: string): string {
  if (message.includes('draining')) return 'node_draining';
  if (message.includes('connection limit')) return 'connection_limit';
  if (message.includes('new sessions')) return 'session_rate_limit';
  if (message.includes('from this address')) return 'per_ip_connection_limit';
  if (message.includes('waiting for connect')) return 'pending_session_limit';
  return 'connection_refused';
}

export function configureLogger(options: Partial<LoggerOptions>): void {
  log.configure(options);
}
