/**
 * The one module that touches werift (issue 12: werift for ICE, DTLS, SRTP keying and SDP only).
 *
 * A `WeriftPeer` is one RTCPeerConnection used as a transport: werift negotiates SDP, runs ICE and
 * the DTLS handshake; then we take over the media plane. On the **send** side we never write to a
 * werift track: packets are copied and rewritten by our consumers, encrypted by our SrtpContext
 * (keys exported from werift's DTLS socket, RFC 5764 §4.2) and written straight to the ICE
 * connection. On the **receive** side packets still pass werift's SRTP decryption at the DTLS
 * transport (`onRtp`, before its RTP receivers see them): that is once per published packet, not
 * once per consumer, and moves to our SrtpContext in a later step.
 *
 * With the native helper (srtp/native.ts) a send is copied into this thread's UDP batch
 * (udp-batch.ts), encrypted there and sent with the rest of the fan-out in one sendmmsg call;
 * without it, or on a TURN/TCP pair, through dgram or werift as before.
 *
 * Every werift-internal access is in this file; test/unit/sfu/werift-adapter.test.ts fails if they move.
 */
import { MediaStream, PictureLossIndication, useSdesMid, useSdesRTPStreamId, useRepairedRtpStreamId, useTransportWideCC, useAudioLevelIndication, RtcpPayloadSpecificFeedback, RTCPeerConnection, RTCRtpCodecParameters, type MediaStreamTrack, type RTCRtpTransceiver, type RtcpPacket, type RtpPacket, type RTCPeerConnectionConfig, type RTCDtlsTransport } from 'werift';
import type { Socket } from 'node:dgram';
import { keyLengths, SrtpContext, type SrtpProfile } from './srtp/srtp.ts';
import { udpBatch, type UdpBatch, type UdpTarget } from './udp-batch.ts';

/** Payload type our offers give VP8. */
export const VP8_PT = 96;
/** Payload type our offers give Opus. */
export const OPUS_PT = 111;
/** Payload type of RTX (RFC 4588) for VP8 on subscribe transports (`apt` = {@link VP8_PT}). */
export const RTX_PT = 97;
/** Payload type our subscribe offers give H.264 (constrained baseline, packetization mode 1). */
export const H264_PT = 102;
/** Payload type of RTX for H.264 on subscribe transports (`apt` = {@link H264_PT}). */
export const H264_RTX_PT = 103;
/** The H.264 format our offers and answers take (RFC 6184: constrained baseline 3.1, non-interleaved). */
export const H264_FMTP = 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f';

/** VP8 with NACK and PLI feedback, plus `transport-cc` when asked. */
function vp8(transportCc: boolean): RTCRtpCodecParameters {
  const rtcpFeedback = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }];
  if (transportCc) rtcpFeedback.push({ type: 'transport-cc' });
  return new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: VP8_PT, rtcpFeedback });
}

/** H.264 with NACK and PLI feedback, plus `transport-cc` when asked. */
function h264(transportCc: boolean): RTCRtpCodecParameters {
  const rtcpFeedback = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }];
  if (transportCc) rtcpFeedback.push({ type: 'transport-cc' });
  return new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, payloadType: H264_PT, parameters: H264_FMTP, rtcpFeedback });
}

/** werift peer configuration: VP8 with NACK and PLI feedback, Opus, loopback candidates added. */
export function peerConfig(extra: Partial<RTCPeerConnectionConfig> = {}): RTCPeerConnectionConfig {
  return {
    codecs: {
      video: [vp8(false)],
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: OPUS_PT })],
    },
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    ...extra,
  };
}

/**
 * werift configuration of a **publish** transport: as {@link peerConfig}, plus the header
 * extensions the SFU reads (mid and rid to tell simulcast layers apart, transport-wide sequence
 * numbers for our TWCC feedback, RFC 6464 audio levels for speaker detection) and `transport-cc` feedback on VP8, so the browser runs its
 * send-side bandwidth estimation on our feedback and brings up every simulcast layer it can.
 */
