/**
 * The SFU's media plane behind the SfuService contract (contract.ts), in mediasoup's object tree
 * made small: **Router** (one per room on this node) → **Participant** (one per member that
 * joined) → a publish transport and a subscribe transport (WeriftPeer each) → **Producers** (one
 * per received stream) and **Consumers** (one per remote producer this participant receives).
 *
 * Publish: the participant offers; each sending audio/video m-line becomes a producer (track id
 * `<client>:<mid>`), keyed by the SSRC its offer declares; the answer comes back in the reply,
 * and every other participant gets `track-added` and a new subscribe offer with a consumer for it.
 * Subscribe: the SFU offers (one send-only m-line per consumer, msid `<publisher client>
 * <track>`), the participant answers with `subscriber-answer`; consumers forward once the answer
 * is applied and the transport is up. One offer is outstanding at a time: changes made meanwhile
 * are collected into the next offer.
 *
 * Closing cascades: a participant closes its transports and producers; a producer closes its
 * consumers, which leave their subscribers' transports (m-line made inactive, `track-removed`).
 * Every `close()` is idempotent.
 *
 * Subscribe transports carry transport-cc: each participant's Downlink (downlink.ts) estimates
 * its bandwidth from the subscriber's feedback and caps its simulcast consumers' layers.
 * Simulcast layers nobody receives are paused at the publisher (dynacast, `publish-layers`).
 * Retransmissions use RTX where the subscriber's answer accepted it.
 * Active speakers come from the publishers' RFC 6464 audio levels (audio-level.ts, `speakers`).
 * Not yet here (docs/sfu.md "Status"): worker threads. Video must be
 * VP8 and audio Opus; anything else is refused with 108.
 */
import type { RtcpPacket, RtpPacket } from 'werift';
import { ReplyError } from '../../protocol/errors.ts';
import type { SfuEvent, SfuPeerRef, SfuReplies, SfuRequest, SfuSnapshot, SfuTrackInfo } from './contract.ts';
import { SFU_DEFAULTS, type SfuNode, type SfuOptions, type SfuStats } from './options.ts';
import { Downlink } from './downlink.ts';
import { Consumer, Producer } from './forwarder.ts';
import { TwccGenerator } from './rtp/twcc-generator.ts';
import { buildNack, buildRemb, buildRr, buildSdes, buildSr } from './rtp/rtcp.ts';
import { PublishCapGuard, splitPublishCap } from './publish-cap.ts';
import { speakersChanged, type Speaker } from './audio-level.ts';
import { EXT_AUDIO_LEVEL, EXT_MID, EXT_REPAIRED_RID, EXT_RID, EXT_TWCC, parseMediaSections, type MediaSection } from './sdp-info.ts';
import { H264_PT, OPUS_PT, publishConfig, senderReportOf, subscribeConfig, VP8_PT, WeriftPeer, type SendSlot } from './werift-adapter.ts';
import { packetizationModeOf } from './rtp/h264.ts';
import { Recorder } from './recorder.ts';
import { snapshotRouters, type SnapshotLimits } from './snapshot.ts';
import { nativeStatus } from './srtp/native.ts';
import { udpBatch } from './udp-batch.ts';

export { SFU_DEFAULTS, type SfuOptions } from './options.ts';

type Reply = SfuReplies[keyof SfuReplies];

/** What a participant publishes: the producer and how others see it. */
export interface Published {
  /** The first layer (the only one of a single-layer track). */
  producer: Producer;
  /** Lowest resolution first. */
  layers: Producer[];
  info: SfuTrackInfo;
}

/** What a participant receives of one remote producer. */
interface Received {
  consumer: Consumer;
  slot: SendSlot;
  /** The consumer was in an offer the participant answered. */
  negotiated: boolean;
  entry: Published;
}

/** A layer no consumer needs for this long is paused at the publisher (dynacast); resuming is at once. */
export const DYNACAST_HOLD_MS = 2000;

/** The rid of a simulcast layer's producer (its id is `<track>/<rid>`). */
function ridOf(l: Producer): string {
  return l.id.slice(l.id.lastIndexOf('/') + 1);
}

function codecOf(section: MediaSection): { name: string; ok: boolean } {
  if (section.kind === 'video') {
    const c = section.codecs.find((x) => x.name === 'vp8' || (x.name === 'h264' && packetizationModeOf(x.fmtp ?? '') !== null));
    return { name: c?.name === 'h264' ? 'H264' : 'VP8', ok: c !== undefined };
  }
  return { name: 'Opus', ok: section.codecs.some((c) => c.name === 'opus') };
}

/**
 * The codec a publisher will send in one section of our answer: the first media codec the answer
 * kept (werift keeps the offer's order, so the browser's preference), with its payload type.
 */
function sendingCodec(answer: MediaSection | undefined): { codec: 'VP8' | 'H264' | 'opus'; pt: number; mode: 0 | 1 } | undefined {
  for (const c of answer?.codecs ?? []) {
    if (c.name === 'vp8') return { codec: 'VP8', pt: c.pt, mode: 1 };
    if (c.name === 'opus') return { codec: 'opus', pt: c.pt, mode: 1 };
    if (c.name === 'h264') {
      const mode = packetizationModeOf(c.fmtp ?? '');
      if (mode !== null) return { codec: 'H264', pt: c.pt, mode };
    }
  }
  return undefined;
}

/** One member of a room as the SFU sees it. */
/** What the REMB to a capped publisher adds to its video cap for its audio (bps). */
const REMB_AUDIO_BPS = 64_000;

