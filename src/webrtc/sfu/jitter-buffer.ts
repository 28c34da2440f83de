/**
 * A receive-side jitter buffer for recording and other server-side consumers of RTP: reorders by
 * (wrap-safe) sequence number, assembles frames (same timestamp, ending with the marker bit),
 * emits a frame only once it is complete and everything before it was emitted or given up, waits
 * for missing packets until an adaptive playout deadline (k × RFC 3550 interarrival jitter,
 * clamped), then drops the incomplete frame and reports the gap so the caller can ask for a
 * keyframe. Bounded: past maxPackets or maxFrames the oldest frame is dropped and reported.
 * Pure: the caller passes nowMs to push and pop.
 */

/** The minimal packet shape the buffer needs (an RtpPacket fits structurally). */
export interface JitterPacket {
  /** 16-bit RTP sequence number. */
  seq: number;
  /** 32-bit RTP timestamp. */
  timestamp: number;
  marker: boolean;
  /** Set on the first packet of a keyframe (from the codec parser); lets a frame after a gap be trusted. */
  keyframe?: boolean;
}

/** One complete frame. */
export interface Frame<P extends JitterPacket = JitterPacket> {
  timestamp: number;
  /** Packets in sequence order. */
  packets: P[];
  /** Extended sequence numbers of the first and last packet. */
  firstSeq: number;
  lastSeq: number;
  keyframe: boolean;
  /** Packets skipped (lost or dropped) between the previous emitted frame and this one. */
  gapBefore: number;
}

/** Options of {@link JitterBuffer}. */
export interface JitterBufferOptions {
  /** RTP clock rate (Hz). @default 90000 */
  clockRate?: number;
  /** Target delay = k × jitter. @default 3 */
  jitterFactor?: number;
  /** @default 10 */
  minDelayMs?: number;
  /** @default 500 */
  maxDelayMs?: number;
  /** Added to the target (e.g. an RTT so a NACKed retransmission can still make it). @default 0 */
  extraDelayMs?: number;
  /** @default 1000 */
  maxPackets?: number;
  /** @default 120 */
  maxFrames?: number;
  /**
   * After a gap, emit nothing until a keyframe start (video: delta frames after a loss do not
   * decode). Off for audio, where each packet is a frame and any packet is a valid restart.
   * @default true
   */
  requireKeyframeAfterGap?: boolean;
}

/** Counters of {@link JitterBuffer}. */
export interface JitterBufferStats {
  received: number;
  duplicates: number;
  late: number;
  framesEmitted: number;
  framesDropped: number;
  /** Packets discarded: incomplete frames past the deadline, overflow, and gaps skipped. */
  packetsDropped: number;
  overflows: number;
  /** RFC 3550 interarrival jitter (ms). */
  jitterMs: number;
  targetDelayMs: number;
}

interface Slot<P> {
  packet: P;
  arrivalMs: number;
}

/** Reordering, frame-assembling, bounded jitter buffer. */
export class JitterBuffer<P extends JitterPacket = JitterPacket> {
  private readonly o: Required<JitterBufferOptions>;
  private readonly slots = new Map<number, Slot<P>>();
  private highest: number | undefined;
  /** Next extended seq to emit from; undefined until the first packet. */
  private next: number | undefined;
  /** After a gap, the first frame's start is not proven by a preceding marker. */
  private gap = 0;
  private needKeyframe = false;
  private started = false;
  private jitter = 0;
  private lastTransit: number | undefined;
  private readonly s: JitterBufferStats;

  constructor(options: JitterBufferOptions = {}) {
    this.o = { clockRate: 90000, jitterFactor: 3, minDelayMs: 10, maxDelayMs: 500, extraDelayMs: 0, maxPackets: 1000, maxFrames: 120, requireKeyframeAfterGap: true, ...options };
    this.s = { received: 0, duplicates: 0, late: 0, framesEmitted: 0, framesDropped: 0, packetsDropped: 0, overflows: 0, jitterMs: 0, targetDelayMs: this.targetDelayMs };
  }

  /** Current playout deadline for missing packets (ms after the first waiting packet arrived). */
  get targetDelayMs(): number {
    const t = this.o.jitterFactor * this.jitter + this.o.extraDelayMs;
    return Math.min(Math.max(t, this.o.minDelayMs), this.o.maxDelayMs);
  }

  /** Whether a frame was dropped since the last keyframe was emitted (send a PLI/FIR). */
  get keyframeNeeded(): boolean {
    return this.needKeyframe;
  }

  /** A snapshot of the counters. */
  get stats(): JitterBufferStats {
    return { ...this.s, jitterMs: this.jitter, targetDelayMs: this.targetDelayMs };
  }

  /** Packets held now. */
  get size(): number {
    return this.slots.size;
  }

