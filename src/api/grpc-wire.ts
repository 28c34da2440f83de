/**
 * gRPC over HTTP/2 wire pieces, pure (no sockets, no timers): the length-prefixed message framing,
 * `grpc-timeout` and `grpc-message` (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
 * Used by the native gRPC path (grpc-native.ts).
 *
 * ```
 *  Length-Prefixed-Message → Compressed-Flag Message-Length Message
 *  +---------+-------------------------------+--------------------------…
 *  | flag 1B | length 4B, unsigned big-endian | message (length bytes)
 *  +---------+-------------------------------+--------------------------…
 * ```
 */
import { Code, ConnectError } from '@connectrpc/connect';

/** Bytes before each message: the compressed flag and the 4-byte big-endian length. */
export const PREFIX_BYTES = 5;

/** One message off the wire: its bytes (a view into the received chunk when it fit in one) and its flag. */
export interface WireMessage {
  compressed: boolean;
  data: Buffer;
}

/**
 * Splits a stream of DATA chunks into length-prefixed messages. `push` calls `onMessage` for each
 * complete message and throws a ConnectError (RESOURCE_EXHAUSTED) as soon as a prefix announces
 * more than `maxBytes`, before any of it is buffered; a flag other than 0 or 1 is INTERNAL. After
 * the last chunk, `idle` says whether the stream stopped between messages (false: one was cut off).
 */
export class MessageReader {
  /** A prefix split across chunks (allocated the first time one is). */
  private prefix: Buffer | null = null;
  private prefixLen = 0;
  private body: Buffer | null = null;
  private bodyLen = 0;
  private compressed = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (m: WireMessage) => void,
  ) {}

  /** Whether no message is half-read. */
  get idle(): boolean {
    return this.prefixLen === 0 && this.body === null;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.body === null) {
        // The common case: a whole message inside the chunk, handed on without a copy.
        if (this.prefixLen === 0 && chunk.length - at >= PREFIX_BYTES) {
          const flag = chunk[at]!;
          const len = chunk.readUInt32BE(at + 1);
          this.check(flag, len);
          if (chunk.length - at - PREFIX_BYTES >= len) {
            this.onMessage({ compressed: flag === 1, data: chunk.subarray(at + PREFIX_BYTES, at + PREFIX_BYTES + len) });
            at += PREFIX_BYTES + len;
            continue;
          }
          this.start(flag, len);
          at += PREFIX_BYTES;
          continue;
        }
        const prefix = (this.prefix ??= Buffer.alloc(PREFIX_BYTES));
        const n = Math.min(PREFIX_BYTES - this.prefixLen, chunk.length - at);
        chunk.copy(prefix, this.prefixLen, at, at + n);
        this.prefixLen += n;
        at += n;
        if (this.prefixLen < PREFIX_BYTES) return;
        const flag = prefix[0]!;
        const len = prefix.readUInt32BE(1);
        this.check(flag, len);
        this.start(flag, len);
        if (len === 0) this.emit();
        continue;
      }
      const n = Math.min(this.body.length - this.bodyLen, chunk.length - at);
      chunk.copy(this.body, this.bodyLen, at, at + n);
      this.bodyLen += n;
      at += n;
      if (this.bodyLen === this.body.length) this.emit();
    }
  }

  private check(flag: number, len: number): void {
    if (flag > 1) throw new ConnectError(`bad message prefix: compressed flag ${flag} (0 or 1)`, Code.Internal);
    if (len > this.maxBytes) throw new ConnectError(`message of ${len} bytes is larger than the limit of ${this.maxBytes}`, Code.ResourceExhausted);
  }

  private start(flag: number, len: number): void {
    this.prefixLen = 0;
    this.compressed = flag === 1;
    this.body = Buffer.allocUnsafe(len);
    this.bodyLen = 0;
  }

  private emit(): void {
    const data = this.body!;
    this.body = null;
    this.prefixLen = 0;
    this.onMessage({ compressed: this.compressed, data });
  }
}

/** `bytes` with its 5-byte prefix (uncompressed), ready for one DATA write. */
export function frameMessage(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, PREFIX_BYTES);
  return out;
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * Milliseconds of a `grpc-timeout` value (`TimeoutValue TimeoutUnit`: 1 to 8 ASCII digits, then one
 * of H M S m u n), or undefined when it is malformed.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  if (value.length < 2 || value.length > 9) return undefined;
  const unit = TIMEOUT_UNIT_MS[value[value.length - 1]!];
  if (unit === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < value.length - 1; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n * unit;
}

/**
 * `grpc-message` percent-encoded as the gRPC spec says (PROTOCOL-HTTP2.md: only bytes outside
 * 0x20–0x7E and `%`). Connect encodes it with encodeURIComponent (`:` → `%3A`), which spec-following
 * decoders read fine but grpc-js decodes with decodeURI, which leaves `%3A`, `%2C`… in the message.
 */
export function grpcPercentEncode(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  return out;
}
