/**
 * What every consumer does with one input, as pure functions: derive the idempotency key from the
 * source's identity, decode and bound the data, check the channel, map a routing key to a channel,
 * and tell a poison input (dead-letter it) from a failure worth retrying.
 */
import { createHash } from 'node:crypto';
import { checkDepth } from '../protocol/codec.ts';
import { ErrorCode } from '../protocol/codes.ts';
import { ProtocolError, ReplyError } from '../protocol/errors.ts';
import { MAX_IDEMPOTENCY_KEY_BYTES, utf8Length } from '../protocol/frames.ts';
import { authorize, SERVER_API } from '../server/authorize.ts';
import type { NodeOptions } from '../server/options.ts';
import type { RouteOptions } from './options.ts';

/** Why an input was set aside: the `reason` label of the dead-letter metric and the stored reason. */
export type DeadReason =
  | 'bad_json'
  | 'bad_utf8'
  | 'too_large'
  | 'no_channel'
  | 'invalid_channel'
  | 'unknown_namespace'
  | 'not_allowed'
  | 'no_message_id'
  | 'no_data'
  | 'max_deliver'
  | 'rejected';

/** An input that must not be retried: set it aside with this reason and detail. */
export class PoisonError extends Error {
  override readonly name = 'PoisonError';
  constructor(
    readonly reason: DeadReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The idempotency key of an input, from the source's own identity (`outbox:<table>:<id>`,
 * `amqp:<queue>:<message_id>`): a replay of the same input after a crash carries the same key, so
 * the broker stores it once. Identities too long for a key (MAX_IDEMPOTENCY_KEY_BYTES) are
 * replaced by their SHA-256, which keeps them distinct.
 */
export function sourceKey(prefix: string, id: string): string {
  const key = `${prefix}:${id}`;
  if (utf8Length(key) <= MAX_IDEMPOTENCY_KEY_BYTES) return key;
  return `${prefix}:#${createHash('sha256').update(id).digest('base64url')}`;
}

/** Parses the JSON text of an input's data, bounded in size and nesting depth. */
export function decodeData(text: string | Buffer, maxBytes: number): unknown {
  const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  if (bytes > maxBytes) throw new PoisonError('too_large', `data is ${bytes} bytes, over maxBytes ${maxBytes}`);
  let v: unknown;
  try {
    v = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
    checkDepth(v);
  } catch (err) {
    throw new PoisonError('bad_json', err instanceof ProtocolError ? err.message : `malformed JSON: ${(err as Error).message}`);
  }
  return v;
}

/**
 * Checks that the server may publish to `channel` and that the consumer's `namespaces` allow it,
 * with the same authorize() as every other path. Throws PoisonError.
 */
export function checkChannel(channel: string, options: NodeOptions, namespaces: readonly string[]): void {
  const r = authorize('publish', channel, SERVER_API, options);
  if (r instanceof ReplyError) throw poisonFromReply(r);
  if (namespaces.length > 0 && !namespaces.includes(r.namespace)) {
    throw new PoisonError('not_allowed', `namespace "${r.namespace}" is not among this consumer's namespaces (${namespaces.map((n) => JSON.stringify(n)).join(', ')})`);
  }
}

/** The dead-letter reason of a permanent ReplyError from a publish. */
export function poisonFromReply(err: ReplyError): PoisonError {
  const reason: DeadReason =
    err.code === ErrorCode.invalidChannel.code
      ? 'invalid_channel'
      : err.code === ErrorCode.unknownChannel.code
        ? 'unknown_namespace'
        : err.code === ErrorCode.permissionDenied.code
          ? 'not_allowed'
          : 'rejected';
  return new PoisonError(reason, `${err.code} ${err.message}`);
}

/**
 * Whether a publish failure is permanent for this input (a non-temporary ReplyError: the channel
 * or data is refused) rather than a failure of the broker or the network, which is retried.
 */
export function isPermanent(err: unknown): err is ReplyError {
  return err instanceof ReplyError && !err.temporary;
}

/** A compiled routing-key mapping. */
export interface Route {
  readonly words: readonly string[];
  readonly channel: string;
}

export function compileRoutes(routes: readonly RouteOptions[]): Route[] {
  return routes.map((r) => ({ words: r.match.split('.'), channel: r.channel }));
}

/**
 * The channel for `routingKey` from the first matching route (AMQP topic semantics: `*` is one
 * word, `#` zero or more), its `{n}` filled with what the n-th wildcard matched; null if none.
 */
export function routeChannel(routes: readonly Route[], routingKey: string): string | null {
  const words = routingKey === '' ? [] : routingKey.split('.');
  for (const r of routes) {
    const caught = matchWords(r.words, 0, words, 0, []);
    if (caught) return r.channel.replace(/\{(\d+)\}/g, (_, n: string) => caught[Number(n) - 1] ?? '');
  }
  return null;
}

function matchWords(pattern: readonly string[], pi: number, words: readonly string[], wi: number, caught: string[]): string[] | null {
  if (pi === pattern.length) return wi === words.length ? caught : null;
  const p = pattern[pi]!;
  if (p === '#') {
    // Shortest first; routing keys are at most 255 bytes, so the backtracking stays small.
    for (let end = wi; end <= words.length; end++) {
      const r = matchWords(pattern, pi + 1, words, end, [...caught, words.slice(wi, end).join('.')]);
      if (r) return r;
    }
    return null;
  }
  if (wi === words.length) return null;
  if (p === '*') return matchWords(pattern, pi + 1, words, wi + 1, [...caught, words[wi]!]);
  return p === words[wi] ? matchWords(pattern, pi + 1, words, wi + 1, caught) : null;
}

/**
 * The channel for a NATS `subject` from the first matching route (`*` is one token, `>` one or
 * more at the end), its `{n}` filled with what the n-th wildcard matched (`>`: the dotted rest); null if none.
 */
export function natsRouteChannel(routes: readonly Route[], subject: string): string | null {
  const tokens = subject.split('.');
  for (const r of routes) {
    const caught: string[] = [];
    let ok = true;
    for (let i = 0; i < r.words.length && ok; i++) {
      const w = r.words[i]!;
      if (w === '>') {
        if (tokens.length <= i) ok = false;
        else caught.push(tokens.slice(i).join('.'));
        break;
      }
      if (i >= tokens.length) ok = false;
      else if (w === '*') caught.push(tokens[i]!);
      else if (w !== tokens[i]) ok = false;
    }
    if (ok && r.words[r.words.length - 1] !== '>' && tokens.length !== r.words.length) ok = false;
    if (ok) return r.channel.replace(/\{(\d+)\}/g, (_, n: string) => caught[Number(n) - 1] ?? '');
  }
  return null;
}
