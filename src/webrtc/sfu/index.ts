/**
 * The SFU as the package exports it: `createSfu()` gives the media plane to pass to
 * `startNode({ sfu })` (the CLI does it when a namespace has `sfu: true`).
 */
import type { SfuNode, SfuOptions } from './options.ts';
import { SfuRouterService } from './router.ts';

export { SFU_DEFAULTS, type SfuNode, type SfuOptions, type SfuStats } from './options.ts';

/** A new SFU (routers per room, werift transports, our forwarding) with `options` over SFU_DEFAULTS. */
export function createSfu(options: Partial<SfuOptions> = {}): SfuNode {
  return new SfuRouterService(options);
}
