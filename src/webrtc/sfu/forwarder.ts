/**
 * The SFU's forwarding core (issue 12 item 1): a Producer per received stream (audio, or one video
 * layer) fans each packet out to its Consumers; each Consumer writes its **own copy** with its own
 * SSRC, payload type, sequence numbers (continuous, starting at a keyframe for video) and
 * timestamps, keeps a bounded history of what it sent, answers NACKs from it, and passes PLIs on
 * to the producer. Neither owns a transport: the router (router.ts) feeds producers from the
 * publish transport's RTP and hands each consumer the RTCP of its subscribe transport.
 *
 * The only header extension written is transport-cc, when the sink has one (downlink.ts stamps
 * its sequence numbers and estimates the subscriber's bandwidth); `bweSpatial` caps the layer.
 * VP8 picture ID, TL0PICIDX and KEYIDX are rewritten per consumer (rtp/vp8.ts Vp8Munger) so they
 * stay continuous across layer switches and pauses.
 * Retransmissions go on the subscriber's RTX stream (RFC 4588) when its answer took RTX.
 *
 * Upstream loss: a video producer tracks the sequence numbers its publisher skipped
 * (`nack`, rtp/nack-generator.ts); the router NACKs them to the publisher, and a packet repaired
 * late is forwarded late, in its original place of each consumer's sequence (a consumer never
 * moves its newest sequence number, timestamp or padding slot backwards for it, and drops one
 * from before its current layer started).
 * A publisher's padding-only packets (probes on the media SSRC) are not forwarded: each consumer
 * hides their sequence numbers, and remembers where its sequence offset changed (its own padding
 * probes, hidden packets) so a late packet still lands in its own place.
 */
import type { RtcpPacket, RtpPacket } from 'werift';
import { AudioLevelMeter } from './audio-level.ts';
import { NackGenerator } from './rtp/nack-generator.ts';
import { ReceiverStatistics } from './stats.ts';
import { seqNewer } from './rtp/seq.ts';
import { Vp8Descriptor, Vp8Munger } from './rtp/vp8.ts';
import { isH264Keyframe } from './rtp/h264.ts';

/** Where a consumer's packets go (a WeriftPeer in the SFU; anything with SRTP in tests). */
export interface RtpSink {
  /** SRTP overhead the sink adds after `length` (the buffer passed has that many spare bytes). */
  readonly overhead: number;
  /**
   * One-byte header extension id of transport-wide sequence numbers on this sink (0: none). When
   * set, every packet carries the extension with a placeholder the sink stamps at send time.
   */
  readonly twccExtId?: number;
  /** Encrypts `buf[0..length)` in place (it has `overhead` spare bytes) and sends it. */
  sendRtp(buf: Buffer, length: number): void;
  /**
   * Sends an encrypted copy of `src[offset..offset+length)` without changing `src` (a history
   * slot), when the sink can do that without an allocation per packet (werift-adapter.ts's batch).
   */
  sendRtpFrom?(src: Buffer, offset: number, length: number): void;
}

/** Bytes of our one header extension (RFC 8285 one-byte form, transport-cc's 2-byte value, padded). */
export const TWCC_EXT_BYTES = 8;
/** Offset of the transport-wide sequence number in a packet we write with the extension. */
export const TWCC_SEQ_OFFSET = 17;

/** Who sends the producer's stream: asked for keyframes (RTCP PLI). */
export interface KeyframeSource {
  requestKeyframe(ssrc: number): void;
}

/** A simulcast layer without packets for this long is treated as paused by the publisher. */
export const LAYER_LIVE_MS = 1500;
/** How long a layer that dynacast resumed without getting packets waits before it is tried again. */
export const DYNACAST_RETRY_MS = 10_000;
/** The allocation cost assumed for a layer that never had a measured rate (bps of payload). */
export const UNPROVEN_LAYER_BPS = 500_000;

/**
 * Frame size in a VP8 keyframe's first packet (RFC 6386 §9.1: 3-byte frame tag, start code
 * 9d 01 2a, then 14-bit width and height, little-endian), or undefined.
 */
export function vp8KeyframeSize(p: Buffer): { width: number; height: number } | undefined {
  let i = 1;
  const b0 = p[0]!;
  if (b0 & 0x80) {
    const x = p[1] ?? 0;
    i = 2;
    if (x & 0x80) i += (p[i] ?? 0) & 0x80 ? 2 : 1;
    if (x & 0x40) i++;
    if (x & 0x30) i++;
  }
  if (p.length < i + 10 || p[i + 3] !== 0x9d || p[i + 4] !== 0x01 || p[i + 5] !== 0x2a) return undefined;
  return { width: p.readUInt16LE(i + 6) & 0x3fff, height: p.readUInt16LE(i + 8) & 0x3fff };
}

