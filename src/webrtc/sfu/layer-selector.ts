/**
 * Per-consumer simulcast/SVC layer choice: which (spatial, temporal) layer of the producer to
 * forward, given what the producer sends, what the subscriber wants and the bitrate the allocator
 * grants. Upgrades wait until the budget has held 1.1 × the layer's bitrate for a while (no
 * flapping); downgrades happen at once. Spatial switches need a keyframe on the target layer;
 * temporal down-switches are immediate, up-switches wait for a layer sync point. Pure and
 * clock-free: the caller passes nowMs.
 */

/** One layer the producer sends. */
export interface LayerInfo {
  spatial: number;
  temporal: number;
  /** Measured bitrate of this layer including the lower temporal layers it depends on (bps). */
  bitrateBps: number;
  /** Whether packets of this layer arrive now (the publisher may have paused it). */
  active: boolean;
  /** Frame size of the spatial layer, when known (from signaling or the bitstream). */
  width?: number;
  height?: number;
}

/** What the subscriber asked for (set-layers in contract.ts). */
export interface LayerPreference {
  maxSpatial?: number;
  maxTemporal?: number;
  /** Rendered size: the smallest spatial layer at least this big is enough. */
  width?: number;
  height?: number;
  /** Paused (not visible, or muted by the subscriber): forward nothing. */
  paused?: boolean;
}

/** A (spatial, temporal) pair. */
export interface LayerTarget {
  spatial: number;
  temporal: number;
}

/** Output of {@link LayerSelector.update}. */
export interface LayerDecision {
  /** The layer to converge to, or null to forward nothing. */
  target: LayerTarget | null;
  /** The layer forwarded now (changes on keyframe / sync point). */
  current: LayerTarget | null;
  /** A keyframe (PLI/FIR) on target.spatial is needed before the switch. */
  keyframeNeeded: boolean;
  /** A temporal up-switch waits for a layer sync point. */
  awaitingSync: boolean;
  /** Budget is below the lowest allowed layer (the lowest is still forwarded). */
  overBudget: boolean;
}

/** Options of {@link LayerSelector}. */
export interface LayerSelectorOptions {
  /** Budget must exceed the upgrade target's bitrate by this factor. @default 1.1 */
  upgradeHeadroom?: number;
  /** ...continuously for this long (ms). @default 1000 */
  upgradeHoldMs?: number;
}

/**
 * The layers a preference allows, lowest first: active, within maxSpatial/maxTemporal, and no
 * higher spatial layer than the smallest one that covers the rendered size.
 */
export function allowedLayers(layers: readonly LayerInfo[], pref: LayerPreference): LayerInfo[] {
  if (pref.paused === true) return [];
  let ceilS = pref.maxSpatial ?? Infinity;
  const ceilT = pref.maxTemporal ?? Infinity;
  const active = layers.filter((l) => l.active && l.bitrateBps >= 0 && Number.isFinite(l.bitrateBps));
  if (pref.width !== undefined || pref.height !== undefined) {
    const w = pref.width ?? 0;
    const h = pref.height ?? 0;
    const sized = [...new Set(active.map((l) => l.spatial))].sort((a, b) => a - b);
    const cover = sized.find((s) => {
      const l = active.find((x) => x.spatial === s && (x.width !== undefined || x.height !== undefined));
      return l !== undefined && (l.width ?? Infinity) >= w && (l.height ?? Infinity) >= h;
    });
    if (cover !== undefined) ceilS = Math.min(ceilS, cover);
  }
  const out = active.filter((l) => l.spatial <= ceilS && l.temporal <= ceilT);
  if (out.length === 0) {
    // The ceiling excludes everything active: the lowest active layer is the best we can do.
    const lowest = [...active].sort(compareLayers)[0];
    return lowest === undefined ? [] : [lowest];
  }
  return out.sort(compareLayers);
}

/** Orders layers lowest first: by spatial, then temporal. */
export function compareLayers(a: LayerTarget, b: LayerTarget): number {
  return a.spatial - b.spatial || a.temporal - b.temporal;
}

