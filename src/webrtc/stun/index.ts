/** STUN codec (RFC 8489) and the pieces TURN shares with it. */
export * from './constants.ts';
export * from './errors.ts';
export * from './ip.ts';
export * from './message.ts';
export * from './address.ts';
export * from './attributes.ts';
export * from './error-code.ts';
export * from './unknown-attributes.ts';
export * from './integrity.ts';
export * from './fingerprint.ts';
export * from './channel-data.ts';
export * from './framing.ts';
export * from './binding.ts';