/** Shortest gap between two keyframe requests to one publisher stream (a keyframe takes a round trip). */
export const PLI_INTERVAL_MS = 1000;

/** Largest RTP packet forwarded (RFC 3550 over a 1500-byte MTU path). */
export const MAX_RTP = 1500;
/** Packets of history per consumer for retransmissions (≈2.5 s at 100 packets/s). */
export const HISTORY = 256;
/** Sequence-offset changes a consumer remembers for packets forwarded late. */
const SHIFTS = 128;

/** A VP8 payload starts a keyframe (RFC 7741 §4.2–4.3: S=1, PID=0, VP8 header P bit 0). */
export function isVp8Keyframe(p: Buffer): boolean {
  if (p.length < 1) return false;
  const b0 = p[0]!;
  if ((b0 & 0x10) === 0 || (b0 & 0x07) !== 0) return false;
  let i = 1;
  if (b0 & 0x80) {
    if (p.length < 2) return false;
    const x = p[1]!;
    i = 2;
    if (x & 0x80) i += p.length > i && p[i]! & 0x80 ? 2 : 1;
    if (x & 0x40) i++;
    if (x & 0x30) i++;
  }
  return p.length > i && (p[i]! & 0x01) === 0;
}

/** The shape of werift's parsed RTPFB/PSFB packets that we read (type, feedback FMT, fields). */
interface FeedbackLike {
  type: number;
  feedback?: { count?: number; mediaSourceSsrc?: number; mediaSsrc?: number; lost?: number[]; fir?: { ssrc: number }[] };
}

/** One subscriber's copy of one producer. */
export class Consumer {
  private started = false;
  private seqDelta = 0;
  private tsDelta = 0;
  private lastSeq = -1;
  /** Source sequence number of the current layer's first forwarded packet, and of the newest one. */
  private startIn = 0;
  private newestIn = 0;
  /** Packets forwarded after newer ones (repaired upstream by NACK, or reordered). */
  late = 0;
  private readonly slab: Buffer;
  private readonly lengths = new Int32Array(HISTORY).fill(-1);
  private readonly seqs = new Int32Array(HISTORY).fill(-1);
  private outSeq = Math.floor(Math.random() * 0x8000);
  /**
   * Where `seqDelta` changed within the current layer (a padding probe of ours took a sequence
   * number, or a publisher's padding-only packet was left out): input sequence numbers up to
   * `shiftIn[i]` map through `shiftDelta[i]`, so a packet forwarded late lands in its own place.
   * A ring of {@link SHIFTS}; a late packet at or before `shiftFloor` (an evicted change) is dropped.
   */
  private readonly shiftIn = new Int32Array(SHIFTS);
  private readonly shiftDelta = new Int32Array(SHIFTS);
  private shifts = 0;
  private shiftFloor = -1;
  /** Padding-only packets of the publisher left out (their sequence numbers hidden). */
  skipped = 0;
  forwarded = 0;
  retransmitted = 0;
  /** Keyframe requests this consumer's subscriber sent (PLI/FIR). */
  keyframeRequests = 0;
  /** Generic NACK packets this consumer's subscriber sent (admin figures). */
  nacksReceived = 0;
  /** Payload bits per second sent over the last rate period ({@link updateRate}; admin figures). */
  bitrate = 0;
  private rateOctets = 0;
  private rateAt = 0;
  /** Forwarding is off until the subscriber can receive (its answer applied, transport up). */
  active = false;
  /**
   * The producers of the track, lowest layer first (one for audio or a single-layer video track;
   * up to three simulcast layers). Shared with the router, which keeps it ordered by resolution.
   */
  layers: readonly Producer[];
  /** Highest spatial layer wanted (set-layers, the subscriber's rendered size). */
  targetSpatial = Number.MAX_SAFE_INTEGER;
  /** Highest spatial layer the subscriber's bandwidth estimate pays for (downlink.ts sets it). */
  bweSpatial = Number.MAX_SAFE_INTEGER;
  /**
   * RTX (RFC 4588) of this consumer, once the subscriber's answer accepted it: retransmissions
   * then go on this SSRC and payload type, with their own sequence numbers and the original
   * sequence number in front of the payload. Without it they repeat the original packet.
   */
  rtx: { ssrc: number; payloadType: number } | undefined;
  private rtxSeq = Math.floor(Math.random() * 0x10000);
  /** Retransmissions sent on the RTX stream (counted in `retransmitted` too). */
  rtxSent = 0;
  /** Padding-only packets sent (bandwidth probes). */
  padded = 0;
  /** Payload bytes of the packets forwarded (RFC 3550 sender octet count). */
  octets = 0;
  /** The layer being forwarded (undefined before the first keyframe and while paused). */
  current: Producer | undefined;
  /** Layer switches done (each on a keyframe of the new layer). */
  switches = 0;
  /** Called after a switch to another layer (index into `layers`). */
  onSwitch: ((spatial: number, layer: Producer) => void) | undefined;
  private lastTsOut = 0;
  private lastSentAt = 0;
  /** Rewrites the VP8 descriptor of this consumer's copies (video only). */
  private readonly vp8: Vp8Munger | undefined;
  /** The subscriber asked to stop receiving (`pause`); no packets until `resume`. */
  paused = false;
  closed = false;