function same(a: LayerTarget | null, b: LayerTarget | null): boolean {
  return a === b || (a !== null && b !== null && a.spatial === b.spatial && a.temporal === b.temporal);
}

/** Layer choice with hysteresis for one consumer. */
export class LayerSelector {
  private readonly headroom: number;
  private readonly holdMs: number;
  private targetLayer: LayerTarget | null = null;
  private currentLayer: LayerTarget | null = null;
  private upgradeSinceMs: number | undefined;

  constructor(options: LayerSelectorOptions = {}) {
    this.headroom = options.upgradeHeadroom ?? 1.1;
    this.holdMs = options.upgradeHoldMs ?? 1000;
  }

  /** The target chosen by the last update. */
  get target(): LayerTarget | null {
    return this.targetLayer;
  }

  /**
   * Re-evaluates the target.
   * @param budgetBps what the allocator grants this consumer
   */
  update(layers: readonly LayerInfo[], pref: LayerPreference, budgetBps: number, nowMs: number): LayerDecision {
    const allowed = allowedLayers(layers, pref);
    let overBudget = false;
    if (allowed.length === 0) {
      this.targetLayer = null;
      this.currentLayer = null;
      this.upgradeSinceMs = undefined;
    } else {
      const lowest = allowed[0] as LayerInfo;
      const fits = allowed.filter((l) => l.bitrateBps <= budgetBps);
      const best = fits[fits.length - 1] ?? lowest;
      overBudget = fits.length === 0;
      const cur = this.targetLayer === null ? undefined : allowed.find((l) => same(l, this.targetLayer));
      if (cur === undefined || this.targetLayer === null) {
        // No target yet, or it is no longer allowed: take the best that fits, now.
        this.targetLayer = { spatial: best.spatial, temporal: best.temporal };
        this.upgradeSinceMs = undefined;
      } else if (cur.bitrateBps > budgetBps || compareLayers(best, cur) < 0) {
        this.targetLayer = { spatial: best.spatial, temporal: best.temporal }; // downgrade at once
        this.upgradeSinceMs = undefined;
      } else {
        const up = allowed.filter((l) => compareLayers(l, cur) > 0 && l.bitrateBps * this.headroom <= budgetBps);
        const candidate = up[up.length - 1];
        if (candidate === undefined) {
          this.upgradeSinceMs = undefined;
        } else {
          this.upgradeSinceMs ??= nowMs;
          if (nowMs - this.upgradeSinceMs >= this.holdMs) {
            this.targetLayer = { spatial: candidate.spatial, temporal: candidate.temporal };
            this.upgradeSinceMs = undefined;
          }
        }
      }
    }
    return this.decide(overBudget);
  }

  private decide(overBudget: boolean): LayerDecision {
    const t = this.targetLayer;
    const c = this.currentLayer;
    if (t !== null && c !== null && t.spatial === c.spatial && t.temporal < c.temporal) {
      this.currentLayer = { ...t }; // temporal down: drop the upper temporal layer's packets now
    }
    const cur = this.currentLayer;
    const keyframeNeeded = t !== null && (cur === null || cur.spatial !== t.spatial);
    const awaitingSync = t !== null && cur !== null && cur.spatial === t.spatial && t.temporal > cur.temporal;
    return { target: t === null ? null : { ...t }, current: cur === null ? null : { ...cur }, keyframeNeeded, awaitingSync, overBudget };
  }

  /**
   * A keyframe of `spatial` arrived: if it is the target's spatial layer the switch happens now.
   * @returns whether the forwarded layer changed
   */
  onKeyframe(spatial: number): boolean {
    const t = this.targetLayer;
    if (t === null || t.spatial !== spatial || same(this.currentLayer, t)) return false;
    this.currentLayer = { ...t };
    return true;
  }

  /** A temporal layer sync point for `temporal` on the current spatial layer arrived. */
  onTemporalSync(temporal: number): boolean {
    const t = this.targetLayer;
    const c = this.currentLayer;
    if (t === null || c === null || c.spatial !== t.spatial || temporal > t.temporal || temporal <= c.temporal) return false;
    this.currentLayer = { spatial: c.spatial, temporal };
    return true;
  }
}
