/**
 * Incremental UTF-8 validation for WebSocket text messages (RFC 6455 §8.1: "When an endpoint is to
 * interpret a byte stream as UTF-8 but finds that the byte stream is not, in fact, a valid UTF-8
 * stream, that endpoint MUST _Fail the WebSocket Connection_"). Fed piece by piece — fragments, or
 * parts of one frame as TCP delivers them — it reports the first byte that cannot belong to valid
 * UTF-8 at once, so a bad second fragment fails the connection then, not when the message ends.
 *
 * Valid means RFC 3629 §4 (the grammar `UTF8-octets`): no overlong forms, no surrogates
 * (U+D800–U+DFFF), nothing above U+10FFFF. Non-characters (U+FFFE, U+FFFF, …) are valid.
 *
 * Pure state machine, no I/O. The state between pieces is only the number of continuation bytes
 * still owed and the range the next one must fall in (the second byte of E0, ED, F0 and F4 leads
 * is narrower than 80–BF: that is how overlongs, surrogates and > U+10FFFF are refused).
 * Whole runs of complete code points go to Node's native `isUtf8`, so large ASCII/UTF-8 messages
 * are checked at memory speed; only the few bytes at piece boundaries take the byte loop.
 */
import { isUtf8 } from 'node:buffer';

export class Utf8Validator {
  /** Continuation bytes still expected for the current code point. */
  private need = 0;
  /** Allowed range of the next continuation byte. */
  private lo = 0x80;
  private hi = 0xbf;

  /** Forgets everything: the next byte starts a new code point. */
  reset(): void {
    this.need = 0;
    this.lo = 0x80;
    this.hi = 0xbf;
  }

  /** True when the bytes fed so far end on a code point boundary (a message may end here). */
  get complete(): boolean {
    return this.need === 0;
  }

  /**
   * Feeds `bytes[start, end)`. Returns false as soon as these bytes, after everything fed before,
   * cannot be a prefix of valid UTF-8. After a false return the state is undefined: reset() first.
   */
  write(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
    let i = start;
    // Finish a code point left open by the previous piece.
    while (this.need > 0 && i < end) {
      if (!this.step(bytes[i]!)) return false;
      i++;
    }
    if (i >= end) return true;
    // Split off the last (possibly incomplete) code point: at most 3 trailing bytes.
    let cut = end;
    for (let k = end - 1; k >= i && k >= end - 3; k--) {
      const b = bytes[k]!;
      if ((b & 0xc0) !== 0x80) {
        // A lead byte (or ASCII) at k: keep it for the byte loop if its sequence is incomplete.
        const len = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
        if (k + len > end) cut = k;
        break;
      }
    }
    if (cut > i && !isUtf8(i === 0 && cut === bytes.length ? bytes : bytes.subarray(i, cut))) return false;
    for (let k = cut; k < end; k++) if (!this.step(bytes[k]!)) return false;
    return true;
  }

  /** One byte through the state machine (RFC 3629 §4 table). */
  private step(b: number): boolean {
    if (this.need > 0) {
      if (b < this.lo || b > this.hi) return false;
      this.need--;
      this.lo = 0x80;
      this.hi = 0xbf;
      return true;
    }
    if (b < 0x80) return true;
    if (b < 0xc2) return false; // continuation without a lead, or C0/C1 (overlong 2-byte)
    if (b < 0xe0) {
      this.need = 1;
      return true;
    }
    if (b < 0xf0) {
      this.need = 2;
      if (b === 0xe0) this.lo = 0xa0; // overlong 3-byte
      else if (b === 0xed) this.hi = 0x9f; // surrogates D800–DFFF
      return true;
    }
    if (b < 0xf5) {
      this.need = 3;
      if (b === 0xf0) this.lo = 0x90; // overlong 4-byte
      else if (b === 0xf4) this.hi = 0x8f; // above U+10FFFF
      return true;
    }
    return false; // F5–FF never appear in UTF-8
  }
}