  constructor(
    readonly sink: RtpSink,
    readonly ssrc: number,
    readonly payloadType: number,
    readonly producer: Producer,
  ) {
    this.slab = Buffer.alloc(HISTORY * MAX_RTP);
    this.layers = [producer];
    if (producer.kind === 'video' && producer.codec === 'VP8') this.vp8 = new Vp8Munger();
  }

  /** Whether it has forwarded its first (key)frame since it became active. */
  get flowing(): boolean {
    return this.started;
  }

  /**
   * The layer this consumer should forward now: the highest live layer (packets within
   * {@link LAYER_LIVE_MS}) not above `targetSpatial`; the lowest live one if none is; layer 0 if
   * nothing is live.
   */
  desiredLayer(now = Date.now()): Producer {
    const ls = this.layers;
    if (ls.length === 1) return ls[0]!;
    let best: Producer | undefined;
    let lowestLive: Producer | undefined;
    const max = Math.min(this.targetSpatial, this.bweSpatial);
    for (let i = 0; i < ls.length; i++) {
      const p = ls[i]!;
      if (now - p.lastPacketAt > LAYER_LIVE_MS || p.capped) continue;
      lowestLive ??= p;
      if (i <= max) best = p;
    }
    return best ?? lowestLive ?? ls[0]!;
  }

  /** Periodic check (the router's tick): asks for a keyframe on the layer it wants but does not forward. */
  tick(now = Date.now()): void {
    if (this.closed || !this.active || this.paused || this.producer.kind !== 'video') return;
    const want = this.desiredLayer(now);
    if (want !== this.current) want.requestKeyframe(now);
  }

  /**
   * Forwards one packet of one of its layers (the keyframe flag computed once by the producer).
   * Packets of other layers are dropped; a keyframe of the desired layer switches to it, keeping
   * sequence numbers continuous and timestamps advancing by the wall-clock time since the last
   * packet sent (layers have their own RTP timestamp bases).
   */
  forward(rtp: RtpPacket, keyframe: boolean, from: Producer = this.producer): void {
    if (this.closed || !this.active || this.paused || from.capped) return;
    const h = rtp.header;
    let switching = false;
    let late = false;
    let delta = this.seqDelta;
    if (from === this.current && this.started && !seqNewer(h.sequenceNumber, this.newestIn)) {
      // Older than the newest forwarded: a repaired or reordered packet. One from before this
      // layer started would land on sequence numbers already used; a duplicate is dropped.
      if (h.sequenceNumber === this.newestIn || seqNewer(this.startIn, h.sequenceNumber)) return;
      // Older than the history: its slot holds a newer packet now.
      if (((this.newestIn - h.sequenceNumber) & 0xffff) >= HISTORY) return;
      late = true;
      delta = this.deltaFor(h.sequenceNumber);
      if (delta < 0) return;
    } else if (from !== this.current || !this.started) {
      if (!keyframe) return;
      switching = true;
      if (this.layers.length > 1 && from !== this.desiredLayer()) return;
      this.seqDelta = (this.outSeq - h.sequenceNumber) & 0xffff;
      if (this.lastSentAt === 0) this.tsDelta = 0;
      else {
        const elapsed = Math.max(1, Date.now() - this.lastSentAt);
        const rate = from.kind === 'video' ? 90 : 48;
        this.tsDelta = (this.lastTsOut + elapsed * rate - h.timestamp) >>> 0;
      }
      delta = this.seqDelta;
      this.started = true;
      this.startIn = h.sequenceNumber;
      this.shifts = 0;
      this.shiftFloor = -1;
      if (this.current !== from) {
        if (this.current !== undefined) this.switches++;
        this.current = from;
        this.onSwitch?.(this.layers.indexOf(from), from);
      }
    }
    const payload = rtp.payload;
    const ext = this.sink.twccExtId ? TWCC_EXT_BYTES : 0;
    const length = 12 + ext + payload.length;
    if (length > MAX_RTP) return;
    const seq = (h.sequenceNumber + delta) & 0xffff;
    // A late packet already sent (a second retransmission of it) is not sent again.
    if (late && this.seqs[seq % HISTORY] === seq && this.lengths[seq % HISTORY]! > 0) return;
    const off = this.writeHeader(seq, (h.timestamp + this.tsDelta) >>> 0, h.marker, 0);
    payload.copy(this.slab, off + 12 + ext);
    if (this.vp8 && from.vp8Valid) this.vp8.rewrite(this.slab, off + 12 + ext, from.vp8, switching);
    this.forwarded++;
    this.octets += payload.length;
    if (late) {
      const slot = seq % HISTORY;
      this.lengths[slot] = length;
      this.seqs[slot] = seq;
      this.late++;
      this.send(off, length);
      return;
    }
    this.newestIn = h.sequenceNumber;
    this.commit(seq, length);
    this.lastTsOut = (h.timestamp + this.tsDelta) >>> 0;
    this.lastSentAt = Date.now();
    this.send(off, length);
  }

