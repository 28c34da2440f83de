/**
 * STUN and TURN wire constants. Every number carries the RFC section that defines it.
 *
 * RFC 8489 (STUN): https://www.rfc-editor.org/rfc/rfc8489
 * RFC 8656 (TURN): https://www.rfc-editor.org/rfc/rfc8656
 * RFC 6062 (TURN TCP allocations): https://www.rfc-editor.org/rfc/rfc6062
 */

/** RFC 8489 §5: "The Magic Cookie field MUST contain the fixed value 0x2112A442 in network byte order." */
export const MAGIC_COOKIE = 0x2112a442;

/** RFC 8489 §5: the header is 20 bytes: type (2), length (2), magic cookie (4), transaction id (12). */
export const HEADER_LENGTH = 20;

/** RFC 8489 §5: the transaction ID is a 96-bit identifier. */
export const TRANSACTION_ID_LENGTH = 12;

/** RFC 8489 §5: the message length excludes the header and is always a multiple of 4. */
export const MAX_MESSAGE_LENGTH = 0xffff;

/** RFC 8489 §5: the two bits of a message class, spread inside the message type. */
export const StunClass = {
  request: 0b00,
  indication: 0b01,
  success: 0b10,
  error: 0b11,
} as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

/** Methods: Binding is RFC 8489 §18.2; the rest are RFC 8656 §17 and RFC 6062 §6.1. */
export const StunMethod = {
  binding: 0x001,
  allocate: 0x003,
  refresh: 0x004,
  send: 0x006,
  data: 0x007,
  createPermission: 0x008,
  channelBind: 0x009,
  connect: 0x00a,
  connectionBind: 0x00b,
  connectionAttempt: 0x00c,
} as const;
export type StunMethod = (typeof StunMethod)[keyof typeof StunMethod];

/**
 * Attribute types. RFC 8489 §14: "Attributes with type values between 0x0000 and 0x7FFF are
 * comprehension-required attributes ... between 0x8000 and 0xFFFF are comprehension-optional".
 */
export const AttrType = {
  // RFC 8489 §18.3.1 (comprehension-required)
  mappedAddress: 0x0001,
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  unknownAttributes: 0x000a,
  realm: 0x0014,
  nonce: 0x0015,
  messageIntegritySha256: 0x001c,
  passwordAlgorithm: 0x001d,
  userhash: 0x001e,
  xorMappedAddress: 0x0020,
  // RFC 8489 §18.3.2 (comprehension-optional)
  passwordAlgorithms: 0x8002,
  alternateDomain: 0x8003,
  software: 0x8022,
  alternateServer: 0x8023,
  fingerprint: 0x8028,
  // RFC 8656 §18 (TURN)
  channelNumber: 0x000c,
  lifetime: 0x000d,
  xorPeerAddress: 0x0012,
  data: 0x0013,
  xorRelayedAddress: 0x0016,
  requestedAddressFamily: 0x0017,
  evenPort: 0x0018,
  requestedTransport: 0x0019,
  dontFragment: 0x001a,
  reservationToken: 0x0022,
  additionalAddressFamily: 0x8000,
  addressErrorCode: 0x8001,
  icmp: 0x8004,
  // RFC 6062 §6.2.1
  connectionId: 0x002a,
  // RFC 8445 §16.1 (ICE; comprehension-optional ones are ignored, PRIORITY/USE-CANDIDATE are known)
  priority: 0x0024,
  useCandidate: 0x0025,
  iceControlled: 0x8029,
  iceControlling: 0x802a,
  // RFC 5780 §7 (NAT behaviour discovery) — comprehension-optional ones only
  responseOrigin: 0x802b,
  otherAddress: 0x802c,
} as const;
export type AttrType = (typeof AttrType)[keyof typeof AttrType];

/** RFC 8489 §14: the high bit clear means "comprehension-required". */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

/** RFC 8489 §14.7: FINGERPRINT = CRC-32 of the message XOR'ed with 0x5354554e ("STUN"). */
export const FINGERPRINT_XOR = 0x5354554e;

/**
 * Channel numbers. RFC 8656 §12 narrowed the range to 0x4000–0x4FFF (0x5000–0x7FFF reserved, to
 * leave room for DTLS-SRTP multiplexing), but RFC 5766 §11 allowed 0x4000–0x7FFF and deployed
 * clients still pick from it — coturn's turnutils_uclient draws a random number in 0x4000–0x7FFF.
 * The server accepts the RFC 5766 range, as coturn does, so those clients interoperate.
 */
export const CHANNEL_MIN = 0x4000;
export const CHANNEL_MAX = 0x7fff;
/** The RFC 8656 §12 upper bound, for clients of ours that want to be strictly current. */
export const CHANNEL_MAX_RFC8656 = 0x4fff;

/** RFC 8656 §14.7: REQUESTED-TRANSPORT protocol numbers (IANA): UDP = 17, TCP = 6 (RFC 6062). */
export const TRANSPORT_UDP = 17;
export const TRANSPORT_TCP = 6;

/** RFC 8656 §18.8: REQUESTED-ADDRESS-FAMILY values. */
export const FAMILY_IPV4 = 0x01;
export const FAMILY_IPV6 = 0x02;