export class Participant {
  private pub: WeriftPeer | undefined;
  private sub: WeriftPeer | undefined;
  readonly published = new Map<string, Published>();
  /** Producers by the SSRC the publisher sends them with. */
  private readonly bySsrc = new Map<number, Producer>();
  /** Simulcast layers by mid + "\n" + rid, until their SSRC is known. */
  private readonly byRid = new Map<string, Producer>();
  private ridExt = 0;
  private repairedRidExt = 0;
  private midExt = 0;
  /** RTX (RFC 4588) payload types the publish answer accepted, with the payload type each repairs. */
  private readonly rtxPts = new Map<number, number>();
  /** Producers by the RTX SSRC that repairs them (FID groups, or learned from repaired-rid). */
  private readonly byRtxSsrc = new Map<number, Producer>();
  /** Retransmissions on RTX the SFU had not asked for or already had (probes, duplicates). */
  rtxDiscarded = 0;
  private twccExt = 0;
  private audioLevelExt = 0;
  private twcc: TwccGenerator | undefined;
  private feedbackFrom: WeriftPeer | undefined;
  private feedbackTimer: ReturnType<typeof setInterval> | undefined;
  readonly received = new Map<string, Received>();
  /** Bandwidth estimation and layer caps of the subscribe transport (once its answer took transport-cc). */
  downlink: Downlink | undefined;
  private offering = false;
  private dirty = false;
  /** Tracks to consume once the outstanding subscribe offer is settled (see consume()). */
  private readonly deferred: { entry: Published; publisher: Participant }[] = [];
  private takingDeferred = false;
  private answerTimer: ReturnType<typeof setTimeout> | undefined;
  private resolveAnswer: ((sdp: string | undefined) => void) | undefined;
  private slots = 0;
  /** Packets of the publish transport whose SSRC no producer claims. */
  unknownSsrcPackets = 0;
  closed = false;

  /** Bits per second this participant's video may use in all (0: no cap). */
  readonly maxPublishBitrate: number;
  /** Holds back its highest layers while what arrives exceeds the cap (publish-cap.ts). */
  readonly capGuard: PublishCapGuard<Producer>;

  constructor(
    readonly router: Router,
    readonly ref: SfuPeerRef,
    readonly send: (ev: SfuEvent) => void,
  ) {
    const own = ref.maxPublishBitrate;
    this.maxPublishBitrate = Math.max(0, own !== undefined && own > 0 ? own : router.options.maxPublishBitrate);
    this.capGuard = new PublishCapGuard(this.maxPublishBitrate);
  }

  /**
   * Answers a publish offer: per new sending audio/video m-line a track, with one producer, or
   * one per simulcast layer (`a=rid`, told apart by the rid header extension).
   */
  async publish(sdp: string): Promise<string> {
    const sections = parseMediaSections(sdp);
    const sending = sections.filter((s) => !s.rejected && (s.kind === 'audio' || s.kind === 'video') && (s.direction === 'sendonly' || s.direction === 'sendrecv'));
    for (const s of sending) {
      if (!s.mid) throw new ReplyError('badRequest', 'sfu: every media section needs a=mid');
      const c = codecOf(s);
      if (!c.ok) throw new ReplyError('notAvailable', `sfu: the ${s.kind} section "${s.mid}" offers no ${s.kind === 'video' ? 'VP8 or H.264 (packetization mode 0 or 1)' : 'Opus'}; this SFU forwards VP8 and H.264 video and Opus audio`);
      if (s.rids.length > 1 && s.kind !== 'video') throw new ReplyError('badRequest', 'sfu: simulcast is for video');
      if (s.rids.length > 1 && !s.extmap.has(EXT_RID)) throw new ReplyError('badRequest', `sfu: the simulcast section "${s.mid}" does not offer the rtp-stream-id header extension`);
      if (s.rids.length <= 1 && s.ssrcs.length === 0) throw new ReplyError('badRequest', `sfu: the section "${s.mid}" declares no a=ssrc`);
    }
    if (sending.length === 0 && this.pub === undefined) throw new ReplyError('badRequest', 'sfu: the publish offer sends no audio or video');
    const fresh = sending.filter((s) => !this.published.has(this.trackId(s.mid!)));
    if (this.published.size + fresh.length > this.router.options.maxProducers) throw new ReplyError('limitExceeded', `sfu: at most ${this.router.options.maxProducers} published tracks per participant`);
    const first = this.pub === undefined;
    const pub = (this.pub ??= new WeriftPeer(publishConfig({ iceAdditionalHostAddresses: this.router.options.hostAddresses })));
    const answer = await pub.answer(sdp);
    if (this.closed) throw new ReplyError('notAvailable', 'sfu: left the room');
    pub.disableWeriftTwcc();
    pub.detachWeriftReceivers();
    const anyExt = sending.find((s) => s.extmap.has(EXT_TWCC));
    if (anyExt) this.twccExt = anyExt.extmap.get(EXT_TWCC)!;
    for (const s of sending) {
      if (s.extmap.has(EXT_RID)) this.ridExt = s.extmap.get(EXT_RID)!;
      if (s.extmap.has(EXT_REPAIRED_RID)) this.repairedRidExt = s.extmap.get(EXT_REPAIRED_RID)!;
      if (s.extmap.has(EXT_MID)) this.midExt = s.extmap.get(EXT_MID)!;
      if (s.kind === 'audio' && s.extmap.has(EXT_AUDIO_LEVEL)) this.audioLevelExt = s.extmap.get(EXT_AUDIO_LEVEL)!;
    }
    if (first) {
      pub.onRtp((rtp) => this.onPublishedRtp(rtp));
      // Sender reports reach their producers (the recorder's lip-sync clock mapping).
      pub.onRtcp((p) => {
        const sr = senderReportOf(p);
        if (sr) this.bySsrc.get(sr.ssrc)?.onSenderReport(sr.ntpHi, sr.ntpLo, sr.rtp);
      });
      void pub.ready(this.router.options.connectTimeoutMs).then(
        () => this.startFeedback(pub),
        () => this.router.service.dropParticipant(this, 'publish transport did not connect'),
      );
    }
    // Sections that stopped sending close their tracks.
    for (const s of sections) {
      if (!s.mid || sending.includes(s)) continue;
      this.published.get(this.trackId(s.mid))?.producer.close();
    }
    // RTX the answer kept: Chromium then retransmits on the RTX SSRC, and sends its bandwidth
    // probes there as padding instead of on the media SSRC (where a lost probe is a gap nobody can
    // repair).
    const answered = parseMediaSections(answer);
    for (const a of answered) {
      if (a.kind !== 'video' || a.rejected) continue;
      for (const c of a.codecs) {
        const apt = c.name === 'rtx' ? /(?:^|;)\s*apt=(\d+)/.exec(c.fmtp ?? '')?.[1] : undefined;
        if (apt !== undefined && this.rtxPts.size < 16) this.rtxPts.set(c.pt, Number(apt));
      }
    }
    for (const s of fresh) this.addTrack(s, pub, sendingCodec(answered.find((a) => a.mid === s.mid)));
    if (fresh.some((s) => s.kind === 'video')) {
      // After the reply (the SDK applies it once its answer is set).
      setTimeout(() => this.sendPublishCaps(), 0).unref?.();
    }
    return answer;
  }

