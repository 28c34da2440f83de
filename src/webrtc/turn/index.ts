/**
 * Public API of the STUN/TURN server (RFC 8489, RFC 8656).
 *
 *     import { TurnServer, resolveTurnOptions, createTurnCredentials } from './webrtc/turn/index.ts';
 */
export { TurnServer, type BoundAddress, type TurnServerDeps } from './server.ts';
export {
  resolveTurnOptions,
  defaultTurnOptions,
  turnOptionsFromEnv,
  TurnConfigError,
  TURN_ENV,
  type TurnServerOptions,
} from './options.ts';
export {
  createTurnCredentials,
  restPassword,
  parseRestUsername,
  anonymousTurnUser,
  anonymousScope,
  ANONYMOUS_USER_PREFIX,
  ANONYMOUS_CREDENTIAL_TTL,
  type TurnCredentials,
} from '../../server/turn-credentials.ts';
export { type TurnMetrics } from './metrics.ts';
export { PeerPolicy, parsePeerRange, LOOPBACK_RANGES, PRIVATE_RANGES, ALWAYS_DENIED_RANGES } from './peer-policy.ts';
