/**
 * A small mesh video call on top of a signaling room (docs/client.md "Calls"): the room is a
 * channel of a namespace with `signaling: true` and presence; its presence list is the member
 * list, and every member holds one {@link CallPeer} (an RTCPeerConnection, perfect negotiation,
 * trickle ICE) to every other member, up to `maxPeers`.
 *
 * Membership follows the room: peers are added for the members in presence when the subscription
 * (re)starts and on `join` pushes, or when a member's offer arrives first; removed on `leave`
 * pushes and `bye` signals. A reconnect gives this client a new id, so the others see it leave
 * and join again: after a resubscribe every peer is rebuilt.
 */
import type { ClientInfo } from '../protocol/frames.ts';
import type { MediaStreamLike, MediaTrack, PeerConfiguration, PeerConnection, PeerConnectionState } from './dom-types.ts';
import type { Client } from './client.ts';
import { TypedEmitter } from './emitter.ts';
import { ClientClosedError, ClientError, ConnectionLostError, NotConnectedError } from './errors.ts';
import { isPolite } from './negotiation.ts';
import { CallPeer } from './peer.ts';
import { parseSignalData, type IceServer, type SignalData, type SignalEvent } from './signal.ts';
import type { Subscription } from './subscription.ts';

export interface CallOptions {
  /** Local media sent to every peer. @default undefined (receive only: audio and video are still asked for) */
  localStream: MediaStreamLike | undefined;
  /** `'relay'` uses only TURN relay candidates (hides the members' addresses from each other). @default 'all' */
  iceTransportPolicy: 'all' | 'relay';
  /** ICE servers. @default the client's `iceServers` (from the connect reply) when the call joins */
  iceServers: readonly IceServer[] | undefined;
  /** Most other members connected at once; more are reported as `error` and left out. @default 3 (four people) */
  maxPeers: number;
  /** Makes each peer connection (tests, wrappers). @default `new RTCPeerConnection(config)` */
  createPeerConnection: ((config: PeerConfiguration) => PeerConnection) | undefined;
}

const DEFAULTS: CallOptions = { localStream: undefined, iceTransportPolicy: 'all', iceServers: undefined, maxPeers: 3, createPeerConnection: undefined };

/** Merges defaults, rejects unknown keys and bad values (naming the field). Does not mutate `input`. */
export function resolveCallOptions(input: Partial<CallOptions> = {}): CallOptions {
  for (const key of Object.keys(input)) {
    if (!(key in DEFAULTS)) throw new ClientError(`unknown call option "${key}"`);
  }
  const o: CallOptions = { ...DEFAULTS };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  if (o.iceTransportPolicy !== 'all' && o.iceTransportPolicy !== 'relay') throw new ClientError(`call option "iceTransportPolicy" must be 'all' or 'relay'`);
  if (!Number.isInteger(o.maxPeers) || o.maxPeers < 1) throw new ClientError('call option "maxPeers" must be a positive integer');
  if (o.iceServers !== undefined && !Array.isArray(o.iceServers)) throw new ClientError('call option "iceServers" must be an array');
  if (o.createPeerConnection !== undefined && typeof o.createPeerConnection !== 'function') throw new ClientError('call option "createPeerConnection" must be a function');
  return o;
}

export type CallState = 'idle' | 'joining' | 'joined' | 'left';

/** Why a peer was removed. */
export type PeerLeftReason = 'bye' | 'leave' | 'hangup' | 'reconnect';

export interface CallPeerEvent {
  peer: CallPeer;
}
export interface CallTrackEvent {
  peer: CallPeer;
  track: MediaTrack;
  /** The streams the sender attached the track to (usually one). */
  streams: readonly MediaStreamLike[];
}
export interface CallConnectionStateEvent {
  peer: CallPeer;
  state: PeerConnectionState;
}
export interface CallPeerLeftEvent {
  peer: CallPeer;
  reason: PeerLeftReason;
}
export interface CallErrorEvent {
  error: Error;
  /** The member it concerns, if any. */
  peer?: string;
}