  private addTrack(s: MediaSection, pub: WeriftPeer, sending: ReturnType<typeof sendingCodec>): void {
    const id = this.trackId(s.mid!);
    const kind = s.kind as 'audio' | 'video';
    const simulcast = s.rids.length > 1;
    const layers = simulcast ? s.rids.map((rid) => new Producer(`${id}/${rid}`, kind, pub)) : [new Producer(id, kind, pub, s.ssrcs[0])];
    const codec = sending?.codec ?? (kind === 'video' ? 'VP8' : 'opus');
    for (const l of layers) {
      l.codec = codec;
      if (sending) {
        l.payloadType = sending.pt;
        l.packetizationMode = sending.mode;
      }
    }
    const info: SfuTrackInfo = { track: id, user: this.ref.user, client: this.ref.client, kind, codec: codec === 'opus' ? 'Opus' : codec, layers: simulcast ? s.rids.map((rid) => ({ rid })) : [] };
    const entry: Published = { producer: layers[0]!, layers, info };
    this.published.set(id, entry);
    if (simulcast) s.rids.forEach((rid, i) => this.byRid.set(`${s.mid}\n${rid}`, layers[i]!));
    else {
      this.bySsrc.set(s.ssrcs[0]!, layers[0]!);
      const rtx = s.rtx.get(s.ssrcs[0]!);
      if (rtx !== undefined && this.byRtxSsrc.size < 64) this.byRtxSsrc.set(rtx, layers[0]!);
    }
    for (const [i, layer] of layers.entries()) {
      if (simulcast) {
        const rid = s.rids[i]!;
        layer.onSize = () => this.sortLayers(entry, rid);
      }
      // Any layer closing closes the track: its layers go together.
      layer.onClose(() => {
        if (this.published.get(id) !== entry) return;
        this.published.delete(id);
        const retired = this.router.service.retired;
        for (const l of layers) {
          retired.plis += l.plis;
          retired.nacks += l.nack?.nacksSent ?? 0;
          retired.recovered += l.nack?.recovered ?? 0;
        }
        for (const l of layers) {
          l.close();
          if (l.ssrc !== undefined && this.bySsrc.get(l.ssrc) === l) this.bySsrc.delete(l.ssrc);
        }
        for (const [rtx, l] of this.byRtxSsrc) if (layers.includes(l)) this.byRtxSsrc.delete(rtx);
        for (const rid of s.rids) this.byRid.delete(`${s.mid}\n${rid}`);
        this.router.trackRemoved(this, id);
      });
    }
    this.router.trackAdded(this, entry);
  }

  /**
   * Keeps a simulcast track's layers ordered lowest resolution first once keyframes showed their
   * sizes (the rid order of the offer until then), and its info's layer sizes current.
   */
  private sortLayers(entry: Published, _rid: string): void {
    const sized = entry.layers.every((l) => l.width > 0);
    if (sized) (entry.layers as Producer[]).sort((a, b) => a.width - b.width);
    entry.info.layers = entry.layers.map((l) => ({ rid: ridOf(l), ...(l.width ? { width: l.width, height: l.height } : {}) }));
  }

  private trackId(mid: string): string {
    return `${this.ref.client}:${mid}`;
  }

