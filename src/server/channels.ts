/** Channel names, namespaces and permissions (docs/protocol.md "Channels"). */
import { ReplyError } from '../protocol/errors.ts';
import type { NamespaceOptions, NodeOptions } from './options.ts';

const CHANNEL_CHARS = /^[A-Za-z0-9_\-:.#@=,/]+$/;

export interface ResolvedChannel {
  namespace: string;
  options: NamespaceOptions;
}

/**
 * Validates a channel name and finds its namespace. Throws ReplyError 112 or 102. Permissions are
 * not checked here: callers go through authorize() (authorize.ts).
 */
export function resolveChannel(channel: string, opts: NodeOptions): ResolvedChannel {
  if (channel.length === 0 || channel.length > opts.maxChannelLength || !CHANNEL_CHARS.test(channel)) {
    throw new ReplyError('invalidChannel', JSON.stringify(channel.slice(0, 64)));
  }
  const colon = channel.indexOf(':');
  if (colon === -1) return { namespace: '', options: opts.defaultNamespace };
  const ns = channel.slice(0, colon);
  // Own properties only: a client-chosen name like `constructor` or `__proto__` must not find
  // Object.prototype members (issue 11 E4).
  const options = Object.hasOwn(opts.namespaces, ns) ? opts.namespaces[ns] : undefined;
  if (!options) throw new ReplyError('unknownChannel', `namespace "${ns.slice(0, 64)}" is not configured`);
  return { namespace: ns, options };
}