export function publishConfig(extra: Partial<RTCPeerConnectionConfig> = {}): RTCPeerConnectionConfig {
  const base = peerConfig(extra);
  return {
    ...base,
    codecs: {
      // RTX: the browser retransmits what the SFU NACKs on its RTX stream, and probes there.
      // werift answers with the offer's own codecs of these types, in the offer's order (so the
      // browser sends the one it prefers: VP8 unless it put H.264 first).
      video: [vp8(true), new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: RTX_PT, parameters: `apt=${VP8_PT}` }), h264(true)],
      audio: base.codecs?.audio ?? [],
    },
    headerExtensions: { video: [useSdesMid(), useSdesRTPStreamId(), useRepairedRtpStreamId(), useTransportWideCC()], audio: [useSdesMid(), useTransportWideCC(), useAudioLevelIndication()] },
  };
}

/**
 * werift configuration of a **subscribe** transport: as {@link peerConfig}, plus the
 * transport-wide sequence number header extension and `transport-cc` feedback on VP8 and Opus, so
 * the receiving browser reports when each of our packets arrived (TWCC) and the SFU can run its
 * send-side bandwidth estimation (bwe/) per subscriber.
 */
export function subscribeConfig(extra: Partial<RTCPeerConnectionConfig> = {}): RTCPeerConnectionConfig {
  const base = peerConfig(extra);
  // One object for both kinds: werift numbers the audio list then the video list, writing each
  // entry's id, so a shared entry ends with one id for the whole bundle (distinct entries would
  // give the same URI two ids in one BUNDLE, and the receiver uses one of them).
  const twcc = useTransportWideCC();
  return {
    ...base,
    codecs: {
      // RTX: werift then declares an RTX SSRC per video m-line (a=ssrc-group:FID); the SFU's
      // consumers send their retransmissions on it when the answer keeps the codec.
      video: [
        vp8(true),
        new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: RTX_PT, parameters: `apt=${VP8_PT}` }),
        h264(true),
        new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: H264_RTX_PT, parameters: `apt=${H264_PT}` }),
      ],
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: OPUS_PT, rtcpFeedback: [{ type: 'transport-cc' }] })],
    },
    headerExtensions: { video: [twcc], audio: [twcc] },
  };
}

/**
 * The clock pair of an RTCP sender report as werift parsed it (`RtcpSrPacket`, type 200), or
 * undefined for any other packet.
 */
export function senderReportOf(p: RtcpPacket): { ssrc: number; ntpHi: number; ntpLo: number; rtp: number } | undefined {
  if (p.type !== 200) return undefined;
  const sr = p as unknown as { ssrc?: number; senderInfo?: { ntpTimestamp?: bigint; rtpTimestamp?: number } };
  const ntp = sr.senderInfo?.ntpTimestamp;
  if (typeof sr.ssrc !== 'number' || typeof ntp !== 'bigint' || typeof sr.senderInfo?.rtpTimestamp !== 'number') return undefined;
  return { ssrc: sr.ssrc, ntpHi: Number((ntp >> 32n) & 0xffffffffn), ntpLo: Number(ntp & 0xffffffffn), rtp: sr.senderInfo.rtpTimestamp };
}

/** Internals of werift 0.24.4 we rely on, typed here once. */
interface DtlsInternals {
  dtls?: { srtp: { srtpProfile?: number }; extractSessionKeys(keyLength: number, saltLength: number): { localKey: Buffer; localSalt: Buffer; remoteKey: Buffer; remoteSalt: Buffer } };
  iceTransport: { connection: { send(data: Buffer): Promise<void>; nominated?: NominatedPair; onData: { subscribe(f: (data: Buffer) => void): unknown } } };
  onRtp: { subscribe(f: (p: RtpPacket) => void): unknown };
  onRtcp: { subscribe(f: (p: RtcpPacket) => void): unknown };
}

/** werift's nominated ICE pair: for a host/srflx UDP pair, its dgram socket and the peer's address. */
interface NominatedPair {
  remoteAddr: [string, number];
  protocol: { type?: string; transport?: { type?: string; closed?: boolean; socket?: Socket } };
}

async function gathered(pc: RTCPeerConnection): Promise<void> {
  for (let i = 0; i < 300 && pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 10));
}