  private onPublishedRtp(rtp: RtpPacket): void {
    const exts = rtp.header.extensions;
    // libwebrtc ignores transport feedback whose media SSRC is not one of its own: name the
    // first SSRC that arrived.
    if (!this.twcc && this.feedbackFrom) this.twcc = new TwccGenerator({ senderSsrc: this.feedbackFrom.rtcpSsrc, mediaSsrc: rtp.header.ssrc });
    if (this.twcc && this.twccExt) {
      for (const e of exts) if (e.id === this.twccExt && e.payload.length >= 2) this.twcc.onPacket(e.payload.readUInt16BE(0), Math.round(performance.now() * 1000));
    }
    if (this.rtxPts.has(rtp.header.payloadType)) {
      this.onPublishedRtx(rtp);
      return;
    }
    let p = this.bySsrc.get(rtp.header.ssrc);
    if (!p && this.ridExt) {
      // A simulcast layer's first packet: bind its SSRC by mid + rid (RFC 8852).
      let rid: string | undefined;
      let mid: string | undefined;
      for (const e of exts) {
        if (e.id === this.ridExt) rid = e.payload.toString('latin1');
        else if (e.id === this.midExt) mid = e.payload.toString('latin1');
      }
      if (rid !== undefined) {
        if (mid === undefined && this.published.size > 0) mid = [...this.published.values()].find((x) => x.layers.length > 1)?.info.track.slice(this.ref.client.length + 1);
        p = this.byRid.get(`${mid}\n${rid}`);
        if (p && this.bySsrc.size < 64) {
          p.ssrc = rtp.header.ssrc;
          this.bySsrc.set(rtp.header.ssrc, p);
        }
      }
    }
    if (!p) {
      this.unknownSsrcPackets++;
      return;
    }
    if (p.audioLevel && this.audioLevelExt) {
      for (const e of exts) if (e.id === this.audioLevelExt && e.payload.length >= 1) p.audioLevel.observe(e.payload[0]! & 0x7f, Date.now());
    }
    p.push(rtp);
  }

  /**
   * A packet on an RTX stream of the publisher: a retransmission the SFU asked for (NACK) is
   * unwrapped (RFC 4588 §4: the original sequence number leads the payload) and goes to its
   * producer as the original packet; a padding-only probe, or a repair of a packet the producer
   * is not missing (Chromium also probes with redundant payloads), is discarded. A simulcast RTX
   * stream is bound to its layer by the repaired-rid header extension (RFC 8852), a single one by
   * the offer's FID group.
   */
  private onPublishedRtx(rtp: RtpPacket): void {
    const h = rtp.header;
    let p = this.byRtxSsrc.get(h.ssrc);
    if (!p && this.repairedRidExt) {
      let rid: string | undefined;
      let mid: string | undefined;
      for (const e of h.extensions) {
        if (e.id === this.repairedRidExt) rid = e.payload.toString('latin1');
        else if (e.id === this.midExt) mid = e.payload.toString('latin1');
      }
      if (rid !== undefined) {
        if (mid === undefined) mid = [...this.published.values()].find((x) => x.layers.length > 1)?.info.track.slice(this.ref.client.length + 1);
        p = this.byRid.get(`${mid}\n${rid}`);
        if (p && this.byRtxSsrc.size < 64) this.byRtxSsrc.set(h.ssrc, p);
      }
    }
    const payload = rtp.payload;
    if (!p || p.ssrc === undefined || payload.length < 2) {
      if (!p) this.unknownSsrcPackets++;
      this.rtxDiscarded++;
      return;
    }
    const osn = payload.readUInt16BE(0);
    if (!p.nack?.isMissing(osn)) {
      this.rtxDiscarded++;
      return;
    }
    const header = { ...h, ssrc: p.ssrc, sequenceNumber: osn, payloadType: this.rtxPts.get(h.payloadType)!, padding: false };
    p.push({ header, payload: payload.subarray(2) } as unknown as RtpPacket);
  }

  /**
   * Feedback to the publisher every 25 ms: NACKs for the packets each video producer is missing
   * (a keyframe request when a loss cannot be repaired), and every other tick TWCC (our
   * generator; werift's is off).
   */
  private startFeedback(pub: WeriftPeer): void {
    if (this.closed) return;
    this.feedbackFrom = pub;
    let tick = 0;
    this.feedbackTimer = setInterval(() => {
      const now = performance.now();
      for (const entry of this.published.values()) {
        for (const p of entry.layers) {
          if (!p.nack || p.ssrc === undefined) continue;
          const lost = p.nack.poll(now);
          if (lost.length > 0) pub.sendRtcpRaw(buildNack(pub.rtcpSsrc, p.ssrc, lost));
          if (p.nack.takeKeyframeRequest()) p.requestKeyframe();
        }
      }
      tick++;
      if (tick % 2 === 0 && this.twcc && this.twccExt) {
        for (const b of this.twcc.buildFeedback(Math.round(now * 1000))) pub.sendRtcpRaw(b);
      }
      if (tick % 40 === 0) this.sendReceiverReport(pub, now);
    }, 25);
    this.feedbackTimer.unref?.();
  }

  /**
   * An RTCP receiver report to the publisher (RFC 3550 §6.4.2, compound with our SDES CNAME),
   * once a second: a report block per received stream (loss, jitter, and LSR/DLSR from its last
   * sender report, so the browser knows its round-trip time to the SFU).
   */
  private sendReceiverReport(pub: WeriftPeer, now: number): void {
    const reports = [];
    for (const entry of this.published.values()) for (const l of entry.layers) if (l.receiveStats && reports.length < 31) reports.push(l.receiveStats.report(now));
    if (reports.length === 0) return;
    const parts = [buildRr({ ssrc: pub.rtcpSsrc, reports }), buildSdes([{ ssrc: pub.rtcpSsrc, cname: 'switchboard-sfu' }])];
    // The cap as REMB (plus room for audio): libwebrtc bounds its send estimate by it (with
    // transport-cc too).
    if (this.maxPublishBitrate > 0) {
      const video: number[] = [];
      for (const entry of this.published.values()) for (const l of entry.layers) if (l.kind === 'video' && l.ssrc !== undefined && video.length < 16) video.push(l.ssrc);
      if (video.length > 0) parts.push(buildRemb(pub.rtcpSsrc, this.maxPublishBitrate + REMB_AUDIO_BPS, video));
    }
    pub.sendRtcpRaw(Buffer.concat(parts));
  }