  /**
   * A packet of the layer this consumer forwards that it leaves out (a publisher's padding-only
   * probe: nothing for the subscriber to decode): later packets move one sequence number down so
   * the subscriber sees no gap to NACK. Only for the newest packet of the current layer; a late
   * one leaves its place empty.
   */
  hide(seq: number, from: Producer): void {
    if (this.closed || !this.active || this.paused || !this.started || from !== this.current) return;
    if (!seqNewer(seq, this.newestIn)) return;
    // Inputs up to the skipped one keep the old offset (the skipped one itself is never sent;
    // ones between the newest and it are still missing and may come late).
    this.recordShift(seq, false);
    this.newestIn = seq;
    this.seqDelta = (this.seqDelta - 1) & 0xffff;
    this.skipped++;
  }

  /**
   * Notes that `seqDelta` is about to change for inputs after `lastIn`. With `merge`, a change
   * after the same input as the last one keeps the last one (its offset is the older).
   */
  private recordShift(lastIn: number, merge = true): void {
    if (merge && this.shifts > 0 && this.shiftIn[(this.shifts - 1) % SHIFTS] === lastIn) return;
    const i = this.shifts % SHIFTS;
    if (this.shifts >= SHIFTS) this.shiftFloor = this.shiftIn[i]!;
    this.shiftIn[i] = lastIn;
    this.shiftDelta[i] = this.seqDelta;
    this.shifts++;
  }

  /** The offset input `seq` (older than the newest) was, or would have been, sent with; -1 if no longer known. */
  private deltaFor(seq: number): number {
    if (this.shiftFloor >= 0 && !seqNewer(seq, this.shiftFloor)) return -1;
    let delta = this.seqDelta;
    const oldest = Math.max(0, this.shifts - SHIFTS);
    for (let n = this.shifts - 1; n >= oldest; n--) {
      const i = n % SHIFTS;
      if (seqNewer(seq, this.shiftIn[i]!)) break;
      delta = this.shiftDelta[i]!;
    }
    return delta;
  }

  /**
   * Writes an RFC 3550 §5.1 header (no CSRCs) into the history slot of `seq`, with our transport-cc
   * extension (RFC 8285 one-byte form, sequence number stamped by the sink) when the sink has one.
   * @returns the slot's offset in the slab
   */
  private writeHeader(seq: number, ts: number, marker: boolean, padding: number): number {
    const off = (seq % HISTORY) * MAX_RTP;
    const b = this.slab;
    const id = this.sink.twccExtId ?? 0;
    b[off] = 0x80 | (padding ? 0x20 : 0) | (id ? 0x10 : 0);
    b[off + 1] = (marker ? 0x80 : 0) | this.payloadType;
    b.writeUInt16BE(seq, off + 2);
    b.writeUInt32BE(ts, off + 4);
    b.writeUInt32BE(this.ssrc, off + 8);
    if (id) {
      b.writeUInt32BE(0xbede0001, off + 12);
      b[off + 16] = (id << 4) | 1;
      b.writeUInt16BE(0, off + TWCC_SEQ_OFFSET);
      b[off + 19] = 0;
    }
    return off;
  }

  private commit(seq: number, length: number): void {
    const slot = seq % HISTORY;
    this.lengths[slot] = length;
    this.seqs[slot] = seq;
    this.lastSeq = seq;
    this.outSeq = (seq + 1) & 0xffff;
  }

