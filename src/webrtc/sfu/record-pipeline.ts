/**
 * The pure part of recording (issue 12 item 5): RTP packets of one participant's tracks →
 * our jitter buffer (reorder, loss, keyframe after a gap) → VP8 / Opus depacketized into frames →
 * times on the sender's NTP clock (RTCP sender reports map each track's RTP clock, so audio and
 * video line up: lip-sync) → frames of all tracks interleaved in time order → a {@link FrameSink}
 * (the WebM writer, webm-writer.ts). No I/O, no timers: the live recorder (recorder.ts) and the
 * remux of a raw dump (rtp-dump.ts) drive the same {@link RecordingMuxer} with their own times.
 */
import { JitterBuffer, type JitterPacket } from './jitter-buffer.ts';
import { Vp8Descriptor } from './rtp/vp8.ts';

export type RecordKind = 'audio' | 'video';

/** One RTP packet as the recorder keeps it. */
export interface RecPacket extends JitterPacket {
  payload: Buffer;
}

/** A depacketized frame with its time on the file's timeline (ms). */
export interface MediaFrame {
  kind: RecordKind;
  data: Buffer;
  keyframe: boolean;
  /** Sender NTP time in ms (lip-synced across the file's tracks). */
  timeMs: number;
  /** Packets lost right before this frame (from the jitter buffer). */
  gapBefore: number;
}

/** NTP timestamp (RFC 3550 §4: seconds since 1900, 32.32 fixed point) → milliseconds. */
export function ntpToMs(hi: number, lo: number): number {
  return (hi >>> 0) * 1000 + ((lo >>> 0) * 1000) / 0x100000000;
}

/** A 64-bit NTP timestamp as a bigint (werift's RtcpSenderInfo.ntpTimestamp) → milliseconds. */
export function ntpBigIntToMs(ntp: bigint): number {
  return ntpToMs(Number((ntp >> 32n) & 0xffffffffn), Number(ntp & 0xffffffffn));
}

/**
 * Maps one stream's RTP timestamps to the sender's NTP clock from its sender reports (RFC 3550
 * §6.4.1: an SR pairs an NTP time with the RTP time of the same instant). RTP timestamps are
 * unwrapped (32-bit), so a recording runs across a wrap. The first SR anchors the mapping; later
 * SRs only move it when they disagree by more than `resyncMs` (the sender restarted its clock), so
 * frame times stay smooth and monotone rather than jumping by each SR's rounding.
 */
export class SenderClock {
  private anchorNtp = 0;
  private anchorRtp = 0;
  private anchored = false;
  /** Extended RTP timestamp of the last one unwrapped. */
  private lastExt: number | undefined;
  /** Sender reports that moved the anchor after the first. */
  resyncs = 0;
  /** Sender reports seen. */
  reports = 0;

  constructor(
    readonly clockRate: number,
    readonly resyncMs = 30,
  ) {}

  get hasMapping(): boolean {
    return this.anchored;
  }

  private unwrap(ts: number): number {
    const t = ts >>> 0;
    if (this.lastExt === undefined) {
      this.lastExt = t;
      return t;
    }
    const low = ((this.lastExt % 0x100000000) + 0x100000000) % 0x100000000;
    let d = t - low;
    if (d > 0x7fffffff) d -= 0x100000000;
    else if (d < -0x80000000) d += 0x100000000;
    const ext = this.lastExt + d;
    if (ext > this.lastExt) this.lastExt = ext;
    return ext;
  }

  /** One sender report: NTP time (ms) and the RTP timestamp of the same instant. */
  onSenderReport(ntpMs: number, rtpTs: number): void {
    this.reports++;
    const ext = this.unwrap(rtpTs);
    if (!this.anchored) {
      this.anchored = true;
      this.anchorNtp = ntpMs;
      this.anchorRtp = ext;
      return;
    }
    const predicted = this.anchorNtp + ((ext - this.anchorRtp) * 1000) / this.clockRate;
    if (Math.abs(predicted - ntpMs) > this.resyncMs) {
      this.resyncs++;
      this.anchorNtp = ntpMs;
      this.anchorRtp = ext;
    }
  }