  /**
   * The `maxBitrate` of every layer of this participant's video tracks under its cap (shared
   * evenly by its video tracks), or undefined when the cap does not constrain them.
   */
  private capSplit(entry: Published): number[] | undefined {
    if (!(this.maxPublishBitrate > 0) || entry.info.kind !== 'video') return undefined;
    let videos = 0;
    for (const e of this.published.values()) if (e.info.kind === 'video') videos++;
    return splitPublishCap(this.maxPublishBitrate / Math.max(1, videos), entry.layers.length);
  }

  /** `publish-layers` for a video track: dynacast's on/off per layer, and the cap's maxBitrate. */
  private publishLayers(entry: Published): SfuEvent {
    const split = this.capSplit(entry);
    const simulcast = entry.layers.length > 1;
    return {
      op: 'publish-layers',
      track: entry.info.track,
      layers: entry.layers.map((l, i) => ({ rid: simulcast ? ridOf(l) : '', active: !l.dynacastPaused, ...(split ? { maxBitrate: split[i]! } : {}) })),
    };
  }

  /** Tells the publisher its per-layer caps (after a publish: the split depends on its video tracks). */
  private sendPublishCaps(): void {
    if (this.closed) return;
    for (const entry of this.published.values()) if (this.capSplit(entry)) this.send(this.publishLayers(entry));
  }

  /** Starts receiving another participant's track: a consumer in the next subscribe offer. */
  consume(entry: Published, publisher: Participant): void {
    const track = entry.info.track;
    const producer = entry.producer;
    if (this.closed || this.received.has(track)) return;
    if (this.offering && !this.takingDeferred) {
      // Not while an offer is out: a transceiver added between werift's offer and the answer
      // gets a transport of its own that never connects, and the connection never becomes
      // "connected" (seen with several participants joining at once). The next offer takes it.
      if (!this.deferred.some((d) => d.entry === entry)) this.deferred.push({ entry, publisher });
      this.dirty = true;
      return;
    }
    if (this.slots >= this.router.options.maxConsumers) {
      this.send({ op: 'track-removed', track });
      return;
    }
    const sub = this.subscribeTransport();
    const slot = sub.addSendTrack(producer.kind, track, publisher.ref.client);
    // werift's DTLS transport exists once there is a transceiver.
    if (this.slots === 0) sub.onRtcp((p) => this.onSubscriberRtcp(p));
    this.slots++;
    const consumer = new Consumer(sub, slot.ssrc, producer.kind === 'audio' ? OPUS_PT : producer.codec === 'H264' ? H264_PT : VP8_PT, producer);
    consumer.layers = entry.layers;
    consumer.onSwitch = (spatial, layer) => this.send({ op: 'layer', track, spatial, temporal: 0, bitrate: layer.bitrate });
    for (const l of entry.layers) l.add(consumer);
    this.received.set(track, { consumer, slot, negotiated: false, entry });
    this.negotiate();
  }

  /** Layer preference of one received track (set-layers). */
  setLayers(track: string, prefs: { spatial?: number; width?: number; height?: number }): void {
    const r = this.received.get(track);
    if (!r) throw new ReplyError('badRequest', `sfu: not receiving track "${track}"`);
    let target = prefs.spatial ?? Number.MAX_SAFE_INTEGER;
    const ls = r.entry.layers;
    if (prefs.width !== undefined && prefs.width > 0 && ls.every((l) => l.width > 0)) {
      // The smallest layer at least as wide as the rendered size (the top one if none is).
      let fit = ls.findIndex((l) => l.width >= prefs.width! && (prefs.height === undefined || l.height >= prefs.height));
      if (fit < 0) fit = ls.length - 1;
      target = Math.min(target, fit);
    }
    r.consumer.targetSpatial = target;
    r.consumer.tick();
  }

  /** Periodic work: rates, the downlink's layer caps and probes, layer keyframe requests, dynacast; every other tick sender reports. */
  tick(now: number): void {
    for (const e of this.published.values()) for (const l of e.layers) l.updateRate(now);
    if (this.maxPublishBitrate > 0 && this.published.size > 0) {
      const held = this.capGuard.update([...this.published.values()].map((e) => e.layers), now);
      for (const e of this.published.values()) for (const l of e.layers) l.capped = held.has(l);
    }
    if (this.downlink) this.downlink.update([...this.received.values()].map((r) => r.consumer), now);
    for (const r of this.received.values()) {
      r.consumer.tick(now);
      r.consumer.updateRate(now);
    }
    if (++this.ticks % 2 === 0) this.sendSenderReports();
  }

  private ticks = 0;

  /**
   * RTCP sender reports on the subscribe transport (RFC 3550 §6.4.1), one compound (SR + SDES
   * CNAME) per forwarding consumer, about once a second: the subscriber's clock mapping for lip
   * sync (Forwarder.senderReport) and its sent counts. The CNAME is the publisher's client id, so
   * a publisher's audio and video share one.
   */
  private sendSenderReports(): void {
    const sub = this.sub;
    if (!sub || this.closed) return;
    const now = performance.now();
    for (const r of this.received.values()) {
      if (!r.negotiated || !r.consumer.active) continue;
      const sr = r.consumer.senderReport(now);
      if (!sr) continue;
      const packet = buildSr({ ssrc: r.consumer.ssrc, ntpSec: sr.ntpHi, ntpFrac: sr.ntpLo, rtpTimestamp: sr.rtp, packetCount: sr.packets, octetCount: sr.octets, reports: [] });
      sub.sendRtcpRaw(Buffer.concat([packet, buildSdes([{ ssrc: r.consumer.ssrc, cname: r.entry.info.client.slice(0, 255) }])]));
    }
  }