  /**
   * Sends one padding-only packet of about `bytes` (RFC 3550 §5.1 P bit; a bandwidth probe, as
   * LiveKit and libwebrtc probe): the next sequence number, the last timestamp, no payload, so the
   * receiver counts it in its transport feedback and discards it. Only on a video consumer that
   * already forwards (a decoder is running), never while paused. Later media packets shift by one
   * sequence number so none collides with the padding.
   * @returns bytes put on the wire (0 if nothing was sent)
   */
  sendPadding(bytes: number): number {
    if (this.closed || !this.active || this.paused || !this.started || this.producer.kind !== 'video') return 0;
    const pad = Math.max(1, Math.min(255, Math.round(bytes)));
    const ext = this.sink.twccExtId ? TWCC_EXT_BYTES : 0;
    const seq = this.outSeq;
    const off = this.writeHeader(seq, this.lastTsOut, false, pad);
    const start = off + 12 + ext;
    this.slab.fill(0, start, start + pad - 1);
    this.slab[start + pad - 1] = pad;
    const length = 12 + ext + pad;
    this.commit(seq, length);
    this.recordShift(this.newestIn);
    this.seqDelta = (this.seqDelta + 1) & 0xffff;
    this.padded++;
    this.send(off, length);
    return length + this.sink.overhead;
  }

  /**
   * Pauses (no packets) or resumes. A resumed video consumer restarts at the next keyframe with
   * its sequence numbers continuing where they stopped, and asks the producer for one.
   */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (!paused && this.producer.kind === 'video') {
      this.started = false;
      this.desiredLayer().requestKeyframe();
    }
  }

  /** Starts forwarding (the subscriber's answer is applied); video waits for a keyframe, requested now. */
  activate(): void {
    if (this.active || this.closed) return;
    this.active = true;
    if (this.producer.kind === 'video') this.desiredLayer().requestKeyframe();
  }

  private send(off: number, length: number): void {
    if (this.sink.sendRtpFrom) {
      this.sink.sendRtpFrom(this.slab, off, length);
      return;
    }
    // The socket may hold the buffer after send returns: encrypt into a fresh one.
    const out = Buffer.allocUnsafe(length + this.sink.overhead);
    this.slab.copy(out, 0, off, off + length);
    this.sink.sendRtp(out, length);
  }

  /**
   * Sends the packet of one history slot again: on the RTX stream when negotiated (RFC 4588 §4:
   * the same header with the RTX SSRC, payload type and sequence number, then the original
   * sequence number, then the original payload; a padding-only probe becomes an RTX packet with
   * just the original sequence number), else as it was.
   */
  private retransmit(slot: number): void {
    const off = slot * MAX_RTP;
    const length = this.lengths[slot]!;
    this.retransmitted++;
    const rtx = this.rtx;
    if (!rtx) {
      this.send(off, length);
      return;
    }
    const b = this.slab;
    const header = 12 + (b[off]! & 0x10 ? TWCC_EXT_BYTES : 0);
    const pad = b[off]! & 0x20 ? b[off + length - 1]! : 0;
    const payload = Math.max(0, length - header - pad);
    const rtxLength = header + 2 + payload;
    const out = Buffer.allocUnsafe(rtxLength + this.sink.overhead);
    b.copy(out, 0, off, off + header);
    out[0] = b[off]! & ~0x20;
    out[1] = (b[off + 1]! & 0x80) | rtx.payloadType;
    out.writeUInt16BE(this.rtxSeq, 2);
    this.rtxSeq = (this.rtxSeq + 1) & 0xffff;
    out.writeUInt32BE(rtx.ssrc >>> 0, 8);
    out.writeUInt16BE(this.seqs[slot]!, header);
    b.copy(out, header + 2, off + header, off + header + payload);
    this.rtxSent++;
    this.sink.sendRtp(out, rtxLength);
  }

  /** RTCP from the subscriber's transport: NACKs for this SSRC are answered, PLI/FIR passed on. */
  handleRtcp(p: RtcpPacket): void {
    if (this.closed) return;
    const { type, feedback: f } = p as unknown as FeedbackLike;
    // RTPFB (205) generic NACK (FMT 1), or PSFB (206) PLI (FMT 1) / FIR (FMT 4, SSRCs in entries).
    if (type === 205 && f?.count === 1 && f.mediaSourceSsrc === this.ssrc && Array.isArray(f.lost)) {
      this.nacksReceived++;
      for (const seq of f.lost.slice(0, 64)) {
        const slot = seq % HISTORY;
        if (this.seqs[slot] === seq && this.lengths[slot]! > 0) this.retransmit(slot);
      }
    } else if (type === 206 && ((f?.count === 1 && f.mediaSsrc === this.ssrc) || (f?.count === 4 && f.fir?.some((e) => e.ssrc === this.ssrc)))) {
      this.keyframeRequests++;
      (this.current ?? this.desiredLayer()).requestKeyframe();
    }
  }

  /** Stops forwarding and leaves the producer. Idempotent; the sink stays open (the transport owns it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.layers) l.remove(this);
  }

  /**
   * What an RTCP sender report of this consumer's stream says at `nowPerf` (performance.now()):
   * the wall clock (NTP) and the RTP time of the same instant, from the last sender report of the
   * layer it forwards mapped through its own timestamp offset and carried forward to now, and its
   * packet and octet counts. Undefined before it forwards, or before that layer's publisher sent
   * a report. Audio and video of one publisher map through the publisher's one NTP clock, so a
   * subscriber can synchronise them.
   */
  senderReport(nowPerf: number): { ntpHi: number; ntpLo: number; rtp: number; packets: number; octets: number } | undefined {
    const p = this.current;
    const sr = p?.senderReport;
    if (this.closed || !this.started || !p || !sr) return undefined;
    const elapsed = Math.max(0, nowPerf - sr.atMs);
    const rtp = (sr.rtp + this.tsDelta + Math.round(elapsed * (p.kind === 'video' ? 90 : 48))) >>> 0;
    const frac = sr.ntpLo + Math.round((elapsed / 1000) * 0x100000000);
    return { ntpHi: (sr.ntpHi + Math.floor(frac / 0x100000000)) >>> 0, ntpLo: frac % 0x100000000 >>> 0, rtp, packets: (this.forwarded + this.padded) >>> 0, octets: this.octets >>> 0 };
  }

  /** Updates `bitrate` from the payload bytes sent since the last call (the router's tick). */
  updateRate(now = Date.now()): void {
    if (this.rateAt > 0 && now > this.rateAt) this.bitrate = Math.round(((this.octets - this.rateOctets) * 8 * 1000) / (now - this.rateAt));
    this.rateOctets = this.octets;
    this.rateAt = now;
  }

  /** Last sequence number sent (-1 before the first). */
  get lastSequence(): number {
    return this.lastSeq;
  }
}

