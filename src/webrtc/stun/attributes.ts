/**
 * The small fixed-shape attributes: text (USERNAME, REALM, NONCE, SOFTWARE), LIFETIME,
 * CHANNEL-NUMBER, REQUESTED-TRANSPORT, REQUESTED-ADDRESS-FAMILY, EVEN-PORT, RESERVATION-TOKEN,
 * CONNECTION-ID. Each decoder checks the exact length its RFC section fixes.
 */
import { StunDecodeError } from './errors.ts';

/**
 * Length limits of the text attributes: USERNAME < 513 bytes (RFC 8489 §14.3), REALM and NONCE
 * < 128 characters / 763 bytes (§14.9, §14.10), SOFTWARE < 128 characters / 763 bytes (§14.14).
 */
export const TEXT_LIMITS = { username: 513, realm: 763, nonce: 763, software: 763 } as const;

export function decodeText(value: Buffer, name: keyof typeof TEXT_LIMITS): string {
  if (value.length > TEXT_LIMITS[name]) throw new StunDecodeError(`${name.toUpperCase()} too long: ${value.length} bytes`);
  return value.toString('utf8');
}

export function encodeText(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

function exact(value: Buffer, len: number, name: string): void {
  if (value.length !== len) throw new StunDecodeError(`${name} must be ${len} bytes, got ${value.length}`);
}

/** LIFETIME (RFC 8656 §18.2): seconds, 32 bits. */
export function decodeLifetime(value: Buffer): number {
  exact(value, 4, 'LIFETIME');
  return value.readUInt32BE(0);
}

export function encodeLifetime(seconds: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(seconds >>> 0, 0);
  return b;
}

/** CHANNEL-NUMBER (RFC 8656 §18.1): 16-bit number then 16 bits RFFU. */
export function decodeChannelNumber(value: Buffer): number {
  exact(value, 4, 'CHANNEL-NUMBER');
  return value.readUInt16BE(0);
}

export function encodeChannelNumber(channel: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(channel, 0);
  return b;
}

/** REQUESTED-TRANSPORT (RFC 8656 §18.7): protocol number then 24 bits RFFU. */
export function decodeRequestedTransport(value: Buffer): number {
  exact(value, 4, 'REQUESTED-TRANSPORT');
  return value[0]!;
}

export function encodeRequestedTransport(protocol: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = protocol;
  return b;
}

/** REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.8, §18.11): family then 24 bits RFFU. */
export function decodeAddressFamily(value: Buffer): number {
  exact(value, 4, 'address family');
  return value[0]!;
}

export function encodeAddressFamily(family: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = family;
  return b;
}

/** EVEN-PORT (RFC 8656 §18.6): one byte whose top bit R asks to reserve the next port too. */
export function decodeEvenPort(value: Buffer): { reserveNext: boolean } {
  exact(value, 1, 'EVEN-PORT');
  return { reserveNext: (value[0]! & 0x80) !== 0 };
}

export function encodeEvenPort(reserveNext: boolean): Buffer {
  return Buffer.from([reserveNext ? 0x80 : 0]);
}

/** RESERVATION-TOKEN (RFC 8656 §18.9): 8 opaque bytes. */
export function decodeReservationToken(value: Buffer): Buffer {
  exact(value, 8, 'RESERVATION-TOKEN');
  return value;
}

/** CONNECTION-ID (RFC 6062 §6.2.1): 32 bits. */
export function decodeConnectionId(value: Buffer): number {
  exact(value, 4, 'CONNECTION-ID');
  return value.readUInt32BE(0);
}
