/**
 * The 100-byte benchmark message: `@@` + the send time in microseconds of the monotonic clock
 * (16 digits) + padding. The monotonic clock (CLOCK_MONOTONIC via process.hrtime) is shared by
 * every process on the machine, so a subscriber in another process can subtract it directly.
 * The payload is plain ASCII so it travels unchanged (no escaping) in JSON strings, socket.io
 * packets and raw ws text frames alike, and `@@` appears nowhere else in any system's framing.
 */

export const PAYLOAD_BYTES = 100;
export const MARKER = Buffer.from('@@');
const TS_DIGITS = 16;
const PADDING = 'x'.repeat(PAYLOAD_BYTES - MARKER.length - TS_DIGITS);

/** Microseconds of the system-wide monotonic clock. */
export function nowMicros(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1000);
}

export function makePayload(sentMicros: number): string {
  return `@@${String(sentMicros).padStart(TS_DIGITS, '0')}${PADDING}`;
}

/** Reads the send time that follows a marker found at `at`; -1 when the digits are cut short. */
export function readSentMicros(buf: Buffer, at: number): number {
  let v = 0;
  const end = at + MARKER.length + TS_DIGITS;
  if (end > buf.length) return -1;
  for (let i = at + MARKER.length; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}