  /** Anchors without a sender report (the caller's estimate of this instant's NTP time). */
  anchorAt(ntpMs: number, rtpTs: number): void {
    if (this.anchored) return;
    this.anchored = true;
    this.anchorNtp = ntpMs;
    this.anchorRtp = this.unwrap(rtpTs);
  }

  /** Sender NTP time (ms) of `rtpTs`, or undefined before any mapping. */
  toNtpMs(rtpTs: number): number | undefined {
    const ext = this.unwrap(rtpTs);
    if (!this.anchored) return undefined;
    return this.anchorNtp + ((ext - this.anchorRtp) * 1000) / this.clockRate;
  }
}

/** Width and height from a VP8 keyframe's uncompressed header (RFC 6386 §9.1), or undefined. */
export function vp8FrameSize(frame: Buffer): { width: number; height: number } | undefined {
  if (frame.length < 10 || (frame[0]! & 1) !== 0 || frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return undefined;
  return { width: frame.readUInt16LE(6) & 0x3fff, height: frame.readUInt16LE(8) & 0x3fff };
}

const desc = new Vp8Descriptor();

/**
 * Joins the packets of one VP8 frame (RFC 7741): each payload without its descriptor, in order.
 * Refuses (undefined) a frame whose first packet does not start partition 0 or whose descriptor
 * does not parse — the decoder could not use it.
 */
export function assembleVp8(packets: readonly { payload: Buffer }[]): { data: Buffer; keyframe: boolean } | undefined {
  const parts: Buffer[] = [];
  let keyframe = false;
  for (const [i, p] of packets.entries()) {
    try {
      desc.parse(p.payload, 0, p.payload.length);
    } catch {
      return undefined;
    }
    if (i === 0) {
      if (!desc.start || desc.partitionId !== 0) return undefined;
      keyframe = desc.keyframe;
    }
    parts.push(p.payload.subarray(desc.length));
  }
  if (parts.length === 0) return undefined;
  return { data: parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts), keyframe };
}

/** Whether a VP8 RTP payload starts a keyframe (for the jitter buffer's restart rule). */
export function vp8PacketIsKeyframeStart(payload: Buffer): boolean {
  try {
    return desc.parse(payload, 0, payload.length).keyframe;
  } catch {
    return false;
  }
}

/** Counters of one track of a recording. */
export interface TrackRecordStats {
  packets: number;
  frames: number;
  keyframes: number;
  /** Frames the jitter buffer gave up on or the depacketizer refused. */
  framesDropped: number;
  /** Frames too late for the interleaved timeline (dropped). */
  framesLate: number;
  lost: number;
  senderReports: number;
  /** Frames whose time had to move forward to keep the track strictly increasing. */
  timeFixups: number;
}

/** One track: jitter buffer, depacketizer, clock. */
export class TrackPipeline {
  readonly clock: SenderClock;
  private readonly jb: JitterBuffer<RecPacket>;
  private waiting: { frame: Omit<MediaFrame, 'timeMs'>; rtp: number; arrivalMs: number }[] = [];
  private firstArrival: number | undefined;
  private lastArrival = 0;
  private lastTime = -Infinity;
  private refused = 0;
  readonly stats: TrackRecordStats = { packets: 0, frames: 0, keyframes: 0, framesDropped: 0, framesLate: 0, lost: 0, senderReports: 0, timeFixups: 0 };

  /**
   * @param file the owning muxer, whose NTP-minus-arrival offset anchors a track that never got a
   *   sender report (so it stays roughly in sync with the others)
   */
  constructor(
    readonly kind: RecordKind,
    private readonly file: { ntpOffset: number | undefined; srWaitMs: number },
    extraDelayMs = 50,
  ) {
    const clockRate = kind === 'video' ? 90000 : 48000;
    this.clock = new SenderClock(clockRate);
    this.jb = new JitterBuffer<RecPacket>({ clockRate, extraDelayMs, minDelayMs: 20, maxDelayMs: 500, requireKeyframeAfterGap: kind === 'video' });
  }

  /** Whether video needs a keyframe (a frame was lost); the caller asks the publisher (PLI). */
  get keyframeNeeded(): boolean {
    return this.kind === 'video' && (this.jb.keyframeNeeded || this.stats.keyframes === 0);
  }

