/**
 * The SFU's optional native helper (native/sfu_native.c, built by `npm run build:native`, which
 * the repository's `prepare` runs): SRTP/SRTCP protection with per-session OpenSSL contexts, and
 * sendmmsg batches on a UDP socket's fd. Everything it does has a JavaScript path (srtp.ts,
 * dgram); the helper only makes the per-packet cost smaller (docs/sfu.md "Benchmark").
 *
 * Loaded once per thread (the SFU's worker threads load their own; the addon is context-aware),
 * in a try/catch: an installed package has no native/ (it is not in `files`), a checkout may
 * not have built it, a binary may be for another Node. `SWITCHBOARD_SFU_NATIVE=0` forces the
 * JavaScript path; {@link nativeStatus} says which path is in use and why.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** An opaque per-direction session (keys expanded into OpenSSL contexts). */
export type NativeSession = { readonly __nativeSrtpSession: unique symbol };

/** The addon's functions (see native/sfu_native.c for the exact contracts). */
export interface SfuNative {
  /** Session keys already derived (RFC 3711 §4.3): auth keys 20 bytes (CM) or empty (GCM). */
  createSession(profile: number, rtpKey: Buffer, rtpSalt: Buffer, rtpAuth: Buffer, rtcpKey: Buffer, rtcpSalt: Buffer, rtcpAuth: Buffer): NativeSession;
  /** Encrypts buf[offset..offset+length) in place and appends the tag; returns the SRTP length. */
  protectRtp(session: NativeSession, buf: Buffer, offset: number, length: number, roc: number): number;
  /** Encrypts an RTCP compound in place and appends E|index and the tag; returns the SRTCP length. */
  protectRtcp(session: NativeSession, buf: Buffer, offset: number, length: number, index: number): number;
  /**
   * Sends `count` datagrams described in `desc` (5 int32 per entry: fd, IPv4 address, port,
   * offset, length into `arena`; length 0 = skip); returns how many were handled before one the
   * socket could not take now (EAGAIN); a failed entry's length becomes -errno.
   */
  sendBatch(desc: Int32Array, arena: Buffer, count: number): number;
}

/** Which path the SFU's media plane takes on this thread, and why. */
export interface NativeStatus {
  path: 'native' | 'js';
  reason: string;
}

/** The binary, from src/webrtc/sfu/srtp/ or dist/webrtc/sfu/srtp/ (both four levels below the root). */
const BINARY = fileURLToPath(new URL('../../../../native/build/Release/sfu_native.node', import.meta.url));

let loaded: { native: SfuNative | undefined; status: NativeStatus } | undefined;

function load(): { native: SfuNative | undefined; status: NativeStatus } {
  const env = process.env.SWITCHBOARD_SFU_NATIVE;
  if (env === '0' || env === 'false') return { native: undefined, status: { path: 'js', reason: 'SWITCHBOARD_SFU_NATIVE=0' } };
  if (process.platform !== 'linux') return { native: undefined, status: { path: 'js', reason: `native helper is Linux-only (${process.platform})` } };
  if (!existsSync(BINARY)) return { native: undefined, status: { path: 'js', reason: 'native helper not built (npm run build:native)' } };
  try {
    const m = createRequire(import.meta.url)(BINARY) as Partial<SfuNative>;
    if (typeof m.createSession !== 'function' || typeof m.protectRtp !== 'function' || typeof m.protectRtcp !== 'function' || typeof m.sendBatch !== 'function') {
      return { native: undefined, status: { path: 'js', reason: 'native helper is missing functions (stale build?)' } };
    }
    return { native: m as SfuNative, status: { path: 'native', reason: BINARY } };
  } catch (e) {
    return { native: undefined, status: { path: 'js', reason: `native helper did not load: ${(e as Error).message.split('\n')[0]}` } };
  }
}

/** The native helper, or undefined when this thread uses the JavaScript path. */
export function sfuNative(): SfuNative | undefined {
  loaded ??= load();
  return loaded.native;
}

/** Which path is in use on this thread and why (logs, stats). */
export function nativeStatus(): NativeStatus {
  loaded ??= load();
  return loaded.status;
}
