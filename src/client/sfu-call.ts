/**
 * A call through the server's SFU (docs/client.md "SFU calls"): the room is a channel of a
 * namespace with `sfu: true`; this client sends its camera/mic once, to the SFU, over a publish
 * transport, and receives everyone else's tracks over one subscribe transport the SFU offers and
 * renegotiates as tracks come and go. Control requests travel as signals to the reserved member
 * `$sfu` (protocol/sfu-contract.ts), each with an id and exactly one reply.
 *
 * ```ts
 * const call = new SfuCall(client, 'sfu:standup', { localStream });
 * call.on('track', ({ track, info }) => attach(info.client, track));
 * await call.join();
 * ```
 *
 * Works with any RTCPeerConnection-shaped implementation (`createPeerConnection`): the browser's,
 * or werift's in Node.
 */
import type { ClientInfo } from '../protocol/frames.ts';
import type { SfuServerMessage, SfuTrackInfo } from '../protocol/sfu-contract.ts';
import type { Client } from './client.ts';
import type { MediaStreamLike, MediaTrack, PeerConfiguration, PeerConnection } from './dom-types.ts';
import { TypedEmitter } from './emitter.ts';
import { ClientError, ServerError } from './errors.ts';
import type { IceServer, SignalEvent } from './signal.ts';
import type { Subscription } from './subscription.ts';

export interface SfuCallOptions {
  /** Local media published to the SFU. @default undefined (receive only) */
  localStream: MediaStreamLike | undefined;
  /**
   * Publish video as three simulcast layers (rids `q`, `h`, `f`: ¼, ½ and full resolution, at most
   * 150 k, 500 k and 1.5 Mbit/s), so each subscriber gets the layer its bandwidth and rendered size
   * allow. Off: one layer. @default true
   */
  simulcast: boolean;
  /**
   * The video codec to publish with: `'h264'` puts H.264 (packetization mode 1, constrained
   * baseline first) ahead of the others with `setCodecPreferences`, where the browser has it;
   * the SFU forwards the publisher's codec as it is (subscribers that cannot decode it do not get
   * the track). @default 'vp8'
   */
  videoCodec: 'vp8' | 'h264';
  /** `'relay'` uses only TURN relay candidates. @default 'all' */
  iceTransportPolicy: 'all' | 'relay';
  /** ICE servers. @default the client's `iceServers` (from the connect reply) */
  iceServers: readonly IceServer[] | undefined;
  /** How long one SFU request may take before it fails. @default 20000 */
  requestTimeoutMs: number;
  /** Makes each peer connection (tests, Node with werift). @default `new RTCPeerConnection(config)` */
  createPeerConnection: ((config: PeerConfiguration) => PeerConnection) | undefined;
}

const DEFAULTS: SfuCallOptions = { localStream: undefined, simulcast: true, videoCodec: 'vp8', iceTransportPolicy: 'all', iceServers: undefined, requestTimeoutMs: 20_000, createPeerConnection: undefined };

export type SfuCallState = 'idle' | 'joining' | 'joined' | 'left';

export interface SfuRemoteTrackEvent {
  /** What the SFU said about the track (publisher, kind, codec). */
  info: SfuTrackInfo;
  track: MediaTrack;
  /** The receiver's streams: one per publisher (its client id). */
  streams: readonly MediaStreamLike[];
}

export interface SfuCallEvents {
  [event: string]: unknown;
  /** A remote track's media arrived on the subscribe transport. */
  track: SfuRemoteTrackEvent;
  /** Another participant published a track (media follows as `track`). */
  trackadded: { info: SfuTrackInfo };
  /** A remote track ended (its publisher left or stopped it). */
  trackremoved: { track: string; info: SfuTrackInfo | undefined };
  /** The layer the SFU forwards of one remote track changed. */
  layer: { track: string; spatial: number; temporal: number; bitrate: number };
  /**
   * Dynacast: the SFU told which simulcast layers of a published track anyone receives; the call
   * has turned the others off at the encoder (`RTCRtpSender.setParameters`) and back on. With a
   * bitrate cap in the room, `maxBitrate` per layer (bps; 0 = kept off), set on the encodings.
   */
  publishlayers: { track: string; layers: { rid: string; active: boolean; maxBitrate?: number }[] };
  /** Active speakers of the room changed: loudest first, `level` 0–1; empty when nobody speaks. */
  speakers: { speakers: { user: string; client: string; level: number }[] };
  /** A negotiation step or a request failed; or a listener threw. */
  error: { error: Error };
  state: { state: SfuCallState };
}