function connected(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`transport not connected after ${ms} ms`)), ms);
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        clearTimeout(t);
        resolve();
      } else if (s === 'failed' || s === 'closed') {
        clearTimeout(t);
        reject(new Error(`transport ${s}`));
      }
    });
  });
}

/** One send-only m-line of a subscribe transport. */
export class SendSlot {
  constructor(private readonly t: RTCRtpTransceiver) {}

  get ssrc(): number {
    return this.t.sender.ssrc;
  }

  /** The RTX SSRC werift declared for this m-line (used when the answer took RTX). */
  get rtxSsrc(): number {
    return (this.t.sender as unknown as { rtxSsrc: number }).rtxSsrc;
  }

  /** The m-line's mid once an offer assigned it. */
  get mid(): string | undefined {
    return this.t.mid ?? undefined;
  }

  /** Makes the m-line inactive in the next offer (the track was removed). */
  deactivate(): void {
    this.t.setDirection('inactive');
  }
}

/** A werift RTCPeerConnection as a transport for our media plane. */
export class WeriftPeer {
  readonly pc: RTCPeerConnection;
  private srtpOut: SrtpContext | undefined;
  private rawRtcp: ((buf: Buffer) => void) | undefined;
  /**
   * Called with each outgoing RTP packet (`buf[offset..offset+length)`, clear text) just before it
   * is encrypted: where the subscribe leg stamps transport-wide sequence numbers and records the
   * send for bandwidth estimation (retransmissions get their own number, as TWCC wants).
   */
  beforeSend: ((buf: Buffer, offset: number, length: number) => void) | undefined;
  /**
   * The transport-cc header extension id both sides agreed on for what we send (0: none); our
   * consumers write the extension when it is set (forwarder.ts `RtpSink.twccExtId`).
   */
  twccExtId = 0;
  /** SRTCP packets of the remote that failed our decryption or parsing (dropped). */
  badRtcp = 0;
  private dtls: DtlsInternals | undefined;
  private closed = false;
  /** The nominated pair the direct send path was resolved for, and that path. */
  private pair: NominatedPair | undefined;
  private udp: { socket: Socket; port: number; host: string; transport: { closed?: boolean } } | undefined;
  /** This thread's native send batch and our target in it (undefined: dgram path). */
  private readonly batch: UdpBatch | undefined = udpBatch();
  private target: UdpTarget | undefined;
  sendErrors = 0;

  constructor(config: RTCPeerConnectionConfig = peerConfig()) {
    this.pc = new RTCPeerConnection(config);
  }

  /** Answers a remote offer (the publish direction); resolves with the complete answer SDP. */
  async answer(offer: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await gathered(this.pc);
    return this.pc.localDescription!.sdp;
  }