export interface CallEvents {
  [event: string]: unknown;
  /** A peer connection to a member was created (before any of its tracks). */
  peer: CallPeerEvent;
  /** A remote track arrived. */
  track: CallTrackEvent;
  /** A peer's `connectionState` changed (`connecting`, `connected`, `disconnected`, `failed`, …). */
  connectionstate: CallConnectionStateEvent;
  /** A peer was removed and its connection closed. */
  peerleft: CallPeerLeftEvent;
  /** A negotiation step, a signal or the room subscription failed; or a listener threw. */
  error: CallErrorEvent;
  /** The call state changed. */
  state: { state: CallState };
}

/** Signal send failures that just mean "the connection is gone": a resubscribe rebuilds the peers. */
function isConnectionError(err: unknown): boolean {
  return err instanceof NotConnectedError || err instanceof ConnectionLostError || err instanceof ClientClosedError;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new ClientError(String(err));
}

/**
 * A mesh call in one room. `new Call(client, 'call:lobby', { localStream })`, then `join()`;
 * `leave()` hangs up (a `bye` to every peer, then unsubscribes).
 */
export class Call extends TypedEmitter<CallEvents> {
  readonly options: Readonly<CallOptions>;
  private readonly _peers = new Map<string, CallPeer>();
  /** Members that left or said bye: a late offer from them must not bring them back. */
  private readonly gone = new Set<string>();
  private sub: Subscription | undefined;
  private _state: CallState = 'idle';
  /** Bumped on every (re)subscribe: a presence reply for an older one is stale. */
  private epoch = 0;

  /**
   * @param client a connected (or connecting) client
   * @param room a channel in a namespace with `signaling: true` and `presence: true`
   * @param options see {@link CallOptions}; not mutated
   */
  constructor(
    readonly client: Client,
    readonly room: string,
    options: Partial<CallOptions> = {},
  ) {
    super();
    this.options = Object.freeze(resolveCallOptions(options));
    this.onListenerError = (error, event) => {
      if (event === 'error') console.error('switchboard: a call "error" listener threw', error);
      else this.safeEmit('error', { error: toError(error) });
    };
  }

  get state(): CallState {
    return this._state;
  }

  /** Peers by member client id. */
  get peers(): ReadonlyMap<string, CallPeer> {
    return this._peers;
  }