/** A peer connection as this module uses it (the DOM's, or werift's). */
interface Pc {
  addTransceiver(track: unknown, init: { direction: string; streams?: unknown[]; sendEncodings?: unknown[] }): Transceiver;
  createOffer(): Promise<{ type: string; sdp?: string }>;
  createAnswer(): Promise<{ type: string; sdp?: string }>;
  setLocalDescription(d: unknown): Promise<void>;
  setRemoteDescription(d: { type: string; sdp: string }): Promise<void>;
  readonly localDescription: { sdp: string } | null;
  readonly iceGatheringState: string;
  ontrack: ((ev: { track: unknown; streams: unknown[]; transceiver: { mid: string | null } }) => void) | null;
  close(): unknown;
}

/** A codec of `RTCRtpSender.getCapabilities`. */
interface CodecCapability {
  mimeType: string;
  sdpFmtpLine?: string;
}

/**
 * Puts H.264 first in a video transceiver's codec preferences: packetization mode 1 before 0,
 * constrained baseline (42e0..) first. Does nothing where the browser has no H.264 or no
 * `setCodecPreferences`.
 */
function preferH264(t: Transceiver): void {
  const caps = (globalThis as { RTCRtpSender?: { getCapabilities?(kind: string): { codecs: CodecCapability[] } | null } }).RTCRtpSender?.getCapabilities?.('video')?.codecs;
  if (!caps || typeof t.setCodecPreferences !== 'function') return;
  const rank = (c: CodecCapability): number => {
    if (c.mimeType.toLowerCase() !== 'video/h264') return 10;
    const f = c.sdpFmtpLine ?? '';
    return (/packetization-mode=1/.test(f) ? 0 : 2) + (/profile-level-id=42e0/i.test(f) ? 0 : 1);
  };
  if (!caps.some((c) => rank(c) < 10)) return;
  t.setCodecPreferences([...caps].sort((a, b) => rank(a) - rank(b)));
}

/** A transceiver as this module uses it (its sender's encodings, for dynacast). */
interface Transceiver {
  readonly mid: string | null;
  setCodecPreferences?(codecs: CodecCapability[]): void;
  readonly sender?: {
    getParameters(): { encodings?: { rid?: string; active?: boolean; maxBitrate?: number }[] };
    setParameters(params: unknown): Promise<void>;
  };
}

/** The simulcast layers published, lowest first. */
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

interface Pending {
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new ClientError(String(err));
}

/** One participant's SFU call in one room. */
export class SfuCall extends TypedEmitter<SfuCallEvents> {
  readonly options: Readonly<SfuCallOptions>;
  private sub: Subscription | undefined;
  private pub: Pc | undefined;
  private recv: Pc | undefined;
  private _state: SfuCallState = 'idle';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  /** Remote tracks by id, as the SFU announced them. */
  private readonly infos = new Map<string, SfuTrackInfo>();
  /** Track id by mid of the subscribe transport (from the latest offer). */
  private mids: Record<string, string> = {};
  /** Subscribe offers are handled one after the other. */
  private chain: Promise<void> = Promise.resolve();
  /** Transceivers of the publish transport (video ones get dynacast's encoding changes). */
  private readonly sending: Transceiver[] = [];
  /** Encoder changes are applied one after the other (each reads the sender's latest parameters). */
  private encodingChain: Promise<void> = Promise.resolve();

  constructor(
    readonly client: Client,
    readonly room: string,
    options: Partial<SfuCallOptions> = {},
  ) {
    super();
    for (const key of Object.keys(options)) if (!(key in DEFAULTS)) throw new ClientError(`unknown SFU call option "${key}"`);
    const o: SfuCallOptions = { ...DEFAULTS };
    for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
    if (o.iceTransportPolicy !== 'all' && o.iceTransportPolicy !== 'relay') throw new ClientError(`SFU call option "iceTransportPolicy" must be 'all' or 'relay'`);
    if (o.videoCodec !== 'vp8' && o.videoCodec !== 'h264') throw new ClientError(`SFU call option "videoCodec" must be 'vp8' or 'h264'`);
    if (!Number.isFinite(o.requestTimeoutMs) || o.requestTimeoutMs <= 0) throw new ClientError('SFU call option "requestTimeoutMs" must be a positive number');
    this.options = Object.freeze(o);
    this.onListenerError = (error, event) => {
      if (event === 'error') console.error('switchboard: an SFU call "error" listener threw', error);
      else this.safeEmit('error', { error: toError(error) });
    };
  }

  get state(): SfuCallState {
    return this._state;
  }

  /** The publish transport (for `getStats()`), once publishing. */
  get publishConnection(): PeerConnection | undefined {
    return this.pub as unknown as PeerConnection | undefined;
  }

  /** The subscribe transport (for `getStats()`), once the SFU offered it. */
  get subscribeConnection(): PeerConnection | undefined {
    return this.recv as unknown as PeerConnection | undefined;
  }

