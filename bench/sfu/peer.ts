/**
 * The SFU benchmark's load peers and their wire format, shared by bench/sfu/*.ts. The load peers
 * are werift RTCPeerConnections in their own processes (publisher, consumers): they speak real
 * ICE, DTLS-SRTP and RTCP to the system under test, so the server pays for decryption, forwarding,
 * encryption and the send syscall as it would with browsers.
 *
 * A packet of the synthetic stream is VP8-shaped so an SFU that parses payload descriptors can
 * forward it: descriptor byte 0x10 (S=1, partition 0, no extensions), then a VP8 frame tag whose
 * P bit is 0 on a keyframe (every `KEYFRAME_EVERY` packets, with the 0x9d012a start code and
 * 1280×720) and 1 otherwise. Bytes `STAMP_OFFSET`..+8 of the payload carry the publisher's
 * `process.hrtime.bigint()` (CLOCK_MONOTONIC, the same clock in every process on the machine), so
 * a consumer computes publisher → consumer latency without clock sync.
 */
import type { RTCPeerConnectionConfig } from 'werift';
import { peerConfig as sfuPeerConfig, VP8_PT } from '../../src/webrtc/sfu/werift-adapter.ts';

export { VP8_PT };
/** Where the send time sits in the RTP payload. */
export const STAMP_OFFSET = 16;
/** One keyframe per this many packets (1 s at 100 packets/s). */
export const KEYFRAME_EVERY = 100;

/** werift configuration of every benchmark peer: the SFU's (VP8 only, loopback candidates, IPv4), loopback pairs only. */
export function peerConfig(): RTCPeerConnectionConfig {
  // Loopback only: the other interfaces' candidates only add checks that compete for the CPU.
  return sfuPeerConfig({ iceFilterCandidatePair: (pair) => pair.remoteAddr[0] === '127.0.0.1' });
}

/** Builds packet payload number `n` of `size` bytes, stamped with the current monotonic time. */
export function makePayload(n: number, size: number): Buffer {
  const p = Buffer.alloc(size, 0x5a);
  p[0] = 0x10; // VP8 descriptor: S=1, PID=0
  const key = n % KEYFRAME_EVERY === 0;
  // VP8 frame tag (RFC 6386 §9.1): bit 0 is P (0 = keyframe), version 0, show_frame 1.
  p[1] = key ? 0x10 : 0x11;
  p[2] = 0x00;
  p[3] = 0x00;
  if (key) {
    p[4] = 0x9d;
    p[5] = 0x01;
    p[6] = 0x2a;
    p.writeUInt16LE(1280, 7);
    p.writeUInt16LE(720, 9);
  }
  p.writeBigUInt64BE(process.hrtime.bigint(), STAMP_OFFSET);
  return p;
}

/** Nanoseconds since the payload was stamped, or -1 if it is too short. */
export function ageNs(payload: Buffer): bigint {
  if (payload.length < STAMP_OFFSET + 8) return -1n;
  return process.hrtime.bigint() - payload.readBigUInt64BE(STAMP_OFFSET);
}

/** Resolves once `pc` reports `connected`, or rejects after `ms`. */
export function whenConnected(pc: { connectionStateChange: { subscribe(f: (s: string) => void): unknown }; connectionState: string }, ms: number): Promise<void> {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not connected after ${ms} ms (state ${pc.connectionState})`)), ms);
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        clearTimeout(t);
        resolve();
      } else if (s === 'failed' || s === 'closed') {
        clearTimeout(t);
        reject(new Error(`connection ${s}`));
      }
    });
  });
}

/** POSTs JSON to the server's control endpoint and returns its JSON answer. */
export async function control<T>(base: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}
