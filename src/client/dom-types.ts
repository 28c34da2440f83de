/**
 * The WebRTC types of the SDK's public API (calls and peers), without requiring the DOM lib.
 *
 * Each alias resolves to the DOM type where the consumer's program has the DOM lib (a browser
 * app: `typeof globalThis` then holds `RTCPeerConnection`, `MediaStream`, …) and to an opaque
 * placeholder otherwise, so a Node program that imports `switchboard-rt/client` type-checks with
 * `strict` and `lib: ["ES2023"]` alone. Calls need a browser (or `createPeerConnection`) at run
 * time anyway; the library itself is compiled with the DOM lib and sees the real types.
 */

type G = typeof globalThis;

/** Stands in for a DOM type the consumer's program does not have. */
export interface MissingDomType<Name extends string> {
  /** Never present: add `"DOM"` to `lib` to use WebRTC types. */
  readonly __missingDomType: Name;
}

/** The instance type of the global constructor `K`, or a placeholder. */
type Instance<K extends string> = G extends { [P in K]: { prototype: infer I } } ? I : MissingDomType<K>;

/** `RTCPeerConnection` (DOM). */
export type PeerConnection = Instance<'RTCPeerConnection'>;
/** `MediaStream` (DOM). */
export type MediaStreamLike = Instance<'MediaStream'>;
/** `MediaStreamTrack` (DOM). */
export type MediaTrack = Instance<'MediaStreamTrack'>;
/** `RTCConfiguration` (DOM): the argument of `new RTCPeerConnection()`. */
export type PeerConfiguration = G extends { RTCPeerConnection: new (config: infer C) => unknown } ? NonNullable<C> : MissingDomType<'RTCConfiguration'>;
/** `RTCPeerConnectionState` (DOM). */
export type PeerConnectionState = PeerConnection extends { connectionState: infer S } ? S : MissingDomType<'RTCPeerConnectionState'>;
