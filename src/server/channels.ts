/** Channel names, namespaces and permissions (docs/protocol.md "Channels"). */
import { ReplyError } from '../protocol/errors.ts';
import type { Access, NamespaceOptions, NodeOptions } from './options.ts';

const CHANNEL_CHARS = /^[A-Za-z0-9_\-:.#@=,/]+$/;

export interface ResolvedChannel {
  namespace: string;
  options: NamespaceOptions;
}

/** Validates a channel name and finds its namespace. Throws ReplyError 112 or 102. */
export function resolveChannel(channel: string, opts: NodeOptions): ResolvedChannel {
  if (channel.length === 0 || channel.length > opts.maxChannelLength || !CHANNEL_CHARS.test(channel)) {
    throw new ReplyError('invalidChannel', JSON.stringify(channel.slice(0, 64)));
  }
  const colon = channel.indexOf(':');
  if (colon === -1) return { namespace: '', options: opts.defaultNamespace };
  const ns = channel.slice(0, colon);
  const options = opts.namespaces[ns];
  if (!options) throw new ReplyError('unknownChannel', `namespace "${ns.slice(0, 64)}" is not configured`);
  return { namespace: ns, options };
}

/** Whether a client (anonymous when user is "") has the given access. */
export function allowed(access: Access, user: string): boolean {
  if (access === 'anonymous') return true;
  if (access === 'authenticated') return user !== '';
  return false;
}

/**
 * User-limited channels: when the name contains '#', the part after the last '#' lists the users
 * (comma-separated) who may subscribe: `notifications:#42`, `dm:#42,43`.
 */
export function userAllowed(channel: string, user: string): boolean {
  const hash = channel.lastIndexOf('#');
  if (hash === -1) return true;
  if (user === '') return false;
  return channel
    .slice(hash + 1)
    .split(',')
    .includes(user);
}