  /**
   * Dynacast for this participant's simulcast tracks (the router runs it after every
   * participant's tick, so the consumers' layer caps are fresh): a layer is needed when some
   * unpaused consumer's wanted layer — the lower of its requested and its bandwidth-granted one —
   * is that layer, or it forwards it now; the lowest layer is always needed (a new subscriber
   * starts at once). A layer unneeded for {@link DYNACAST_HOLD_MS} is paused, a needed one resumed
   * at once, and the publisher is told with `publish-layers`.
   */
  dynacast(now: number): void {
    if (!this.router.options.dynacast) return;
    for (const entry of this.published.values()) {
      const ls = entry.layers;
      if (ls.length < 2) continue;
      // A layer the recorder taps is watched too.
      const needed = ls.map((l, i) => i === 0 || l.taps.size > 0);
      for (const c of ls[0]!.consumerList) {
        if (c.closed || c.paused) continue;
        needed[Math.max(0, Math.min(c.targetSpatial, c.bweSpatial, ls.length - 1))] = true;
        const cur = c.current ? ls.indexOf(c.current) : -1;
        if (cur >= 0) needed[cur] = true;
      }
      let changed = false;
      ls.forEach((l, i) => {
        const since = this.neededAt.get(l);
        if (needed[i] || since === undefined) this.neededAt.set(l, now);
        if (needed[i]) {
          if (l.dynacastPaused) {
            l.setDynacastPaused(false, now);
            changed = true;
          }
        } else if (!l.dynacastPaused && since !== undefined && now - since >= DYNACAST_HOLD_MS) {
          l.setDynacastPaused(true, now);
          changed = true;
        }
      });
      if (changed) this.send(this.publishLayers(entry));
    }
  }

  /** When each published layer was last needed by a consumer (dynacast). */
  private readonly neededAt = new WeakMap<Producer, number>();

  /** Stops receiving the producer `track` (it closed): its m-line goes inactive in the next offer. */
  unconsume(track: string): void {
    const r = this.received.get(track);
    if (!r) return;
    this.received.delete(track);
    r.consumer.close();
    this.router.service.retired.forwarded += r.consumer.forwarded;
    this.router.service.retired.retransmitted += r.consumer.retransmitted;
    if (this.closed) return;
    r.slot.deactivate();
    this.negotiate();
  }

  private subscribeTransport(): WeriftPeer {
    if (!this.sub) {
      this.sub = new WeriftPeer(subscribeConfig({ iceAdditionalHostAddresses: this.router.options.hostAddresses }));
    }
    return this.sub;
  }

  private onSubscriberRtcp(p: RtcpPacket): void {
    for (const r of this.received.values()) r.consumer.handleRtcp(p);
  }

  /** Sends a subscribe offer now, or after the outstanding one is answered. */
  private negotiate(): void {
    if (this.closed) return;
    if (this.offering) {
      this.dirty = true;
      return;
    }
    this.offering = true;
    this.dirty = false;
    void this.offerOnce().finally(() => {
      this.offering = false;
      if (this.dirty) this.negotiate();
    });
  }

  private async offerOnce(): Promise<void> {
    const sub = this.subscribeTransport();
    // Tracks that came while the last offer was out: added now, before this offer is made.
    if (this.deferred.length > 0) {
      const later = this.deferred.splice(0);
      this.takingDeferred = true;
      for (const d of later) if (!d.publisher.closed && d.publisher.published.get(d.entry.info.track) === d.entry) this.consume(d.entry, d.publisher);
      this.takingDeferred = false;
      // (their negotiate() calls only marked this participant dirty: this offer carries them)
      this.dirty = this.deferred.length > 0;
    }
    const included = [...this.received.values()];
    let sdp: string;
    try {
      sdp = await sub.offer();
    } catch (err) {
      this.router.service.dropParticipant(this, `subscribe offer failed: ${(err as Error).message}`);
      return;
    }
    if (this.closed) return;
    const tracks: Record<string, string> = {};
    for (const [track, r] of this.received) if (r.slot.mid !== undefined) tracks[r.slot.mid] = track;
    const answer = await new Promise<string | undefined>((resolve) => {
      this.resolveAnswer = resolve;
      this.answerTimer = setTimeout(() => resolve(undefined), this.router.options.answerTimeoutMs);
      this.send({ op: 'subscriber-offer', sdp, tracks });
    });
    clearTimeout(this.answerTimer);
    this.resolveAnswer = undefined;
    if (this.closed) return;
    if (answer === undefined) {
      // No answer: offer again with whatever is current (the client may have missed it).
      this.dirty = true;
      return;
    }
    await sub.accept(answer);
    if (!this.downlink && !sub.isReady) this.startDownlink(sub, answer);
    this.applyRtx(answer);
    for (const r of included) r.negotiated = true;
    if (!sub.isReady) {
      try {
        await sub.ready(this.router.options.connectTimeoutMs);
      } catch {
        this.router.service.dropParticipant(this, 'subscribe transport did not connect');
        return;
      }
    }
    for (const r of included) if (this.received.get(r.entry.info.track) === r) r.consumer.activate();
  }