  /** The room's active speakers as last announced (loudest first). */
  get speakers(): readonly { user: string; client: string; level: number }[] {
    return this.lastSpeakers;
  }
  private lastSpeakers: { user: string; client: string; level: number }[] = [];

  /** Remote tracks announced by the SFU, by track id. */
  get tracks(): ReadonlyMap<string, SfuTrackInfo> {
    return this.infos;
  }

  /**
   * Subscribes to the room, joins the SFU and publishes `localStream` (if any). Resolves once
   * published; remote tracks arrive as `track` events from then on.
   */
  async join(): Promise<void> {
    if (this._state !== 'idle') throw new ClientError(`join() on an SFU call that is ${this._state}`);
    this.setState('joining');
    try {
      await new Promise<void>((resolve, reject) => {
        this.sub = this.client.subscribe(this.room, {
          recover: false,
          onSubscribed: () => resolve(),
          onSignal: (ev) => this.onSignal(ev),
          onError: (err) => reject(err),
          onUnsubscribed: (ev) => {
            reject(new ClientError(`SFU room "${this.room}" unsubscribed: ${ev.reason}`));
            if (this._state !== 'left') this.close();
          },
        });
        void this.client.connect();
      });
      const joined = (await this.request('join', {})) as { tracks: SfuTrackInfo[] };
      for (const t of joined.tracks) this.infos.set(t.track, t);
      if (this.options.localStream) await this.publish(this.options.localStream);
      this.setState('joined');
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Stops receiving one remote track (the SFU stops forwarding it). */
  async pause(track: string): Promise<void> {
    await this.request('pause', { track });
  }

  async resume(track: string): Promise<void> {
    await this.request('resume', { track });
  }

  /** Layer preference and rendered size for one remote track (adaptive stream). */
  async setLayers(track: string, prefs: { spatial?: number; temporal?: number; width?: number; height?: number; visible?: boolean }): Promise<void> {
    await this.request('set-layers', { track, ...prefs });
  }

  /** Leaves the SFU and the room; closes both transports. Idempotent. */
  leave(): void {
    if (this._state === 'left') return;
    if (this._state === 'joined') void this.request('leave', {}).catch(() => {});
    this.close();
  }

  private close(): void {
    this.setState('left');
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ClientError('SFU call left'));
      this.pending.delete(id);
    }
    this.pub?.close();
    this.recv?.close();
    this.pub = this.recv = undefined;
    this.sending.length = 0;
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  private createPc(): Pc {
    const iceServers = this.options.iceServers ?? this.client.iceServers;
    const config = { iceServers: iceServers.map((s) => ({ ...s })), iceTransportPolicy: this.options.iceTransportPolicy, bundlePolicy: 'max-bundle' } as unknown as PeerConfiguration;
    const make = this.options.createPeerConnection;
    if (make) return make(config) as unknown as Pc;
    const Ctor = (globalThis as { RTCPeerConnection?: new (c: unknown) => Pc }).RTCPeerConnection;
    if (!Ctor) throw new ClientError('no RTCPeerConnection here: pass the "createPeerConnection" option');
    return new Ctor(config);
  }

  private publish(stream: MediaStreamLike): Promise<void> {
    const done = this.negotiatePublish(stream);
    // Encoding changes the SFU asks for (dynacast, caps) wait until the answer is applied.
    this.encodingChain = this.encodingChain.then(() => done.catch(() => undefined));
    return done;
  }

  private async negotiatePublish(stream: MediaStreamLike): Promise<void> {
    const pc = (this.pub ??= this.createPc());
    const s = stream as unknown as { getTracks(): unknown[] };
    for (const track of s.getTracks()) {
      const video = (track as { kind?: string }).kind === 'video';
      const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], ...(video && this.options.simulcast ? { sendEncodings: SIMULCAST } : {}) });
      if (video) {
        this.sending.push(t);
        if (this.options.videoCodec === 'h264') preferH264(t);
      }
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const { sdp } = (await this.request('publish', { sdp: pc.localDescription!.sdp })) as { sdp: string };
    await pc.setRemoteDescription({ type: 'answer', sdp });
  }

  private request(op: string, fields: Record<string, unknown>): Promise<unknown> {
    const id = `r${this.nextId++}`;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ClientError(`SFU request "${op}" timed out after ${this.options.requestTimeoutMs} ms`));
      }, this.options.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.client.signal(this.room, '$sfu', { type: 'sfu', id, op, ...fields } as never).catch((err: unknown) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(toError(err));
      });
    });
  }

  private onSignal(ev: SignalEvent): void {
    const from: ClientInfo = ev.from;
    if (from.client !== '$sfu' || typeof ev.data !== 'object' || ev.data === null) return;
    const msg = ev.data as SfuServerMessage & { type?: string };
    switch (msg.op) {
      case 'reply': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new ServerError(msg.error.code, msg.error.message, false));
        return;
      }
      case 'subscriber-offer': {
        const { sdp, tracks } = msg;
        this.chain = this.chain.then(() => this.answerOffer(sdp, tracks)).catch((err: unknown) => this.safeEmit('error', { error: toError(err) }));
        return;
      }
      case 'track-added':
        this.infos.set(msg.track.track, msg.track);
        this.safeEmit('trackadded', { info: msg.track });
        return;
      case 'track-removed': {
        const info = this.infos.get(msg.track);
        this.infos.delete(msg.track);
        this.safeEmit('trackremoved', { track: msg.track, info });
        return;
      }
      case 'layer':
        this.safeEmit('layer', { track: msg.track, spatial: msg.spatial, temporal: msg.temporal, bitrate: msg.bitrate });
        return;
      case 'dropped': {
        // The SFU closed our transports: the call is over (a new SfuCall joins again).
        if (this._state === 'left') return;
        const reason = typeof msg.reason === 'string' ? msg.reason.slice(0, 200) : 'unknown';
        this.close();
        this.safeEmit('error', { error: new ClientError(`the SFU dropped this call: ${reason}`) });
        return;
      }
      case 'speakers': {
        if (!Array.isArray(msg.speakers) || msg.speakers.length > 64) return;
        const speakers = msg.speakers.filter((x) => typeof x?.client === 'string' && typeof x.user === 'string' && typeof x.level === 'number').map((x) => ({ user: x.user, client: x.client, level: x.level }));
        this.lastSpeakers = speakers;
        this.safeEmit('speakers', { speakers });
        return;
      }
      case 'publish-layers': {
        if (typeof msg.track !== 'string' || !Array.isArray(msg.layers) || msg.layers.length > 8) return;
        const layers = msg.layers
          .filter((l) => typeof l?.rid === 'string' && typeof l.active === 'boolean')
          .map((l) => ({ rid: l.rid, active: l.active, ...(typeof l.maxBitrate === 'number' && Number.isFinite(l.maxBitrate) && l.maxBitrate >= 0 ? { maxBitrate: Math.floor(l.maxBitrate) } : {}) }));
        const track = msg.track;
        this.encodingChain = this.encodingChain
          .then(() => this.applyPublishLayers(track, layers))
          .then(
            () => this.safeEmit('publishlayers', { track, layers }),
            (err: unknown) => this.safeEmit('error', { error: toError(err) }),
          );
        return;
      }
    }
  }

  /**
   * Turns the encodings of one published track on or off, by rid (dynacast; rid '' is a
   * single-layer track's one encoding), and sets their `maxBitrate` when the SFU caps the
   * participant (0 keeps the encoding off).
   */
  private async applyPublishLayers(track: string, layers: readonly { rid: string; active: boolean; maxBitrate?: number }[]): Promise<void> {
    if (this._state === 'left') return;
    // Track ids are `<client>:<mid>` of the publish transport.
    const mid = track.slice(track.lastIndexOf(':') + 1);
    const sender = this.sending.find((t) => t.mid === mid)?.sender;
    if (!sender || typeof sender.getParameters !== 'function') return;
    const params = sender.getParameters();
    let changed = false;
    for (const e of params.encodings ?? []) {
      const want = layers.find((l) => l.rid === (e.rid ?? ''));
      if (!want) continue;
      const active = want.active && want.maxBitrate !== 0;
      if (e.active !== active) {
        e.active = active;
        changed = true;
      }
      if (want.maxBitrate !== undefined && want.maxBitrate > 0 && e.maxBitrate !== want.maxBitrate) {
        e.maxBitrate = want.maxBitrate;
        changed = true;
      }
    }
    if (changed) await sender.setParameters(params);
  }

  private async answerOffer(sdp: string, tracks: Record<string, string>): Promise<void> {
    if (this._state === 'left') return;
    this.mids = { ...tracks };
    if (!this.recv) {
      const pc = this.createPc();
      pc.ontrack = (ev) => {
        const id = ev.transceiver.mid === null ? undefined : this.mids[ev.transceiver.mid];
        const info = id === undefined ? undefined : this.infos.get(id);
        if (!info) return;
        this.safeEmit('track', { info, track: ev.track as MediaTrack, streams: ev.streams as MediaStreamLike[] });
      };
      this.recv = pc;
    }
    const pc = this.recv;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await this.request('subscriber-answer', { sdp: pc.localDescription!.sdp });
  }

  private setState(state: SfuCallState): void {
    if (this._state === state) return;
    this._state = state;
    this.safeEmit('state', { state });
  }
}

/** Waits until the connection has gathered its candidates (no trickle to the SFU). */
async function gathered(pc: Pc, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (pc.iceGatheringState !== 'complete') {
    if (Date.now() > end) throw new ClientError(`ICE gathering did not complete in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
