/**
 * Downlink bandwidth adaptation of one subscribe transport (issue 12 item 4): the SFU is the
 * sender here, so it runs the send-side estimator of bwe/ on the subscriber's transport-wide
 * feedback, spreads the estimate over the subscriber's consumers (bitrate-allocator.ts) and caps
 * each simulcast consumer's layer at what the estimate pays for; when the allocator wants more
 * than the estimate, it probes with short bursts of padding-only packets, so a leg whose capacity
 * came back climbs again in seconds instead of creeping at 8 %/s.
 *
 * The pieces it joins are pure and tested on their own; this class owns the I/O-facing glue:
 * - `stamp` (the sink's `beforeSend`, the packet at buf[offset..]): writes the next transport-wide sequence number into each
 *   packet a consumer wrote with our extension (forwarder.ts `TWCC_SEQ_OFFSET`) and records the
 *   send (size on the wire, time, probe cluster);
 * - `onRtcp`: the subscriber's clear-text RTCP compound, parsed by rtp/rtcp.ts (bounded,
 *   validated); transport-cc feedback updates the estimate;
 * - `update`: the allocation, once per router tick: downgrades at once, upgrades after the grant
 *   held for `upgradeHoldMs`; then any probe the controller asks for.
 */
import { allocateBitrate, type AllocationConsumer } from './bitrate-allocator.ts';
import { SendSideBwe } from './bwe/send-side-bwe.ts';
import { twccToFeedback } from './bwe/twcc-results.ts';
import { TWCC_SEQ_OFFSET, type Consumer } from './forwarder.ts';
import { parseRtcp, type RtcpPacket } from './rtp/rtcp.ts';

/** Per-packet bytes on the wire beyond what the consumer wrote: SRTP tag (≤16) + UDP/IPv4 (28). */
const WIRE_OVERHEAD = 44;
/** Layer bitrates are payload rates: RTP headers, SRTP and UDP/IP add about this much. */
const LAYER_OVERHEAD = 1.08;
/** Largest padding-only packet (one RTP padding count byte). */
const PAD_BYTES = 255;

export interface DownlinkOptions {
  /** Estimate before any feedback (bps). @default 1_000_000 */
  initialBps: number;
  /** A higher layer must have been granted this long before the consumer moves up (ms). @default 1000 */
  upgradeHoldMs: number;
  /** Shortest gap between probes while the allocation wants more than the estimate (ms). @default 1500 */
  probeIntervalMs: number;
  /** Upper bound of the estimate (bps). @default 20_000_000 */
  maxBps: number;
}

export const DOWNLINK_DEFAULTS: DownlinkOptions = { initialBps: 1_000_000, upgradeHoldMs: 1000, probeIntervalMs: 1500, maxBps: 20_000_000 };

/** Statistics of one downlink (admin, metrics, tests). */
export interface DownlinkStats {
  estimateBps: number;
  feedbacks: number;
  probes: number;
  paddingPackets: number;
  /** What the consumers would use at their preferred layers (bps). */
  desiredBps: number;
}

export class Downlink {
  readonly bwe: SendSideBwe;
  readonly options: DownlinkOptions;
  private seq = 0;
  private probeCluster: number | undefined;
  private started = false;
  private readonly upgradeSince = new Map<Consumer, number>();
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  feedbacks = 0;
  probes = 0;
  paddingPackets = 0;
  desiredBps = 0;
  /** RTCP compounds that did not parse (dropped whole, as rtp/rtcp.ts decides). */
  badRtcp = 0;

  /**
   * @param extId the transport-cc header extension id of the subscribe transport (from our offer)
   */
  constructor(
    readonly extId: number,
    options: Partial<DownlinkOptions> = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.options = { ...DOWNLINK_DEFAULTS, ...options };
    this.bwe = new SendSideBwe({ initialBps: this.options.initialBps, maxBps: this.options.maxBps, probe: { probeIntervalMs: this.options.probeIntervalMs, maxBps: this.options.maxBps } });
  }

  get estimateBps(): number {
    return this.bwe.estimate;
  }

  /** Stamps a transport-wide sequence number into an outgoing packet and records its send. */
  readonly stamp = (buf: Buffer, offset: number, length: number): void => {
    if (length < 20 || (buf[offset]! & 0x10) === 0 || buf.readUInt16BE(offset + 12) !== 0xbede || buf[offset + 16]! >> 4 !== this.extId) return;
    const seq = this.seq;
    this.seq = (seq + 1) & 0xffff;
    buf.writeUInt16BE(seq, offset + TWCC_SEQ_OFFSET);
    this.bwe.onSent(seq, length + WIRE_OVERHEAD, this.now(), this.probeCluster);
  };