  /**
   * Bandwidth estimation on the subscribe transport when the answer kept the transport-wide
   * sequence number extension (Chromium does; a client without it gets every layer it asks for).
   */
  private startDownlink(sub: WeriftPeer, answer: string): void {
    const id = parseMediaSections(answer, this.router.options.maxConsumers + 1).find((s) => s.extmap.has(EXT_TWCC))?.extmap.get(EXT_TWCC);
    if (!id || id > 14) return;
    const d = (this.downlink = new Downlink(id));
    sub.twccExtId = id;
    sub.beforeSend = d.stamp;
    sub.onRawRtcp((buf) => d.onRtcp(buf));
  }

  /**
   * RTX per video consumer from the subscriber's answer: its m-line kept an `rtx` codec whose
   * `apt` is VP8's payload type (the RTX SSRC is the one werift declared in our offer).
   */
  private applyRtx(answer: string): void {
    const sections = parseMediaSections(answer, this.router.options.maxConsumers + 1);
    const cannot: string[] = [];
    for (const [track, r] of this.received) {
      if (r.entry.producer.kind !== 'video' || r.slot.mid === undefined) continue;
      const s = sections.find((x) => x.mid === r.slot.mid);
      // The subscriber cannot decode the publisher's codec (no transcoding here): not forwarded.
      if (s && !s.rejected && !s.codecs.some((c) => c.pt === r.consumer.payloadType)) cannot.push(track);
      const rtx = s?.codecs.find((c) => c.name === 'rtx' && c.clockRate === 90000 && /(?:^|;)\s*apt=(\d+)/.exec(c.fmtp ?? '')?.[1] === String(r.consumer.payloadType));
      r.consumer.rtx = rtx && !s!.rejected ? { ssrc: r.slot.rtxSsrc, payloadType: rtx.pt } : undefined;
    }
    for (const track of cannot) {
      this.unconsume(track);
      this.send({ op: 'track-removed', track });
    }
  }

  /** The participant's answer to the outstanding subscribe offer. */
  answer(sdp: string): void {
    if (!this.resolveAnswer) throw new ReplyError('badRequest', 'sfu: no subscriber offer is awaiting an answer');
    parseMediaSections(sdp, this.router.options.maxConsumers + 1);
    this.resolveAnswer(sdp);
  }

  /** Pause or resume receiving one remote track. */
  setPaused(track: string, paused: boolean): void {
    const r = this.received.get(track);
    if (!r) throw new ReplyError('badRequest', `sfu: not receiving track "${track}"`);
    r.consumer.setPaused(paused);
  }

  /** This participant's speech level now (the loudest of its audio tracks; 0: not speaking). */
  speechLevel(now: number): number {
    let level = 0;
    for (const e of this.published.values()) if (e.producer.audioLevel) level = Math.max(level, e.producer.audioLevel.level(now));
    return level;
  }

  /** Tracks published by the other participants. */
  othersTracks(): SfuTrackInfo[] {
    const out: SfuTrackInfo[] = [];
    for (const p of this.router.participants.values()) if (p !== this) for (const { info } of p.published.values()) out.push(info);
    return out;
  }

  /** Closes transports, producers (and so everyone's consumers of them) and own consumers. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.answerTimer);
    clearInterval(this.feedbackTimer);
    this.downlink?.close();
    this.resolveAnswer?.(undefined);
    for (const { producer } of [...this.published.values()]) producer.close();
    for (const track of [...this.received.keys()]) this.unconsume(track);
    this.pub?.close();
    this.sub?.close();
    this.router.removed(this);
  }
}

/** Most speakers in one `speakers` event. */
export const MAX_SPEAKERS = 8;

/** One room on this node. */
export class Router {
  readonly participants = new Map<string, Participant>();
  closed = false;
  /** The speaker list last sent to the room (loudest first). */
  speakers: Speaker[] = [];

  constructor(
    readonly service: SfuRouterService,
    readonly id: string,
    readonly options: SfuOptions,
  ) {}

  join(ref: SfuPeerRef, send: (ev: SfuEvent) => void): Participant {
    let p = this.participants.get(ref.client);
    if (p) return p;
    if (this.participants.size >= this.options.maxParticipants) throw new ReplyError('limitExceeded', `sfu: at most ${this.options.maxParticipants} participants per room`);
    p = new Participant(this, ref, send);
    this.participants.set(ref.client, p);
    // Consumers for what is already published, offered right after the join reply.
    const joined = p;
    setImmediate(() => {
      // The speaker list is only sent on changes: a newcomer gets the current one.
      if (this.speakers.length > 0 && !joined.closed) joined.send({ op: 'speakers', speakers: this.speakers });
      for (const other of this.participants.values()) if (other !== joined) for (const entry of other.published.values()) joined.consume(entry, other);
    });
    return p;
  }

  /**
   * Active speakers: the participants whose audio is speech now, loudest first (at most
   * {@link MAX_SPEAKERS}); everyone in the room gets `speakers` when the list changes (another set or
   * order, or a level that moved by more than 0.1; an empty list when the last one stops).
   */
  updateSpeakers(now: number): void {
    const list: Speaker[] = [];
    for (const p of this.participants.values()) {
      const level = p.speechLevel(now);
      if (level > 0) list.push({ user: p.ref.user, client: p.ref.client, level: Math.round(level * 1000) / 1000 });
    }
    list.sort((a, b) => b.level - a.level || (a.client < b.client ? -1 : 1));
    if (list.length > MAX_SPEAKERS) list.length = MAX_SPEAKERS;
    if (!speakersChanged(this.speakers, list)) return;
    this.speakers = list;
    for (const p of this.participants.values()) p.send({ op: 'speakers', speakers: list });
  }

  trackAdded(publisher: Participant, entry: Published): void {
    this.service.recorder.trackAdded(this, publisher, entry);
    for (const p of this.participants.values()) {
      if (p === publisher) continue;
      p.send({ op: 'track-added', track: entry.info });
      p.consume(entry, publisher);
    }
  }