/** One received stream (audio, or one video layer) and its consumers. */
export class Producer {
  private readonly consumers = new Set<Consumer>();
  private lastPli = -Infinity;
  private pliTimer: ReturnType<typeof setTimeout> | undefined;
  /** The SSRC packets arrive with (learned from the first packet when not signaled). */
  ssrc: number | undefined;
  received = 0;
  /** Bytes of RTP payload received (for rate statistics). */
  bytes = 0;
  keyframes = 0;
  /** When the last packet arrived (ms); a layer without packets for LAYER_LIVE_MS is not forwarded. */
  lastPacketAt = -Infinity;
  /** Frame size from the last VP8 keyframe (0 until one arrived). */
  width = 0;
  height = 0;
  /** Called when a keyframe shows a new frame size. */
  onSize: ((width: number, height: number) => void) | undefined;
  /** Payload bits per second over the last rate period (the router's tick sets it). */
  bitrate = 0;
  /** `bitrate` smoothed over a few periods (keyframes make single periods spiky): what the allocator uses. */
  bitrateSmoothed = 0;
  private rateBytes = 0;
  private rateAt = 0;
  /** PLIs sent to the publisher. */
  plis = 0;
  /** Speech detection from the packets' audio levels (audio producers whose publisher sends them). */
  readonly audioLevel: AudioLevelMeter | undefined;
  /**
   * The publisher's lost packets (video): the router polls it and sends the NACKs; a packet that
   * arrives for one of them (a retransmission) counts as `nack.recovered`.
   */
  readonly nack: NackGenerator | undefined;
  /** RFC 3550 receive statistics of the stream: the report block of the router's RRs to the publisher. */
  receiveStats: ReceiverStatistics | undefined;
  /** The VP8 descriptor of the packet being fanned out (parsed once; valid while `vp8Valid`). */
  readonly vp8 = new Vp8Descriptor();
  vp8Valid = false;
  /** Video packets whose VP8 descriptor did not parse (forwarded as they are). */
  badVp8 = 0;
  /** What the publisher sends (from the publish answer); consumers send the same. */
  codec: 'VP8' | 'H264' | 'opus';
  /** The payload type the publisher sends it with (-1: any); packets with another are dropped. */
  payloadType = -1;
  /** H.264 packetization mode of the publisher's stream (RFC 6184). */
  packetizationMode: 0 | 1 = 1;
  /** Packets dropped for a payload type other than the negotiated codec's. */
  wrongPayloadType = 0;
  /** Padding-only packets received (not forwarded: consumers hide their sequence numbers). */
  paddingOnly = 0;
  /** Held back by the publisher's bitrate cap (publish-cap.ts): not forwarded to anyone. */
  capped = false;
  /** Dynacast paused this layer at the publisher (nobody receives it); see {@link setDynacastPaused}. */
  dynacastPaused = false;
  /** Smoothed bitrate when dynacast paused it: what the layer will cost once it is back. */
  private pausedBitrate = 0;
  /** A resumed layer counts as available until its packets are due (ms since epoch). */
  private availableUntil = 0;
  /** When dynacast last resumed this layer (ms since epoch). */
  private resumedAt = 0;
  /** A layer resumed without ever sending is not tried again before this (ms since epoch). */
  private retryAfter = 0;
  /**
   * The last RTCP sender report of this stream (NTP seconds and fraction, the RTP timestamp of the
   * same instant, when it arrived): the recorder's lip-sync clock mapping.
   */
  senderReport: { ntpHi: number; ntpLo: number; rtp: number; atMs: number } | undefined;
  /** Called with every sender report of this stream (the recorder). */
  readonly srTaps = new Set<(sr: { ntpHi: number; ntpLo: number; rtp: number; atMs: number }) => void>();
  /** Called with every packet before the consumers (the recorder; it keeps nothing of `rtp` past the call). */
  readonly taps = new Set<(rtp: RtpPacket) => void>();
  closed = false;
  private readonly closeListeners: (() => void)[] = [];