  push(p: { seq: number; timestamp: number; marker: boolean; payload: Buffer }, arrivalMs: number): void {
    this.stats.packets++;
    this.firstArrival ??= arrivalMs;
    this.lastArrival = arrivalMs;
    // Opus: one packet is one frame; its marker bit means "talkspurt start", not "frame end".
    const keyframe = this.kind === 'audio' || vp8PacketIsKeyframeStart(p.payload);
    this.jb.push({ seq: p.seq, timestamp: p.timestamp >>> 0, marker: this.kind === 'audio' ? true : p.marker, keyframe, payload: p.payload }, arrivalMs);
  }

  onSenderReport(ntpMs: number, rtpTs: number, arrivalMs: number): void {
    this.stats.senderReports++;
    this.clock.onSenderReport(ntpMs, rtpTs);
    this.file.ntpOffset ??= ntpMs - arrivalMs;
  }

  /** Frames ready at `nowMs` with their times (`final`: give up on everything still missing). */
  poll(nowMs: number, final = false): MediaFrame[] {
    for (const f of this.jb.pop(final ? Number.MAX_SAFE_INTEGER : nowMs)) {
      this.stats.lost += f.gapBefore;
      let frame: Omit<MediaFrame, 'timeMs'> | undefined;
      if (this.kind === 'video') {
        const a = assembleVp8(f.packets);
        if (a) frame = { kind: 'video', data: a.data, keyframe: a.keyframe, gapBefore: f.gapBefore };
      } else {
        const payload = f.packets[0]!.payload;
        if (payload.length > 0) frame = { kind: 'audio', data: Buffer.from(payload), keyframe: true, gapBefore: f.gapBefore };
      }
      if (!frame) {
        this.refused++;
        continue;
      }
      // An arrival time for frames mapped without a sender report.
      this.waiting.push({ frame, rtp: f.timestamp, arrivalMs: this.lastArrival });
    }
    this.stats.framesDropped = this.refused + this.jb.stats.framesDropped;
    if (!this.clock.hasMapping) {
      // No sender report yet: wait a little for one (frames are held), then map by arrival.
      const waited = this.firstArrival === undefined ? 0 : nowMs - this.firstArrival;
      if (!final && waited < this.file.srWaitMs) return [];
      const w = this.waiting[0];
      if (!w) return [];
      this.clock.anchorAt(w.arrivalMs + (this.file.ntpOffset ?? 0), w.rtp);
    }
    const out: MediaFrame[] = [];
    for (const w of this.waiting) {
      let t = Math.round(this.clock.toNtpMs(w.rtp)!);
      // Strictly increasing per track (decoders want monotone timestamps; a clock resync moving
      // backwards must not reorder the track).
      if (t <= this.lastTime) {
        t = this.lastTime + 1;
        this.stats.timeFixups++;
      }
      this.lastTime = t;
      this.stats.frames++;
      if (w.frame.keyframe && w.frame.kind === 'video') this.stats.keyframes++;
      out.push({ ...w.frame, timeMs: t });
    }
    this.waiting = [];
    return out;
  }
}

/** Track list of a sink. */
export interface SinkTrack {
  kind: RecordKind;
  width?: number;
  height?: number;
}

/** Where the interleaved frames of one file go (the WebM writer). */
export interface FrameSink {
  open(tracks: SinkTrack[]): void;
  /** `timeMs` is relative to the file's first frame. */
  write(kind: RecordKind, data: Buffer, keyframe: boolean, timeMs: number): void;
  close(): void;
  readonly bytes: number;
}

/** Options of {@link RecordingMuxer}. */
export interface MuxerOptions {
  /** Frames are held this long so that all tracks' frames go out in time order. @default 600 */
  interleaveMs?: number;
  /** How long a track waits for its first sender report before it is mapped by arrival. @default 3000 */
  srWaitMs?: number;
  /** How long the file waits for the first video keyframe before it opens without one. @default 5000 */
  keyframeWaitMs?: number;
}

/**
 * One output file: at most one video and one audio track (WebM as werift writes it), their
 * pipelines, the time-ordered interleaving, and the sink, opened once the first video keyframe is
 * ready (its size goes in the track header) or after `keyframeWaitMs`. Video in the file starts on
 * that keyframe.
 */