  /** One clear-text RTCP compound from the subscriber: returns its packets (empty if malformed). */
  onRtcp(buf: Buffer): RtcpPacket[] {
    let packets: RtcpPacket[];
    try {
      packets = parseRtcp(buf);
    } catch {
      this.badRtcp++;
      return [];
    }
    for (const p of packets) {
      if (p.type !== 'twcc') continue;
      this.feedbacks++;
      this.bwe.onFeedback(twccToFeedback(p), this.now());
    }
    return packets;
  }

  /**
   * The allocation for the current estimate: sets each video consumer's `bweSpatial`; then
   * sends the probes the controller asks for on one forwarding video consumer.
   */
  update(consumers: readonly Consumer[], wallNow = Date.now()): void {
    if (this.closed) return;
    const t = this.now();
    const input: AllocationConsumer[] = [];
    const byId = new Map<string, Consumer>();
    consumers.forEach((c, i) => {
      if (c.closed || !c.active) return;
      const id = String(i);
      byId.set(id, c);
      if (c.producer.kind === 'audio') {
        input.push({ id, producerId: c.producer.id, kind: 'audio', audioBitrateBps: Math.max(32_000, c.producer.bitrateSmoothed * LAYER_OVERHEAD) });
        return;
      }
      const layers = c.layers.map((l, spatial) => ({
        spatial,
        temporal: 0,
        bitrateBps: Math.round(Math.max(l.allocationBitrate(wallNow), 30_000) * LAYER_OVERHEAD),
        // A layer dynacast paused is still one to plan on: the publisher resumes it when granted.
        active: l.available(wallNow),
        ...(l.width ? { width: l.width, height: l.height } : {}),
      }));
      const cur = c.current ? c.layers.indexOf(c.current) : -1;
      input.push({
        id,
        producerId: c.producer.id,
        kind: 'video',
        layers,
        pref: { paused: c.paused, ...(c.targetSpatial < layers.length ? { maxSpatial: c.targetSpatial } : {}) },
        current: cur >= 0 ? { spatial: cur, temporal: 0 } : null,
      });
    });
    const a = allocateBitrate(this.bwe.estimate, input);
    this.desiredBps = a.desiredBps;
    this.bwe.probes.setDesiredBitrate(a.desiredBps);
    for (const [id, target] of a.targets) {
      const c = byId.get(id)!;
      if (c.layers.length < 2) continue;
      const granted = target?.spatial ?? 0;
      const now = Math.min(c.bweSpatial, c.layers.length - 1);
      if (granted < now) {
        c.bweSpatial = granted;
        this.upgradeSince.delete(c);
      } else if (granted > now) {
        const since = this.upgradeSince.get(c);
        if (since === undefined) this.upgradeSince.set(c, t);
        else if (t - since >= this.options.upgradeHoldMs) {
          c.bweSpatial = granted;
          this.upgradeSince.delete(c);
        }
      } else this.upgradeSince.delete(c);
    }
    for (const c of this.upgradeSince.keys()) if (c.closed) this.upgradeSince.delete(c);
    const carrier = consumers.find((c) => c.producer.kind === 'video' && c.flowing && !c.paused && !c.closed);
    if (!carrier) return;
    if (!this.started) {
      this.started = true;
      this.bwe.probes.start(this.bwe.estimate, t);
    }
    for (const cluster of this.bwe.probes.process(t)) this.sendProbe(carrier, cluster.id, cluster.targetBps, cluster.durationMs, cluster.minPackets);
  }

  /** A probe cluster: padding worth `targetBps` over `durationMs`, in three bursts 5 ms apart. */
  private sendProbe(c: Consumer, id: number, targetBps: number, durationMs: number, minPackets: number): void {
    const bytes = (targetBps * durationMs) / 8000;
    const packets = Math.min(120, Math.max(minPackets, Math.ceil(bytes / (PAD_BYTES + 20 + WIRE_OVERHEAD))));
    this.probes++;
    const bursts = 3;
    for (let b = 0; b < bursts; b++) {
      const n = Math.floor(packets / bursts) + (b < packets % bursts ? 1 : 0);
      const run = (): void => {
        if (this.closed) return;
        this.probeCluster = id;
        for (let i = 0; i < n; i++) if (c.sendPadding(PAD_BYTES) > 0) this.paddingPackets++;
        this.probeCluster = undefined;
      };
      if (b === 0) run();
      else {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          run();
        }, b * 5);
        timer.unref?.();
        this.timers.add(timer);
      }
    }
  }

  stats(): DownlinkStats {
    return { estimateBps: Math.round(this.bwe.estimate), feedbacks: this.feedbacks, probes: this.probes, paddingPackets: this.paddingPackets, desiredBps: Math.round(this.desiredBps) };
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
