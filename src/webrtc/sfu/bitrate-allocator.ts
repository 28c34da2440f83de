/**
 * Spreads one transport's bandwidth estimate over its consumers (in the manner of LiveKit's
 * StreamAllocator and mediasoup's consumer priorities): audio first and always; then every video
 * consumer gets its lowest allowed layer, in priority order; then, in the same order, each is
 * upgraded to the highest layer the remainder pays for. An upgrade past what the consumer forwards
 * now costs 1.1 × the layer's bitrate, the headroom the {@link LayerSelector} wants before it
 * switches. It also reports which producer layers anyone needs (dynacast: the rest can be paused
 * at the publisher) and how far the estimate falls short of what everyone wants (a probe target).
 */
import { allowedLayers, compareLayers, type LayerInfo, type LayerPreference, type LayerTarget } from './layer-selector.ts';

/** One consumer on the transport, as the allocator sees it. */
export interface AllocationConsumer {
  id: string;
  producerId: string;
  kind: 'audio' | 'video';
  /** Higher first. @default 1 */
  priority?: number;
  /** Audio: its bitrate (bps). @default 64_000 */
  audioBitrateBps?: number;
  /** Video: the producer's layers. */
  layers?: readonly LayerInfo[];
  pref?: LayerPreference;
  /** What the consumer forwards now (an upgrade beyond it pays the headroom). */
  current?: LayerTarget | null;
}

/** Result of {@link allocateBitrate}. */
export interface Allocation {
  /** Budget per consumer id (bps); pass to LayerSelector.update. */
  budgets: Map<string, number>;
  /** The layer each video consumer was granted (null: nothing fits or paused). */
  targets: Map<string, LayerTarget | null>;
  /** Per producer id, the spatial layers some consumer targets or forwards (dynacast). */
  neededSpatial: Map<string, number[]>;
  /** Sum of what all consumers would use at their preferred ceiling (bps). */
  desiredBps: number;
  /** How much more than the estimate that is (0 if none): the probe should seek this much extra. */
  probeDeficitBps: number;
  /** Estimate not handed out. */
  unallocatedBps: number;
}

/** Options of {@link allocateBitrate}. */
export interface AllocatorOptions {
  /** Upgrade headroom factor. @default 1.1 */
  upgradeHeadroom?: number;
}

function area(p: LayerPreference | undefined): number {
  return (p?.width ?? 0) * (p?.height ?? 0);
}

/**
 * Allocates `estimateBps` over `consumers`. Pure: same input, same output; the input is not mutated.
 */
export function allocateBitrate(estimateBps: number, consumers: readonly AllocationConsumer[], options: AllocatorOptions = {}): Allocation {
  const headroom = options.upgradeHeadroom ?? 1.1;
  let remaining = Math.max(0, Number.isFinite(estimateBps) ? estimateBps : 0);
  const budgets = new Map<string, number>();
  const targets = new Map<string, LayerTarget | null>();
  const needed = new Map<string, Set<number>>();
  let desired = 0;

  for (const c of consumers) {
    if (c.kind !== 'audio') continue;
    const bps = Math.max(0, c.audioBitrateBps ?? 64_000);
    desired += bps;
    budgets.set(c.id, bps); // audio always gets its rate, even past the estimate
    remaining = Math.max(0, remaining - bps);
  }

  const video = consumers
    .filter((c) => c.kind === 'video')
    .map((c, index) => ({ c, index, allowed: allowedLayers(c.layers ?? [], c.pref ?? {}) }))
    .sort((a, b) => (b.c.priority ?? 1) - (a.c.priority ?? 1) || area(b.c.pref) - area(a.c.pref) || a.index - b.index);

  const cost = (c: AllocationConsumer, l: LayerInfo): number => {
    const cur = c.current;
    return cur !== undefined && cur !== null && compareLayers(l, cur) > 0 ? Math.round(l.bitrateBps * headroom) : l.bitrateBps;
  };
  const granted = new Map<string, LayerInfo>();
  for (const v of video) {
    const top = v.allowed[v.allowed.length - 1];
    if (top !== undefined) desired += top.bitrateBps;
    const lowest = v.allowed[0];
    budgets.set(v.c.id, 0);
    targets.set(v.c.id, null);
    if (lowest === undefined) continue;
    const price = cost(v.c, lowest);
    if (price <= remaining) {
      granted.set(v.c.id, lowest);
      budgets.set(v.c.id, price);
      remaining -= price;
    }
  }
  for (const v of video) {
    const base = granted.get(v.c.id);
    if (base === undefined) continue;
    const basePrice = cost(v.c, base);
    let best = base;
    let bestPrice = basePrice;
    for (const l of v.allowed) {
      const p = cost(v.c, l);
      if (compareLayers(l, best) > 0 && p - basePrice <= remaining) {
        best = l;
        bestPrice = p;
      }
    }
    granted.set(v.c.id, best);
    budgets.set(v.c.id, bestPrice);
    remaining -= bestPrice - basePrice;
  }
  for (const v of video) {
    const g = granted.get(v.c.id);
    targets.set(v.c.id, g === undefined ? null : { spatial: g.spatial, temporal: g.temporal });
    const set = needed.get(v.c.producerId) ?? new Set<number>();
    if (g !== undefined) set.add(g.spatial);
    // The layer still forwarded until the switch completes stays needed.
    if (v.c.current !== undefined && v.c.current !== null && v.allowed.length > 0) set.add(v.c.current.spatial);
    needed.set(v.c.producerId, set);
  }
  const neededSpatial = new Map<string, number[]>();
  for (const [p, s] of needed) neededSpatial.set(p, [...s].sort((a, b) => a - b));
  const est = Math.max(0, Number.isFinite(estimateBps) ? estimateBps : 0);
  return { budgets, targets, neededSpatial, desiredBps: desired, probeDeficitBps: Math.max(0, desired - est), unallocatedBps: remaining };
}