  /**
   * @param id stable id (the track id subscribers see)
   * @param kind audio packets are forwarded from the first; video from a keyframe
   * @param source the publisher's transport, asked for keyframes
   */
  constructor(
    readonly id: string,
    readonly kind: 'audio' | 'video',
    private readonly source: KeyframeSource,
    ssrc?: number,
  ) {
    this.ssrc = ssrc;
    this.codec = kind === 'audio' ? 'opus' : 'VP8';
    if (kind === 'audio') this.audioLevel = new AudioLevelMeter();
    // Not further back than a consumer's history (HISTORY packets, ~1.5 s of 720p): a consumer
    // drops a repaired packet older than that.
    else this.nack = new NackGenerator({ maxAge: HISTORY - 16, maxMissing: 200 });
  }

  /** One decrypted RTP packet of this stream. */
  push(rtp: RtpPacket): void {
    if (this.closed) return;
    if (this.payloadType >= 0 && rtp.header.payloadType !== this.payloadType) {
      this.wrongPayloadType++;
      return;
    }
    this.received++;
    this.bytes += rtp.payload.length;
    this.ssrc = rtp.header.ssrc;
    this.lastPacketAt = Date.now();
    if (rtp.payload.length === 0) {
      // Padding only (a bandwidth probe on the media SSRC, sent by publishers without RTX): not
      // missing, not forwarded; each consumer hides its sequence number.
      this.paddingOnly++;
      const now = performance.now();
      this.nack?.onPacket(rtp.header.sequenceNumber, now, false);
      if (this.receiveStats?.ssrc === rtp.header.ssrc >>> 0) this.receiveStats.onPacket(rtp.header.sequenceNumber, rtp.header.timestamp, now);
      for (const c of this.consumers) c.hide(rtp.header.sequenceNumber, this);
      return;
    }
    let key = this.kind === 'audio';
    if (this.codec === 'VP8') {
      try {
        this.vp8.parse(rtp.payload, 0, rtp.payload.length);
        this.vp8Valid = true;
      } catch {
        this.vp8Valid = false;
        this.badVp8++;
      }
      key = this.vp8Valid && this.vp8.keyframe;
    } else if (this.codec === 'H264') {
      // A switching point: an IDR or SPS starting in this packet (single NAL, STAP-A, first FU-A).
      key = isH264Keyframe(rtp.payload, 0, rtp.payload.length, this.packetizationMode);
    }
    const now = performance.now();
    this.nack?.onPacket(rtp.header.sequenceNumber, now, key);
    if (this.receiveStats?.ssrc !== rtp.header.ssrc >>> 0) this.receiveStats = new ReceiverStatistics(rtp.header.ssrc, this.kind === 'video' ? 90_000 : 48_000);
    this.receiveStats.onPacket(rtp.header.sequenceNumber, rtp.header.timestamp, now);
    if (key && this.kind === 'video') {
      this.keyframes++;
      const size = this.codec === 'VP8' ? vp8KeyframeSize(rtp.payload) : undefined;
      if (size && (size.width !== this.width || size.height !== this.height)) {
        this.width = size.width;
        this.height = size.height;
        this.onSize?.(size.width, size.height);
      }
    }
    for (const t of this.taps) t(rtp);
    if (this.consumers.size === 0) return;
    for (const c of this.consumers) c.forward(rtp, key, this);
  }

