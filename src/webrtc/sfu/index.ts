/**
 * The SFU as the package exports it: `createSfu()` gives the media plane to pass to
 * `startNode({ sfu })` (the CLI does it when a namespace has `sfu: true`).
 */
import type { SfuNode, SfuOptions } from './options.ts';
import { SfuRouterService } from './router.ts';
import { SfuWorkerPool } from './worker-pool.ts';

export { SFU_DEFAULTS, type SfuNode, type SfuOptions, type SfuStats } from './options.ts';
export { nativeStatus as sfuMediaPath, type NativeStatus } from './srtp/native.ts';

/**
 * A new SFU (routers per room, werift transports, our forwarding) with `options` over
 * SFU_DEFAULTS: on this thread, or with `workers: N` in N worker threads (rooms spread by name).
 */
export function createSfu(options: Partial<SfuOptions> = {}): SfuNode {
  const workers = options.workers ?? 0;
  if (workers > 0) return new SfuWorkerPool(workers, options);
  return new SfuRouterService(options);
}