  trackRemoved(publisher: Participant, track: string): void {
    for (const p of this.participants.values()) {
      if (p === publisher || p.closed) continue;
      if (p.received.has(track)) p.unconsume(track);
      p.send({ op: 'track-removed', track });
    }
  }

  removed(p: Participant): void {
    if (this.participants.get(p.ref.client) === p) this.participants.delete(p.ref.client);
    if (this.participants.size === 0) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.participants.values()]) p.close();
    this.service.routerClosed(this);
  }
}

/** The node's SFU: routers by room. */
export class SfuRouterService implements SfuNode {
  readonly options: SfuOptions;
  readonly routers = new Map<string, Router>();
  private closed = false;

  private readonly ticker: ReturnType<typeof setInterval>;
  /** Recordings of rooms and participants (recorder.ts; started from the server API). */
  readonly recorder: Recorder;

  constructor(options: Partial<SfuOptions> = {}) {
    this.options = { ...SFU_DEFAULTS, ...options };
    this.recorder = new Recorder(this);
    // Rates and layer keyframe requests (a wanted layer that is not forwarded yet asks again).
    this.ticker = setInterval(() => {
      const now = Date.now();
      for (const r of this.routers.values()) {
        for (const p of r.participants.values()) p.tick(now);
        for (const p of r.participants.values()) p.dynacast(now);
        r.updateSpeakers(now);
      }
    }, 500);
    this.ticker.unref?.();
  }

  async handle(peer: SfuPeerRef, req: SfuRequest, send: (ev: SfuEvent) => void): Promise<Reply> {
    if (this.closed) throw new ReplyError('notAvailable', 'sfu: shutting down');
    if (req.op === 'join') {
      let r = this.routers.get(peer.room);
      if (!r) {
        if (this.routers.size >= this.options.maxRooms) throw new ReplyError('limitExceeded', `sfu: at most ${this.options.maxRooms} rooms on this node`);
        r = new Router(this, peer.room, this.options);
        this.routers.set(peer.room, r);
      }
      const p = r.join(peer, send);
      return { tracks: p.othersTracks() };
    }
    const p = this.participant(peer);
    if (!p) {
      if (req.op === 'leave') return {};
      throw new ReplyError('badRequest', `sfu: "${req.op}" before "join"`);
    }
    switch (req.op) {
      case 'publish':
        return { sdp: await p.publish(req.sdp) };
      case 'subscriber-answer':
        p.answer(req.sdp);
        return {};
      case 'pause':
      case 'resume':
        p.setPaused(req.track, req.op === 'pause');
        return {};
      case 'set-layers':
        p.setLayers(req.track, req);
        // Adaptive stream: a track not shown is not forwarded.
        if (req.visible === false || (req.width === 0 && req.height === 0)) p.setPaused(req.track, true);
        else if (req.visible === true) p.setPaused(req.track, false);
        return {};
      case 'leave':
        p.close();
        return {};
    }
  }

  private participant(peer: SfuPeerRef): Participant | undefined {
    return this.routers.get(peer.room)?.participants.get(peer.client);
  }

  leave(peer: SfuPeerRef): void {
    this.participant(peer)?.close();
  }

  /** A participant whose transport failed: closed, and told so (it may join again). */
  dropParticipant(p: Participant, why: string): void {
    if (p.closed) return;
    // Told first: the client's call is over (its SDK closes it and reports why).
    p.send({ op: 'dropped', reason: why.slice(0, 200) });
    p.close();
    console.warn(`switchboard: sfu: ${p.ref.client} in ${p.ref.room} dropped: ${why}`);
  }

  routerClosed(r: Router): void {
    if (this.routers.get(r.id) === r) this.routers.delete(r.id);
  }

  /** Rooms, participants, producers and consumers (admin, metrics, tests). */
  stats(): SfuStats {
    let participants = 0;
    let producers = 0;
    let consumers = 0;
    let { forwarded, retransmitted, plis, nacks, recovered } = this.retired;
    let capped = 0;
    for (const r of this.routers.values()) {
      participants += r.participants.size;
      for (const p of r.participants.values()) {
        producers += p.published.size;
        consumers += p.received.size;
        for (const e of p.published.values()) {
          for (const l of e.layers) {
            plis += l.plis;
            nacks += l.nack?.nacksSent ?? 0;
            recovered += l.nack?.recovered ?? 0;
            if (l.capped) capped++;
          }
        }
        for (const { consumer } of p.received.values()) {
          forwarded += consumer.forwarded;
          retransmitted += consumer.retransmitted;
        }
      }
    }
    return { rooms: this.routers.size, participants, producers, consumers, packetsForwarded: forwarded, packetsRetransmitted: retransmitted, keyframeRequests: plis, nacksSent: nacks, packetsRecovered: recovered, layersCapped: capped, nativeThreads: nativeStatus().path === 'native' ? 1 : 0, packetsSentNative: udpBatch()?.sent ?? 0 };
  }

  /** Rooms → participants → producers and consumers, bounded (the admin page; snapshot.ts). */
  async snapshot(limits?: Partial<SnapshotLimits>): Promise<SfuSnapshot> {
    return snapshotRouters(this.routers.values(), limits);
  }

  /** Counts of closed consumers and producers, so the totals of stats() never go down. */
  readonly retired = { forwarded: 0, retransmitted: 0, plis: 0, nacks: 0, recovered: 0 };

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.ticker);
    this.recorder.close();
    for (const r of [...this.routers.values()]) r.close();
  }
}