export class RecordingMuxer {
  readonly tracks: TrackPipeline[] = [];
  /** NTP-minus-arrival offset seen with the first sender report of any track. */
  ntpOffset: number | undefined;
  readonly srWaitMs: number;
  private readonly interleaveMs: number;
  private readonly keyframeWaitMs: number;
  private queue: MediaFrame[] = [];
  private opened = false;
  private closed = false;
  private baseMs: number | undefined;
  private lastOutMs = -Infinity;
  private firstPollMs: number | undefined;
  private videoStarted = false;
  /** Duration written so far (ms, last frame time relative to the first). */
  durationMs = 0;
  framesWritten = { audio: 0, video: 0 };
  framesLate = 0;

  constructor(
    private readonly sink: FrameSink,
    o: MuxerOptions = {},
  ) {
    this.interleaveMs = o.interleaveMs ?? 600;
    this.srWaitMs = o.srWaitMs ?? 3000;
    this.keyframeWaitMs = o.keyframeWaitMs ?? 5000;
  }

  /** Adds a track (before the first poll that opens the file); returns its index. */
  addTrack(kind: RecordKind): number {
    if (this.opened) throw new Error('recording: the file is already open');
    if (this.tracks.some((t) => t.kind === kind)) throw new Error(`recording: the file has a ${kind} track already`);
    this.tracks.push(new TrackPipeline(kind, this));
    return this.tracks.length - 1;
  }

  /** Whether a track of `kind` can still be added. */
  accepts(kind: RecordKind): boolean {
    return !this.opened && !this.closed && !this.tracks.some((t) => t.kind === kind);
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /** Moves ready frames to the sink. `final`: everything (the recording stops). */
  poll(nowMs: number, final = false): void {
    if (this.closed) return;
    this.firstPollMs ??= nowMs;
    for (const t of this.tracks) for (const f of t.poll(nowMs, final)) this.queue.push(f);
    if (this.queue.length === 0) return;
    this.queue.sort((a, b) => a.timeMs - b.timeMs);
    if (!this.opened) {
      const hasVideo = this.tracks.some((t) => t.kind === 'video');
      const key = this.queue.find((f) => f.kind === 'video' && f.keyframe);
      if (hasVideo && !key && !final && nowMs - this.firstPollMs < this.keyframeWaitMs) {
        // Bounded while waiting: keep the last few seconds of audio.
        if (this.queue.length > 2000) this.queue.splice(0, this.queue.length - 2000);
        return;
      }
      const size = key ? vp8FrameSize(key.data) : undefined;
      this.sink.open(this.tracks.map((t) => (t.kind === 'video' ? { kind: 'video', width: size?.width ?? 640, height: size?.height ?? 360 } : { kind: 'audio' })));
      this.opened = true;
      // Start at the first keyframe: nothing earlier goes in (audio included, so both start together).
      if (key) this.queue = this.queue.filter((f) => f.timeMs >= key.timeMs);
    }
    const newest = this.queue[this.queue.length - 1]!.timeMs;
    const until = final ? Infinity : newest - this.interleaveMs;
    let n = 0;
    for (const f of this.queue) {
      if (f.timeMs > until) break;
      n++;
      if (f.kind === 'video' && !this.videoStarted) {
        if (!f.keyframe) continue;
        this.videoStarted = true;
      }
      if (f.timeMs < this.lastOutMs) {
        this.framesLate++;
        this.tracks.find((t) => t.kind === f.kind)!.stats.framesLate++;
        continue;
      }
      this.baseMs ??= f.timeMs;
      this.lastOutMs = f.timeMs;
      const rel = f.timeMs - this.baseMs;
      this.sink.write(f.kind, f.data, f.keyframe, rel);
      this.framesWritten[f.kind]++;
      this.durationMs = rel;
    }
    this.queue.splice(0, n);
  }

  /** Writes everything still held and closes the sink. Idempotent. */
  finish(nowMs: number): void {
    if (this.closed) return;
    this.poll(nowMs, true);
    this.closed = true;
    if (this.opened) this.sink.close();
  }

  /** The video pipeline wants a keyframe (start, or a lost frame). */
  get keyframeNeeded(): boolean {
    return this.tracks.some((t) => t.keyframeNeeded);
  }
}