  /** Offers one send-only video m-line (the subscribe direction); resolves with SDP and its SSRC. */
  async offerVideo(): Promise<{ sdp: string; ssrc: number }> {
    const t = this.pc.addTransceiver('video', { direction: 'sendonly' });
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc);
    return { sdp: this.pc.localDescription!.sdp, ssrc: t.sender.ssrc };
  }

  /**
   * Adds a send-only m-line for one forwarded track (the subscribe direction): its msid is
   * `<stream> <track>` so the receiver can tell whose track it is. The SSRC is the consumer's.
   * Reuses an m-line of the same kind made inactive by {@link SendSlot.deactivate} when werift can.
   */
  addSendTrack(kind: 'audio' | 'video', track: string, stream: string): SendSlot {
    const t = this.pc.addTransceiver(kind, { direction: 'sendonly', streams: [new MediaStream({ id: stream })] });
    // werift writes `a=msid:<stream id> <sender.trackId>` (rtpTransceiver.msids).
    (t.sender as unknown as { trackId: string }).trackId = track;
    return new SendSlot(t);
  }

  /** Creates and applies an offer, waits for the candidates; resolves with the complete SDP. */
  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc);
    return this.pc.localDescription!.sdp;
  }

  /** Whether ICE and DTLS are up and sends work. */
  get isReady(): boolean {
    return this.srtpOut !== undefined && !this.closed;
  }

  /** Applies the remote answer to our offer. */
  async accept(answer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  /** Resolves once ICE and DTLS are up; from then on `sendRtp` works. */
  async ready(ms = 20_000): Promise<void> {
    await connected(this.pc, ms);
    const tr = this.pc.getTransceivers()[0];
    if (!tr) throw new Error('no transceiver');
    const dtls = tr.dtlsTransport as unknown as DtlsInternals;
    const profile = dtls.dtls?.srtp.srtpProfile as SrtpProfile | undefined;
    if (!dtls.dtls || profile === undefined) throw new Error('werift DTLS transport without an SRTP profile (werift internals moved?)');
    const len = keyLengths(profile);
    const k = dtls.dtls.extractSessionKeys(len.key, len.salt);
    this.srtpOut = new SrtpContext(profile, k.localKey, k.localSalt);
    this.dtls = dtls;
    if (this.rawRtcp) this.startRawRtcp(profile, k.remoteKey, k.remoteSalt);
  }

  /**
   * Clear-text RTCP compounds from the remote, decrypted by our own SRTCP context (werift decrypts
   * them too, for its own parsed `onRtcp`; ours gives the bytes to our validated parser in rtp/).
   * Set before {@link ready}.
   */
  onRawRtcp(f: (buf: Buffer) => void): void {
    this.rawRtcp = f;
  }

  private startRawRtcp(profile: SrtpProfile, key: Buffer, salt: Buffer): void {
    const ctx = new SrtpContext(profile, key, salt);
    this.dtls!.iceTransport.connection.onData.subscribe((data: Buffer) => {
      // RFC 5761 §4: RTCP packet types 200-207 (second byte 192-223 covers the range RFC 5764 demultiplexes).
      if (this.closed || data.length < 12 || data[0]! < 128 || data[0]! > 191 || data[1]! < 192 || data[1]! > 223) return;
      let clear: Buffer;
      try {
        clear = ctx.unprotectRtcp(data);
      } catch {
        this.badRtcp++;
        return;
      }
      this.rawRtcp?.(clear);
    });
  }

  /** SRTP overhead our sends add (tag length). */
  get overhead(): number {
    return this.srtpOut?.rtpOverhead ?? 16;
  }

  /**
   * Encrypts the RTP packet in `buf[0..length)` in place (buf needs `overhead` spare bytes) and
   * sends it. The caller keeps ownership of `buf` once this returns (the socket copies it).
   */
  sendRtp(buf: Buffer, length: number): void {
    this.send(buf, 0, length, true);
  }

  /**
   * Sends a copy of the RTP packet `src[offset..offset+length)`, encrypted; `src` is not changed
   * (a consumer's history slot). On the native path the copy is the batch's arena: no allocation.
   */
  sendRtpFrom(src: Buffer, offset: number, length: number): void {
    this.send(src, offset, length, false);
  }

  private send(src: Buffer, offset: number, length: number, inPlace: boolean): void {
    const srtp = this.srtpOut;
    if (!srtp || !this.dtls || this.closed) return;
    const conn = this.dtls.iceTransport.connection;
    // Straight to the UDP socket of the nominated pair: werift's path is four async functions and
    // a promise per packet. Re-resolved whenever werift nominates another pair; TURN and TCP
    // pairs keep werift's path (they frame the data).
    if (conn.nominated !== this.pair) this.resolveDirect(conn.nominated);
    const t = this.target;
    const b = this.batch;
    if (t && b && srtp.native && !t.transport.closed) {
      const at = b.reserve(length + srtp.rtpOverhead);
      src.copy(b.arena, at, offset, offset + length);
      this.beforeSend?.(b.arena, at, length);
      b.commit(t, at, srtp.protectRtpAt(b.arena, at, length));
      return;
    }
    let buf = src;
    if (!inPlace || offset !== 0) {
      buf = Buffer.allocUnsafe(length + srtp.rtpOverhead);
      src.copy(buf, 0, offset, offset + length);
    }
    this.beforeSend?.(buf, 0, length);
    const n = srtp.protectRtp(buf, length, buf);
    const udp = this.udp;
    if (udp && !udp.transport.closed) udp.socket.send(buf.subarray(0, n), udp.port, udp.host, this.onSent);
    else void conn.send(buf.subarray(0, n)).catch(() => void this.sendErrors++);
  }

  private readonly onSent = (err: Error | null): void => {
    if (err) this.sendErrors++;
  };

  private resolveDirect(pair: NominatedPair | undefined): void {
    this.pair = pair;
    this.udp = undefined;
    this.target = undefined;
    const t = pair?.protocol.transport;
    if (pair && t?.type === 'udp' && t.socket && !t.closed) {
      this.udp = { socket: t.socket, port: pair.remoteAddr[1], host: pair.remoteAddr[0], transport: t };
      this.target = this.batch?.target(t.socket, pair.remoteAddr[0], pair.remoteAddr[1], t);
    }
  }

  /** Whether sends take the native batch (native SRTP + sendmmsg) on the current pair (for tests, stats). */
  get nativeSend(): boolean {
    return this.target !== undefined && this.srtpOut?.native === true;
  }

  /** Whether sends currently take the direct UDP path (for tests). */
  get directUdp(): boolean {
    return this.udp !== undefined;
  }

  /** Decrypted RTP arriving on this transport (werift's SRTP, before its receivers). */
  onRtp(f: (p: RtpPacket) => void): void {
    (this.pc.getTransceivers()[0]!.dtlsTransport as unknown as DtlsInternals).onRtp.subscribe(f);
  }

  /** Decrypted RTCP arriving on this transport. */
  onRtcp(f: (p: RtcpPacket) => void): void {
    (this.pc.getTransceivers()[0]!.dtlsTransport as unknown as DtlsInternals).onRtcp.subscribe(f);
  }

  /** Asks the remote sender of `ssrc` for a keyframe (RTCP PLI). */
  requestKeyframe(ssrc: number): void {
    // Straight to the DTLS transport: werift's receiver.sendRtcpPLI refuses on a transceiver
    // whose codec lacks PLI feedback (an audio one, often the first of a bundle).
    const dtls = this.pc.getTransceivers()[0]?.dtlsTransport;
    if (!dtls || this.closed) return;
    const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: this.rtcpSsrc, mediaSsrc: ssrc }) });
    void dtls.sendRtcp([pli]).catch(() => void this.sendErrors++);
  }

  /** Sends already-serialized RTCP (one compound packet) through werift's SRTCP. */
  sendRtcpRaw(buf: Buffer): void {
    const dtls = this.pc.getTransceivers()[0]?.dtlsTransport;
    if (!dtls || this.closed || !this.srtpOut) return;
    void dtls.sendRtcp([{ serialize: () => buf } as never]).catch(() => void this.sendErrors++);
  }

  /**
   * Turns werift's own TWCC feedback off on every receiver of this transport (issue 12: it does
   * not mark losses and drifts; ours replaces it). werift decides with a `twccEnabled` getter on
   * the receiver's prototype; an own property shadows it.
   */
  disableWeriftTwcc(): void {
    for (const t of this.pc.getTransceivers()) {
      Object.defineProperty(t.receiver, 'twccEnabled', { value: false, configurable: true });
    }
  }

  /**
   * Stops werift's RTP router for this connection: its receivers would otherwise also process
   * every packet (statistics, a copy per packet, their own NACK generator — which NACKed packets
   * that were not lost — and receiver reports that never advance). The SFU takes RTP at the
   * DTLS transport and does all of that itself (router.ts).
   */
  detachWeriftReceivers(): void {
    const router = (this.pc as unknown as { router?: { routeRtp?: unknown } }).router;
    if (!router || typeof router.routeRtp !== 'function') throw new Error('werift internals moved: RTCPeerConnection.router.routeRtp');
    router.routeRtp = () => {};
  }

  /** The SSRC our RTCP feedback is sent from (RFC 4585 §6.1 "SSRC of packet sender"). */
  readonly rtcpSsrc = (Math.random() * 0xffffffff) >>> 0 || 1;

  /** The DTLS transport (for tests of the internals we use). */
  get dtlsTransport(): RTCDtlsTransport | undefined {
    return this.pc.getTransceivers()[0]?.dtlsTransport;
  }

  /** werift's remote track of the publish direction (unused by forwarding; for diagnostics). */
  get remoteTrack(): MediaStreamTrack | undefined {
    return this.pc.getTransceivers()[0]?.receiver.track;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.pc.close().catch(() => {});
  }
}