  /**
   * Whether a consumer's bandwidth allocation may plan on this layer: it has packets (within
   * {@link LAYER_LIVE_MS}), or it is only paused by dynacast (the publisher resumes it on demand),
   * or it was just resumed and its first packets are on the way.
   */
  available(now = Date.now()): boolean {
    if (this.capped) return false;
    if (now - this.lastPacketAt <= LAYER_LIVE_MS || now < this.availableUntil) return true;
    // A paused layer that never had a rate may be one the publisher's encoder had not ramped up to
    // yet when dynacast paused it: it is planned on (and so resumed when granted), but once a resume
    // brought no packets it waits DYNACAST_RETRY_MS before it is tried again.
    return this.dynacastPaused && (this.pausedBitrate > 0 || now >= this.retryAfter);
  }

  /**
   * What the layer costs for allocation (bps of payload): its rate, or the rate it had before a
   * pause, or {@link UNPROVEN_LAYER_BPS} for a paused or resumed layer that never had one.
   */
  allocationBitrate(now = Date.now()): number {
    if (this.dynacastPaused || now < this.availableUntil) return Math.max(this.pausedBitrate, this.bitrateSmoothed) || UNPROVEN_LAYER_BPS;
    return this.bitrateSmoothed;
  }

  /** Marks the layer paused or resumed at the publisher by dynacast (the router tells the publisher). */
  setDynacastPaused(paused: boolean, now = Date.now()): void {
    if (paused === this.dynacastPaused) return;
    this.dynacastPaused = paused;
    if (paused) {
      if (this.bitrateSmoothed > 0) this.pausedBitrate = this.bitrateSmoothed;
      else if (this.resumedAt > 0 && this.lastPacketAt < this.resumedAt) this.retryAfter = now + DYNACAST_RETRY_MS;
    } else {
      this.availableUntil = now + 2 * LAYER_LIVE_MS;
      this.resumedAt = now;
    }
  }

  /** An RTCP sender report of this stream (from the publish transport). */
  onSenderReport(ntpHi: number, ntpLo: number, rtp: number): void {
    if (this.closed) return;
    const sr = { ntpHi: ntpHi >>> 0, ntpLo: ntpLo >>> 0, rtp: rtp >>> 0, atMs: performance.now() };
    this.senderReport = sr;
    this.receiveStats?.onSenderReport(sr.ntpHi, sr.ntpLo, sr.atMs);
    for (const t of this.srTaps) t(sr);
  }

  /** Updates `bitrate` from the bytes since the last call. */
  updateRate(now = Date.now()): void {
    if (this.rateAt > 0 && now > this.rateAt) {
      this.bitrate = Math.round(((this.bytes - this.rateBytes) * 8 * 1000) / (now - this.rateAt));
      this.bitrateSmoothed = this.bitrateSmoothed === 0 ? this.bitrate : Math.round(0.6 * this.bitrateSmoothed + 0.4 * this.bitrate);
    }
    this.rateBytes = this.bytes;
    this.rateAt = now;
  }

  add(c: Consumer): void {
    if (this.closed) return;
    this.consumers.add(c);
    if (c.active) this.requestKeyframe();
  }

  remove(c: Consumer): void {
    this.consumers.delete(c);
  }

  get consumerCount(): number {
    return this.consumers.size;
  }

  /** The consumers (read-only view, for stats). */
  get consumerList(): readonly Consumer[] {
    return [...this.consumers];
  }

  /**
   * Asks the publisher for a keyframe (PLI): at once, or — within {@link PLI_INTERVAL_MS} of the
   * last one — once when the interval is over, so no request is lost and none is repeated.
   */
  requestKeyframe(now = Date.now()): void {
    if (this.kind !== 'video' || this.closed || this.pliTimer) return;
    const wait = this.lastPli + PLI_INTERVAL_MS - now;
    if (wait > 0) {
      this.pliTimer = setTimeout(() => {
        this.pliTimer = undefined;
        this.requestKeyframe();
      }, wait);
      this.pliTimer.unref?.();
      return;
    }
    if (this.ssrc === undefined) return;
    this.lastPli = now;
    this.plis++;
    this.source.requestKeyframe(this.ssrc);
  }

  /** Registers `f` to run once when the producer closes. */
  onClose(f: () => void): void {
    if (this.closed) f();
    else this.closeListeners.push(f);
  }

  /** Closes every consumer, then tells the listeners. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pliTimer) clearTimeout(this.pliTimer);
    for (const c of [...this.consumers]) c.close();
    for (const f of this.closeListeners.splice(0)) f();
  }
}
