/**
 * Publisher bitrate caps (issue 12 item 4): a participant's video may use at most
 * `maxPublishBitrate` bits per second in all. Three parts, the first two cooperative, the last
 * not:
 * - {@link splitPublishCap} turns the cap into a `maxBitrate` per simulcast layer, lowest layer
 *   first (the SDK sets `RTCRtpEncodingParameters.maxBitrate`; a layer left below its minimum is
 *   switched off);
 * - the router also sends REMB with the cap, which libwebrtc takes as an upper bound of its send
 *   estimate (even with transport-cc);
 * - {@link PublishCapGuard} watches what actually arrives: a publisher over its cap for
 *   {@link OVER_CAP_MS} (a client that ignores both) has its highest layers held back — not
 *   forwarded to anyone — until what remains fits; they come back once the publisher has been
 *   under the cap for as long. Pure logic: the caller gives rates and times.
 */

/** Typical rates of simulcast layers, lowest first (libwebrtc's targets for 180p/360p/720p). */
const LAYER_TARGETS = [150_000, 500_000, 2_500_000];
/** Below these a layer is not worth encoding (libwebrtc's minimums for 180p/360p/720p). */
const LAYER_MINIMUMS = [30_000, 150_000, 600_000];
/** What arrives may exceed the cap by this factor (keyframes, the encoder's overshoot). */
export const CAP_TOLERANCE = 1.5;
/** Plus this much (bps), so small caps do not trip on one keyframe. */
export const CAP_SLACK_BPS = 100_000;
/** How long a publisher must be over (or back under) its cap before layers are held (or freed). */
export const OVER_CAP_MS = 2000;

/**
 * `maxBitrate` per layer (bps, lowest first) for a track of `layers` simulcast layers under `cap`;
 * 0 means: switch the layer off. Lower layers are filled first to their typical rate, the top
 * layer gets what is left. A single-layer track gets the whole cap. Undefined when the cap is at
 * least what the layers typically use (nothing to tell the publisher).
 */
export function splitPublishCap(cap: number, layers: number): number[] | undefined {
  const n = Math.max(1, Math.min(layers, LAYER_TARGETS.length));
  let typical = 0;
  for (let i = 0; i < n; i++) typical += LAYER_TARGETS[i === n - 1 ? LAYER_TARGETS.length - 1 : i]!;
  // A cap above what the encoder would use anyway changes nothing (and must not raise its maxima).
  if (!(cap > 0) || cap >= typical) return undefined;
  if (layers <= 1) return [Math.floor(cap)];
  const out: number[] = [];
  let left = Math.max(0, Math.floor(cap));
  for (let i = 0; i < layers; i++) {
    const top = i === layers - 1;
    const target = LAYER_TARGETS[Math.min(i, LAYER_TARGETS.length - 1)]!;
    const min = LAYER_MINIMUMS[Math.min(i, LAYER_MINIMUMS.length - 1)]!;
    let give = top ? left : Math.min(target, left);
    // The lowest layer always goes (someone must get video); a higher one only at its minimum.
    if (i > 0 && give < min) give = 0;
    out.push(give);
    left -= give;
  }
  return out;
}

/** What the guard needs of a producer: its measured payload rate. */
export interface CappedLayer {
  readonly kind: 'audio' | 'video';
  /** Smoothed payload bits per second. */
  readonly bitrateSmoothed: number;
}

/**
 * Holds back a publisher's highest video layers while its total exceeds the cap (with tolerance).
 * `update` takes the participant's video tracks, each lowest layer first, and returns the layers
 * to hold (an empty set when it behaves).
 */
export class PublishCapGuard<L extends CappedLayer> {
  private overSince = -1;
  private underSince = -1;
  private held = new Set<L>();
  /** Times the guard started holding layers back. */
  trips = 0;

  constructor(readonly cap: number) {}

  /** The layers held back now. */
  get holding(): ReadonlySet<L> {
    return this.held;
  }

  update(tracks: readonly (readonly L[])[], now: number): ReadonlySet<L> {
    if (!(this.cap > 0)) return this.held;
    const limit = this.cap * CAP_TOLERANCE + CAP_SLACK_BPS;
    let total = 0;
    for (const t of tracks) for (const l of t) if (l.kind === 'video') total += l.bitrateSmoothed;
    if (total > limit) {
      this.underSince = -1;
      if (this.overSince < 0) this.overSince = now;
      if (now - this.overSince >= OVER_CAP_MS) {
        const next = holdFromTop(tracks, limit);
        if (this.held.size === 0 && next.size > 0) this.trips++;
        // Never free a layer while over: only hold more.
        for (const l of this.held) next.add(l);
        this.held = next;
      }
      return this.held;
    }
    this.overSince = -1;
    if (this.held.size === 0) return this.held;
    if (this.underSince < 0) this.underSince = now;
    // What arrives still counts the held layers (the publisher sends them; we drop them): under
    // the cap with them, the publisher has come back within it.
    if (now - this.underSince >= OVER_CAP_MS) this.held = new Set();
    return this.held;
  }
}

/**
 * The layers to hold so the rest fits `limit`: round-robin from the top layer of each track down,
 * the lowest layer of each track last (held too if even those do not fit).
 */
function holdFromTop<L extends CappedLayer>(tracks: readonly (readonly L[])[], limit: number): Set<L> {
  const held = new Set<L>();
  const video = tracks.filter((t) => t.length > 0 && t[0]!.kind === 'video');
  let total = 0;
  for (const t of video) for (const l of t) total += l.bitrateSmoothed;
  const depth = Math.max(0, ...video.map((t) => t.length));
  for (let level = depth - 1; level >= 0 && total > limit; level--) {
    for (const t of video) {
      const l = t[level];
      if (!l || total <= limit) continue;
      held.add(l);
      total -= l.bitrateSmoothed;
    }
  }
  return held;
}
