/**
 * One peer of a call: an `RTCPeerConnection` to one other member of the room, negotiated with
 * {@link PerfectNegotiation} and trickle ICE. The Call owns the peers (one per other member: a
 * mesh) and routes that member's signals here; the peer reports tracks and state through hooks.
 *
 * Browser only at run time (it needs `RTCPeerConnection`), but imports nothing platform-specific,
 * so the SDK still loads in Node.
 */
import type { ClientInfo } from '../protocol/frames.ts';
import type { MediaStreamLike, MediaTrack, PeerConfiguration, PeerConnection, PeerConnectionState } from './dom-types.ts';
import { ClientError } from './errors.ts';
import { PerfectNegotiation } from './negotiation.ts';
import type { IceCandidateData, SignalData } from './signal.ts';

/** What a peer reports to its Call. */
export interface CallPeerHooks {
  send(data: SignalData): void;
  track(peer: CallPeer, track: MediaTrack, streams: readonly MediaStreamLike[]): void;
  state(peer: CallPeer, state: PeerConnectionState): void;
  error(peer: CallPeer, err: Error): void;
}

export interface CallPeerInit {
  /** The other member. */
  info: ClientInfo;
  polite: boolean;
  config: PeerConfiguration;
  localStream: MediaStreamLike | undefined;
  createPeerConnection: ((config: PeerConfiguration) => PeerConnection) | undefined;
}

function toCandidateData(c: RTCIceCandidateInit): IceCandidateData {
  const out: IceCandidateData = { candidate: c.candidate ?? '' };
  if (c.sdpMid !== undefined) out.sdpMid = c.sdpMid;
  if (c.sdpMLineIndex !== undefined) out.sdpMLineIndex = c.sdpMLineIndex;
  if (c.usernameFragment !== undefined) out.usernameFragment = c.usernameFragment;
  return out;
}

function defaultPeerConnection(config: PeerConfiguration): PeerConnection {
  if (typeof RTCPeerConnection !== 'function') {
    throw new ClientError('RTCPeerConnection is not available here (calls need a browser, or the createPeerConnection option)');
  }
  return new RTCPeerConnection(config);
}

export class CallPeer {
  /** The other member's client id. */
  readonly id: string;
  /** The other member (user, client, info). */
  readonly info: ClientInfo;
  /** The connection to that member, for `getStats()` and the like. */
  readonly pc: PeerConnection;
  readonly negotiation: PerfectNegotiation;
  /** Remote tracks, gathered in one stream (also for peers that send tracks without a stream). */
  readonly remoteStream: MediaStreamLike | undefined;
  private _closed = false;

  /** @internal Made by Call. */
  constructor(init: CallPeerInit, hooks: CallPeerHooks) {
    this.info = init.info;
    this.id = init.info.client;
    this.pc = (init.createPeerConnection ?? defaultPeerConnection)(init.config);
    this.remoteStream = typeof MediaStream === 'function' ? new MediaStream() : undefined;
    // Both members of a pair create their peer when they learn of each other: the impolite one
    // makes the first offer (see NegotiationOptions.politeWaitsForOffer for why).
    this.negotiation = new PerfectNegotiation(
      this.pc,
      init.polite,
      { send: (data) => hooks.send(data), error: (err) => hooks.error(this, err) },
      { politeWaitsForOffer: true },
    );
    const pc = this.pc;
    pc.onnegotiationneeded = () => void this.negotiation.negotiationNeeded();
    pc.onicecandidate = (ev) => this.negotiation.localCandidate(ev.candidate ? toCandidateData(ev.candidate.toJSON()) : null);
    pc.ontrack = (ev) => {
      if (this._closed) return;
      if (this.remoteStream && !this.remoteStream.getTracks().includes(ev.track)) this.remoteStream.addTrack(ev.track);
      hooks.track(this, ev.track, ev.streams);
    };
    pc.onconnectionstatechange = () => {
      if (!this._closed) hooks.state(this, pc.connectionState);
    };
    // A path that stopped working (network change, relay gone): new candidates via an ICE restart,
    // which fires negotiationneeded and goes through perfect negotiation like any offer.
    pc.oniceconnectionstatechange = () => {
      if (!this._closed && pc.iceConnectionState === 'failed') pc.restartIce();
    };
    const stream = init.localStream;
    if (stream) {
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
    } else if (!init.polite) {
      // Nothing to send: still ask for the other member's audio and video. (The polite end answers
      // the impolite end's offer, whose m-lines already carry whatever it sends.)
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
    }
  }

  /** Whether the other end is the impolite one (this end yields on glare). */
  get polite(): boolean {
    return this.negotiation.polite;
  }

  get connectionState(): PeerConnectionState {
    return this.pc.connectionState;
  }

  get closed(): boolean {
    return this._closed;
  }

  /** @internal A signal from this member. */
  _receive(data: SignalData): void {
    if (!this._closed) void this.negotiation.receive(data);
  }

  /** @internal Closes the connection; idempotent. Local tracks are left running (the app owns them). */
  _close(): void {
    if (this._closed) return;
    this._closed = true;
    this.negotiation.close();
    const pc = this.pc;
    pc.onnegotiationneeded = pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = pc.oniceconnectionstatechange = null;
    pc.close();
  }
}
