/**
 * The one authorization decision for every channel operation (docs/protocol.md "Permissions").
 *
 * Every path that acts on a channel asks here first: the client commands (sub, pub, history,
 * presence, presence_stats, signal, and recovery, which is a sub with a position), the HTTP server
 * API, and the node's own publish. Nothing else checks namespace permission fields or user-limited
 * channel names, so a new operation cannot forget half the policy.
 *
 * The decision, in order (the first that fails answers):
 * 1. the channel name is valid (112) — for everyone, the server API included;
 * 2. its namespace is configured (102);
 * 3. the namespace has the feature on: history for `history`, presence for
 *    `presence` and `presence_stats`, signaling for `signal` (108); `recover` in a namespace
 *    without recovery is decided as `subscribe` (the server ignores the position);
 * 4. the identity may do it (103): the server API always may; a client needs the namespace's
 *    access level for the operation (`subscribe`, `publish`, `historyRead`, `presenceRead`) and,
 *    on a user-limited channel (`…#alice` or `…#alice,bob`), to be one of the listed users.
 *    `recover` needs subscribe and history read; `signal` needs subscribe and room membership.
 *
 * `recover` decides the replay only: subscribe.ts asks `subscribe` for the subscription and, when
 * `recover` is refused, subscribes without replaying (the reply says `recovered: false`).
 */
import { ReplyError } from '../protocol/errors.ts';
import { resolveChannel, type ResolvedChannel } from './channels.ts';
import type { Access, NamespaceOptions, NodeOptions } from './options.ts';

/** A channel operation. `recover` is a subscribe with a position (it replays history). */
export type Operation = 'subscribe' | 'recover' | 'publish' | 'history' | 'presence' | 'presence_stats' | 'signal';

/** Who asks: a client connection (user "" when anonymous) or the server API (a backend holding the API key). */
export type Identity = { readonly kind: 'client'; readonly user: string } | { readonly kind: 'api' };

/** The server API identity. */
export const SERVER_API: Identity = Object.freeze({ kind: 'api' });

/** A client identity; `user` is "" for an anonymous connection. */
export function clientIdentity(user: string): Identity {
  return { kind: 'client', user };
}

/** Facts about the asker's state that some operations depend on. */
export interface AuthorizeContext {
  /** For `signal`: whether the client is a member of the room (subscribed, with the subscribe finished). */
  member?: boolean;
}

/** Whether an access level admits a client (anonymous when user is ""). */
function admits(access: Access, user: string): boolean {
  if (access === 'anonymous') return true;
  if (access === 'authenticated') return user !== '';
  return false;
}

/**
 * User-limited channels: when the name contains '#', the part after the last '#' lists the users
 * (comma-separated) who may use it: `notifications:#42`, `dm:#42,43`. Anonymous clients never may.
 */
export function userListed(channel: string, user: string): boolean {
  const hash = channel.lastIndexOf('#');
  if (hash === -1) return true;
  if (user === '') return false;
  return channel
    .slice(hash + 1)
    .split(',')
    .includes(user);
}

/** The feature an operation needs in the namespace, or null (subscribe and publish need none). */
function unavailable(op: Operation, ns: NamespaceOptions): string | null {
  switch (op) {
    case 'history':
      return ns.historySize === 0 ? 'history is off for this namespace' : null;
    case 'presence':
    case 'presence_stats':
      return ns.presence ? null : 'presence is off for this namespace';
    case 'signal':
      return ns.signaling ? null : 'this namespace is not a signaling namespace';
    case 'subscribe':
    case 'recover': // only reached with recovery on, which needs historySize > 0 (resolveOptions)
    case 'publish':
      return null;
  }
}

/** The namespace access levels an operation needs, all of them. */
function accessFor(op: Operation, ns: NamespaceOptions): Access[] {
  switch (op) {
    case 'subscribe':
    case 'signal':
      return [ns.subscribe];
    case 'recover':
      return [ns.subscribe, ns.historyRead];
    case 'publish':
      return [ns.publish];
    case 'history':
      return [ns.historyRead];
    case 'presence':
    case 'presence_stats':
      return [ns.presenceRead];
  }
}

/**
 * Decides whether `identity` may perform `op` on `channel`. Returns the resolved channel when
 * allowed, otherwise the coded ReplyError to answer with (112 invalid channel, 102 unknown
 * namespace, 108 not available, 103 permission denied). Pure: no I/O, no state.
 */
export function authorize(op: Operation, channel: string, identity: Identity, options: NodeOptions, context: AuthorizeContext = {}): ResolvedChannel | ReplyError {
  let resolved: ResolvedChannel;
  try {
    resolved = resolveChannel(channel, options);
  } catch (err) {
    if (err instanceof ReplyError) return err;
    throw err;
  }
  // A position on a namespace without recovery is ignored: the sub is a plain subscribe.
  if (op === 'recover' && !resolved.options.recover) op = 'subscribe';
  const off = unavailable(op, resolved.options);
  if (off !== null) return new ReplyError('notAvailable', off);
  if (identity.kind === 'api') return resolved;
  const user = identity.user;
  for (const access of accessFor(op, resolved.options)) {
    if (!admits(access, user)) return new ReplyError('permissionDenied', user === '' ? 'not allowed for anonymous clients' : undefined);
  }
  if (!userListed(channel, user)) return new ReplyError('permissionDenied', 'channel is limited to other users');
  if (op === 'signal' && context.member !== true) return new ReplyError('permissionDenied', 'only members (subscribers) of a room may signal in it');
  return resolved;
}

/** {@link authorize}, throwing the ReplyError instead of returning it. */
export function mustAuthorize(op: Operation, channel: string, identity: Identity, options: NodeOptions, context?: AuthorizeContext): ResolvedChannel {
  const r = authorize(op, channel, identity, options, context);
  if (r instanceof ReplyError) throw r;
  return r;
}

/** How many kinds of client an access level admits (anonymous ⊃ authenticated ⊃ none). */
const BREADTH: Record<Access, number> = { none: 0, authenticated: 1, anonymous: 2 };

/**
 * Config warnings for recoverable namespaces whose subscribers may not all read history: those
 * clients subscribe but are never replayed anything (`recovered: false`). Usually a forgotten
 * `historyRead`. One line per namespace, for the start-up log.
 */
export function recoveryWarnings(options: NodeOptions): string[] {
  const out: string[] = [];
  const check = (name: string, ns: NamespaceOptions) => {
    if (ns.recover && BREADTH[ns.subscribe] > BREADTH[ns.historyRead]) {
      out.push(`namespace ${name}: recover is on and subscribe is "${ns.subscribe}", but historyRead is "${ns.historyRead}": those clients subscribe without recovery (recovered: false); set historyRead to allow it`);
    }
  };
  check('(default)', options.defaultNamespace);
  for (const [name, ns] of Object.entries(options.namespaces)) check(`"${name}"`, ns);
  return out;
}
