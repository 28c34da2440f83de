/**
 * Fallback transports: the fan-out of fanout.ts (same phases, same publisher, same counting) with
 * the subscribers on each HTTP fallback: Switchboard over SSE and over long polling, socket.io over
 * engine.io long polling (never upgraded), and both over WebSocket for reference. Default 100
 * subscribers. The publisher is a WebSocket connection in every row: publishing is not what is
 * measured; the subscribers' transport is.
 *
 * Rows are named `<system>/<transport>`; the table's ratio for this scenario is against
 * `socketio/polling` ({@link FALLBACK_BASELINE}).
 */
import type { SystemName } from '../loadgen/dialect.ts';
import type { SubscriberTransport } from '../loadgen/http/subscriber.ts';
import { nowMicros } from '../loadgen/payload.ts';
import type { ScenarioOutcome } from '../result.ts';
import { runFanout, type FanoutOptions } from './fanout.ts';

export interface FallbackVariant {
  /** Row name, `<system>/<transport>`. */
  readonly label: string;
  readonly system: SystemName;
  readonly transport: SubscriberTransport;
}

/** Every row of the scenario, in table order. */
export const FALLBACK_VARIANTS: readonly FallbackVariant[] = [
  { label: 'switchboard/ws', system: 'switchboard', transport: 'websocket' },
  { label: 'switchboard/sse', system: 'switchboard', transport: 'sse' },
  { label: 'switchboard/poll', system: 'switchboard', transport: 'poll' },
  { label: 'socketio/polling', system: 'socketio', transport: 'poll' },
  { label: 'socketio/ws', system: 'socketio', transport: 'websocket' },
];

/** The row the other rows' ratios are taken against. */
export const FALLBACK_BASELINE = 'socketio/polling';

/** The variants whose server is one of `systems` (the CLI's `--systems`). */
export function fallbackVariants(systems: readonly SystemName[]): FallbackVariant[] {
  return FALLBACK_VARIANTS.filter((v) => systems.includes(v.system));
}

/**
 * One row: the fan-out with the variant's subscriber transport, noting the orchestrator's CPU over
 * the throughput phase — at 100 subscribers the single publisher must send 1 % of the
 * deliveries/s as publishes, ten times the share at fanout's 1,000, so it could be the limit.
 */
export function runFallback(variant: FallbackVariant, o: FanoutOptions): Promise<ScenarioOutcome> {
  const notes: string[] = [];
  return runFanout(variant.system, o, {
    scenario: 'fallback',
    label: variant.label,
    transport: variant.transport,
    throughput: async (run) => {
      const cpu0 = process.cpuUsage();
      const us0 = nowMicros();
      const perSec = await run();
      const cpu = process.cpuUsage(cpu0);
      const busy = (cpu.user + cpu.system) / Math.max(1, nowMicros() - us0);
      notes.push(`throughput: orchestrator (publisher) CPU ${Math.round(busy * 100)} % over warm-up, flood and drains`);
      if (busy > 0.9) notes.push('warning: the publisher process was > 90 % busy, it may have limited throughput');
      return perSec;
    },
  }).then((outcome) => ({ ...outcome, notes: [...outcome.notes, ...notes] }));
}