  /**
   * Joins the room: subscribes, then connects to every member in presence. Resolves once
   * subscribed; rejects if the subscription is refused (e.g. ServerError 103) or the call is left
   * first. The client connects on its own if it is not yet.
   */
  join(): Promise<void> {
    if (this._state !== 'idle') return Promise.reject(new ClientError(`join() on a call that is ${this._state}`));
    this.setState('joining');
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      try {
        this.sub = this.client.subscribe(this.room, {
          recover: false,
          onSubscribed: (ev) => {
            this.onSubscribed(ev.resubscribed);
            settle();
          },
          onJoin: (info) => {
            // A member that said bye and came back (same connection, new call) is welcome again.
            this.gone.delete(info.client);
            this.onMember(info);
          },
          onLeave: (info) => this.removePeer(info.client, 'leave', true),
          onSignal: (ev) => this.onSignal(ev),
          onError: (err) => {
            this.safeEmit('error', { error: err });
            settle(err);
          },
          onUnsubscribed: (ev) => {
            settle(new ClientError(`call room "${this.room}" unsubscribed: ${ev.reason}`));
            if (this._state !== 'left') this.hangUp(false);
          },
        });
      } catch (err) {
        this.setState('left');
        settle(toError(err));
        return;
      }
      void this.client.connect();
    });
  }

  /** Hangs up: `bye` to every peer, closes every connection, leaves the room. Idempotent. */
  leave(): void {
    if (this._state === 'left') return;
    this.hangUp(true);
  }

  private hangUp(sayBye: boolean): void {
    this.setState('left');
    for (const peer of [...this._peers.values()]) {
      if (sayBye) this.send(peer.id, { type: 'bye' });
      this.removePeer(peer.id, 'hangup', false);
    }
    this.gone.clear();
    const sub = this.sub;
    this.sub = undefined;
    // Unsubscribed after the byes (frames go out in order, and the server checks membership first).
    sub?.unsubscribe();
  }

  private setState(state: CallState): void {
    if (this._state === state) return;
    this._state = state;
    this.safeEmit('state', { state });
  }

  private onSubscribed(resubscribed: boolean): void {
    if (this._state === 'left') return;
    const epoch = ++this.epoch;
    // A resubscribe follows a new connection, so a new client id: the others see this member leave
    // and come back, and connect afresh.
    if (resubscribed) for (const id of [...this._peers.keys()]) this.removePeer(id, 'reconnect', false);
    this.setState('joined');
    const sub = this.sub;
    if (!sub) return;
    sub.presence().then(
      (members) => {
        if (epoch !== this.epoch || this._state !== 'joined') return;
        for (const info of Object.values(members)) this.onMember(info);
      },
      (err: unknown) => {
        if (!isConnectionError(err)) this.safeEmit('error', { error: toError(err) });
      },
    );
  }

  /** A member is in the room (presence or `join`). */
  private onMember(info: ClientInfo): void {
    if (this._state !== 'joined' || typeof info?.client !== 'string') return;
    if (info.client === this.client.id || this._peers.has(info.client) || this.gone.has(info.client)) return;
    this.addPeer(info);
  }

  private addPeer(info: ClientInfo): CallPeer | undefined {
    const self = this.client.id;
    if (self === undefined) return undefined;
    if (this._peers.size >= this.options.maxPeers) {
      this.safeEmit('error', { error: new ClientError(`call is full (maxPeers ${this.options.maxPeers}): not connecting to ${info.client}`), peer: info.client });
      return undefined;
    }
    const config: PeerConfiguration = {
      iceServers: [...(this.options.iceServers ?? this.client.iceServers)].map((s) => ({ ...s })),
      iceTransportPolicy: this.options.iceTransportPolicy,
      bundlePolicy: 'max-bundle',
    };
    let peer: CallPeer;
    try {
      peer = new CallPeer(
        { info, polite: isPolite(self, info.client), config, localStream: this.options.localStream, createPeerConnection: this.options.createPeerConnection },
        {
          send: (data) => this.send(info.client, data),
          track: (p, track, streams) => this.safeEmit('track', { peer: p, track, streams }),
          state: (p, state) => this.safeEmit('connectionstate', { peer: p, state }),
          error: (p, error) => this.safeEmit('error', { error, peer: p.id }),
        },
      );
    } catch (err) {
      this.safeEmit('error', { error: toError(err), peer: info.client });
      return undefined;
    }
    this._peers.set(peer.id, peer);
    this.safeEmit('peer', { peer });
    return peer;
  }

  private removePeer(id: string, reason: PeerLeftReason, forever: boolean): void {
    if (forever) this.gone.add(id);
    const peer = this._peers.get(id);
    if (!peer) return;
    this._peers.delete(id);
    peer._close();
    this.safeEmit('peerleft', { peer, reason });
  }

  private onSignal(ev: SignalEvent): void {
    if (this._state !== 'joined') return;
    const data = parseSignalData(ev.data);
    const from = ev.from.client;
    if (!data || from === this.client.id) return;
    if (data.type === 'bye') return this.removePeer(from, 'bye', true);
    let peer = this._peers.get(from);
    // An offer from a member not seen yet (its offer beat the join push or the presence reply).
    if (!peer && data.type === 'offer' && !this.gone.has(from)) peer = this.addPeer(ev.from);
    peer?._receive(data);
  }

  private send(to: string, data: SignalData): void {
    this.client.signal(this.room, to, data).catch((err: unknown) => {
      if (!isConnectionError(err) && this._state !== 'left') this.safeEmit('error', { error: toError(err), peer: to });
    });
  }
}