  private unwrap(seq: number): number {
    const s = seq & 0xffff;
    if (this.highest === undefined) return s + 0x10000 * 16; // room below for reordering
    const diff = ((s - (this.highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    return this.highest + diff;
  }

  /**
   * Adds one packet.
   * @returns 'ok', 'duplicate' or 'late' (its frame was already emitted or given up)
   */
  push(packet: P, nowMs: number): 'ok' | 'duplicate' | 'late' {
    const ext = this.unwrap(packet.seq);
    // Until the first frame is emitted or given up, an earlier packet moves the start back.
    if (this.next !== undefined && ext < this.next && !this.started && this.next - ext < this.o.maxPackets) this.next = ext;
    if (this.next !== undefined && ext < this.next) {
      this.s.late += 1;
      return 'late';
    }
    if (this.slots.has(ext)) {
      this.s.duplicates += 1;
      return 'duplicate';
    }
    this.s.received += 1;
    this.slots.set(ext, { packet, arrivalMs: nowMs });
    this.next ??= ext;
    if (this.highest === undefined || ext > this.highest) {
      // RFC 3550 A.8 on in-order packets, in ms.
      const transit = nowMs - ((packet.timestamp >>> 0) * 1000) / this.o.clockRate;
      if (this.lastTransit !== undefined) {
        let d = Math.abs(transit - this.lastTransit);
        const wrapMs = (0x100000000 * 1000) / this.o.clockRate;
        if (d > wrapMs / 2) d = Math.abs(d - wrapMs);
        this.jitter += (d - this.jitter) / 16;
      }
      this.lastTransit = transit;
      this.highest = ext;
    }
    this.enforceBounds();
    return 'ok';
  }

  private sortedSeqs(): number[] {
    return [...this.slots.keys()].sort((a, b) => a - b);
  }

  private enforceBounds(): void {
    while (this.slots.size > this.o.maxPackets || this.frameCount() > this.o.maxFrames) {
      this.s.overflows += 1;
      this.dropHeadFrame();
    }
  }

  private frameCount(): number {
    const ts = new Set<number>();
    for (const s of this.slots.values()) ts.add(s.packet.timestamp);
    return ts.size;
  }

  /** Drops the oldest frame (all packets sharing the head packet's timestamp) and skips past it. */
  private dropHeadFrame(): void {
    const seqs = this.sortedSeqs();
    const head = seqs[0];
    if (head === undefined || this.next === undefined) return;
    const ts = this.slots.get(head)?.packet.timestamp;
    let last = head;
    for (const q of seqs) {
      const slot = this.slots.get(q);
      if (slot === undefined || slot.packet.timestamp !== ts) break;
      last = q;
    }
    for (const q of seqs) {
      if (q > last) break;
      this.slots.delete(q);
    }
    const dropped = last + 1 - this.next;
    this.s.packetsDropped += dropped;
    this.s.framesDropped += 1;
    this.gap += dropped;
    this.next = last + 1;
    this.needKeyframe = true;
    this.started = true;
  }

  /** Emits every frame that is ready at nowMs, in order; gives up on frames past the deadline. */
  pop(nowMs: number): Frame<P>[] {
    const out: Frame<P>[] = [];
    for (;;) {
      if (this.next === undefined || this.slots.size === 0) return out;
      const frame = this.completeFrameAt(this.next);
      if (frame !== undefined) {
        for (let q = frame.firstSeq; q <= frame.lastSeq; q++) this.slots.delete(q);
        this.next = frame.lastSeq + 1;
        frame.gapBefore = this.gap;
        this.gap = 0;
        if (frame.keyframe) this.needKeyframe = false;
        this.s.framesEmitted += 1;
        this.started = true;
        out.push(frame);
        continue;
      }
      // Not ready: wait for the oldest waiting packet's deadline, then give up on its frame.
      let oldest = Infinity;
      for (const s of this.slots.values()) oldest = Math.min(oldest, s.arrivalMs);
      if (nowMs - oldest < this.targetDelayMs) return out;
      const head = this.sortedSeqs()[0];
      if (head === undefined) return out;
      if (head > this.next && this.startsFrame(head)) {
        // The missing packets are a whole frame we never saw: skip them, keep this frame.
        this.s.packetsDropped += head - this.next;
        this.gap += head - this.next;
        this.s.framesDropped += 1;
        this.needKeyframe = true;
        this.started = true;
        this.next = head;
        continue;
      }
      this.dropHeadFrame();
    }
  }

  /** Whether `seq` may start the next frame after a gap: a keyframe start, or any packet when keyframes are not required. */
  private startsFrame(seq: number): boolean {
    const p = this.slots.get(seq);
    return p !== undefined && (p.packet.keyframe === true || !this.o.requireKeyframeAfterGap);
  }

  private completeFrameAt(start: number): Frame<P> | undefined {
    const first = this.slots.get(start);
    if (first === undefined) return undefined;
    // At the start and after a gap the first packet here might be the middle of a frame (or a
    // delta frame the decoder cannot use): in video mode, trust it only as a keyframe start.
    if ((this.gap > 0 || !this.started) && !this.startsFrame(start)) return undefined;
    const packets: P[] = [];
    for (let q = start; ; q++) {
      const s = this.slots.get(q);
      if (s === undefined || s.packet.timestamp !== first.packet.timestamp) return undefined;
      packets.push(s.packet);
      if (s.packet.marker) {
        return { timestamp: first.packet.timestamp, packets, firstSeq: start, lastSeq: q, keyframe: first.packet.keyframe === true, gapBefore: 0 };
      }
      if (packets.length > this.o.maxPackets) return undefined;
    }
  }
}
