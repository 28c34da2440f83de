/**
 * The SFU's forwarding core, first step (issue 12 item 1): a Producer per received video stream
 * fans each packet out to its Consumers; each Consumer writes its **own copy** with its own SSRC,
 * payload type, sequence numbers (continuous, starting at a keyframe) and timestamps, keeps a
 * bounded history of what it sent, answers NACKs from it, and passes PLIs on to the producer.
 *
 * Not yet here (see docs/sfu.md "Status"): simulcast layer switching, RTX, VP8 picture-ID
 * rewriting (a single-layer stream needs none), header extensions (dropped, so no TWCC yet),
 * bandwidth estimation, receiver reports to the publisher.
 */
import type { RtcpPacket, RtpPacket } from 'werift';
import type { WeriftPeer } from './werift-adapter.ts';

/** Largest RTP packet forwarded (RFC 3550 over a 1500-byte MTU path). */
export const MAX_RTP = 1500;
/** Packets of history per consumer for retransmissions (≈2.5 s at 100 packets/s). */
export const HISTORY = 256;

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
  feedback?: { count?: number; mediaSourceSsrc?: number; mediaSsrc?: number; lost?: number[] };
}

/** One subscriber's copy of one producer. */
export class Consumer {
  private started = false;
  private seqDelta = 0;
  private tsDelta = 0;
  private lastSeq = -1;
  private readonly slab: Buffer;
  private readonly lengths = new Int32Array(HISTORY).fill(-1);
  private readonly seqs = new Int32Array(HISTORY).fill(-1);
  private outSeq = Math.floor(Math.random() * 0x8000);
  forwarded = 0;
  retransmitted = 0;
  closed = false;

  constructor(
    readonly peer: WeriftPeer,
    readonly ssrc: number,
    readonly payloadType: number,
    private readonly producer: Producer,
  ) {
    this.slab = Buffer.alloc(HISTORY * MAX_RTP);
    peer.onRtcp((p) => this.onRtcp(p));
  }

  /** Forwards one packet of the producer (its keyframe flag computed once by the producer). */
  forward(rtp: RtpPacket, keyframe: boolean): void {
    if (this.closed) return;
    const h = rtp.header;
    if (!this.started) {
      if (!keyframe) return;
      this.started = true;
      this.seqDelta = (this.outSeq - h.sequenceNumber) & 0xffff;
      this.tsDelta = 0;
    }
    const payload = rtp.payload;
    const length = 12 + payload.length;
    if (length > MAX_RTP) return;
    const seq = (h.sequenceNumber + this.seqDelta) & 0xffff;
    const slot = seq % HISTORY;
    const off = slot * MAX_RTP;
    const b = this.slab;
    // RFC 3550 §5.1 fixed header, no CSRCs, no extensions.
    b[off] = 0x80;
    b[off + 1] = (h.marker ? 0x80 : 0) | this.payloadType;
    b.writeUInt16BE(seq, off + 2);
    b.writeUInt32BE((h.timestamp + this.tsDelta) >>> 0, off + 4);
    b.writeUInt32BE(this.ssrc, off + 8);
    payload.copy(b, off + 12);
    this.lengths[slot] = length;
    this.seqs[slot] = seq;
    this.lastSeq = seq;
    this.forwarded++;
    this.send(off, length);
  }

  private send(off: number, length: number): void {
    // The socket may hold the buffer after send returns: encrypt into a fresh one.
    const out = Buffer.allocUnsafe(length + this.peer.overhead);
    this.slab.copy(out, 0, off, off + length);
    this.peer.sendRtp(out, length);
  }

  private onRtcp(p: RtcpPacket): void {
    const { type, feedback: f } = p as unknown as FeedbackLike;
    // RTPFB (205) generic NACK (FMT 1), or PSFB (206) PLI (FMT 1) / FIR (FMT 4).
    if (type === 205 && f?.count === 1 && f.mediaSourceSsrc === this.ssrc && Array.isArray(f.lost)) {
      for (const seq of f.lost.slice(0, 64)) {
        const slot = seq % HISTORY;
        if (this.seqs[slot] === seq && this.lengths[slot]! > 0) {
          this.retransmitted++;
          this.send(slot * MAX_RTP, this.lengths[slot]!);
        }
      }
    } else if (type === 206 && (f?.count === 1 || f?.count === 4)) this.producer.requestKeyframe();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.producer.remove(this);
    this.peer.close();
  }

  /** Last sequence number sent (-1 before the first). */
  get lastSequence(): number {
    return this.lastSeq;
  }
}

/** One received video stream and its consumers. */
export class Producer {
  private readonly consumers = new Set<Consumer>();
  private lastPli = 0;
  private ssrc: number | undefined;
  received = 0;
  closed = false;

  constructor(readonly peer: WeriftPeer) {
    peer.onRtp((rtp) => this.onRtp(rtp));
  }

  private onRtp(rtp: RtpPacket): void {
    this.received++;
    this.ssrc = rtp.header.ssrc;
    if (this.consumers.size === 0) return;
    const key = isVp8Keyframe(rtp.payload);
    for (const c of this.consumers) c.forward(rtp, key);
  }

  add(c: Consumer): void {
    this.consumers.add(c);
    this.requestKeyframe();
  }

  remove(c: Consumer): void {
    this.consumers.delete(c);
  }

  get consumerCount(): number {
    return this.consumers.size;
  }

  /** PLI to the publisher, at most once per second (a keyframe takes a round trip anyway). */
  requestKeyframe(now = Date.now()): void {
    if (this.ssrc === undefined || now - this.lastPli < 1000) return;
    this.lastPli = now;
    this.peer.requestKeyframe(this.ssrc);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.consumers]) c.close();
    this.peer.close();
  }
}
