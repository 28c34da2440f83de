/**
 * The admin page's paged list of one node's connections: `GET /admin/api/connections`.
 *
 * Order is (connected since, client id), both fixed for a connection's life, and the cursor is the
 * last row's key: a page starts strictly after it. So paging is complete and has no duplicates
 * while connections stay (a connection that arrives during paging appears on a later page, one
 * that leaves is simply not there), without the node keeping any per-reader state.
 *
 * The cursor names the node it belongs to. Behind a balancer the next page may reach another
 * node; admin.ts then forwards it to the cursor's node (through the signed cluster registry)
 * instead of answering from the wrong list.
 *
 * Query parameters (all optional, each validated; a bad one is a 400 with a `reason`):
 *   limit      1..200, default 50
 *   cursor     from the previous page's `next` (at most 400 characters)
 *   user       exact user id (at most 256 characters); `anonymous=1` lists only anonymous
 *              connections (user id ""), which have no user id to type
 *   node       whose list (admin.ts forwards); default this node, or the cursor's node
 */
import type { Session } from '../server/session.ts';
import { SessionState } from '../server/session.ts';

export const MAX_PAGE = 200;
export const DEFAULT_PAGE = 50;
export const MAX_CURSOR = 400;
export const MAX_USER = 256;
export const MAX_NODE = 256;
const PARAMS = new Set(['limit', 'cursor', 'user', 'anonymous', 'node']);

/** A refused query: HTTP status, a stable machine-readable reason, and a message naming the value. */
export class AdminQueryError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ConnectionQuery {
  limit: number;
  /** Start strictly after this key. */
  after?: { since: number; client: string };
  /** The node the cursor belongs to. */
  cursorNode?: string;
  /** Exact user id; '' for anonymous connections. */
  user?: string;
  /** The node asked for with `node=`. */
  node?: string;
}

export interface ConnectionRow {
  client: string;
  /** '' for an anonymous connection (shown as "(anonymous)"). */
  user: string;
  anonymous: boolean;
  /** What the client called itself in its connect command (not verified). */
  name: string;
  transport: string;
  remoteAddress: string;
  /** When it connected (ms since the epoch, node clock) and the same as ISO 8601. */
  since: number;
  connectedSince: string;
  channels: number;
}

export interface ConnectionPage {
  node: string;
  connections: ConnectionRow[];
  /** Matching connections on this node now (all pages). */
  total: number;
  /** The cursor of the next page; absent on the last page. */
  next?: string;
}

const bad = (reason: string, message: string) => new AdminQueryError(400, reason, message);
const show = (v: string) => JSON.stringify(v.length > 64 ? v.slice(0, 64) + '…' : v);

/** Parses and bounds the query; throws AdminQueryError (400) naming the bad parameter. */
export function parseConnectionQuery(params: URLSearchParams): ConnectionQuery {
  for (const k of new Set(params.keys())) {
    if (!PARAMS.has(k)) throw bad('unknown_param', `unknown parameter ${show(k)}; allowed: ${[...PARAMS].join(', ')}`);
    if (params.getAll(k).length > 1) throw bad('repeated_param', `parameter "${k}" is given more than once`);
  }
  const q: ConnectionQuery = { limit: DEFAULT_PAGE };
  const limit = params.get('limit');
  if (limit !== null) {
    if (!/^[0-9]{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE) throw bad('bad_limit', `"limit" must be an integer from 1 to ${MAX_PAGE}, not ${show(limit)}`);
    q.limit = Number(limit);
  }
  const cursor = params.get('cursor');
  if (cursor !== null && cursor !== '') {
    const c = decodeCursor(cursor);
    q.after = { since: c.since, client: c.client };
    q.cursorNode = c.node;
  }
  const user = params.get('user');
  const anonymous = params.get('anonymous');
  if (anonymous !== null && anonymous !== '0' && anonymous !== '1') throw bad('bad_anonymous', `"anonymous" must be 1 or 0, not ${show(anonymous)}`);
  if (user !== null) {
    if (user.length === 0) throw bad('bad_user', '"user" must not be empty; use anonymous=1 for anonymous connections');
    if (user.length > MAX_USER) throw bad('bad_user', `"user" is longer than ${MAX_USER} characters`);
    if (anonymous === '1') throw bad('bad_user', 'give "user" or "anonymous=1", not both');
    q.user = user;
  } else if (anonymous === '1') q.user = '';
  const node = params.get('node');
  if (node !== null && node !== '') {
    if (node.length > MAX_NODE) throw bad('bad_node', `"node" is longer than ${MAX_NODE} characters`);
    q.node = node;
  }
  if (q.node !== undefined && q.cursorNode !== undefined && q.node !== q.cursorNode) throw bad('bad_cursor', `the cursor belongs to node ${show(q.cursorNode)}, not ${show(q.node)}`);
  return q;
}

export function encodeCursor(node: string, since: number, client: string): string {
  return Buffer.from(JSON.stringify([node, since, client]), 'utf8').toString('base64url');
}

/** Throws AdminQueryError 400 `bad_cursor` for anything encodeCursor did not make. */
export function decodeCursor(cursor: string): { node: string; since: number; client: string } {
  if (cursor.length > MAX_CURSOR || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad('bad_cursor', `"cursor" is not a cursor this API gave (base64url, at most ${MAX_CURSOR} characters)`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('bad_cursor', '"cursor" does not decode');
  }
  if (!Array.isArray(v) || v.length !== 3) throw bad('bad_cursor', '"cursor" has the wrong shape');
  const [node, since, client] = v as unknown[];
  if (typeof node !== 'string' || node.length === 0 || node.length > MAX_NODE || typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0 || typeof client !== 'string' || client.length === 0 || client.length > 128) {
    throw bad('bad_cursor', '"cursor" has the wrong shape');
  }
  return { node, since, client };
}

function compare(a: { since: number; client: string }, b: { since: number; client: string }): number {
  return a.since - b.since || (a.client < b.client ? -1 : a.client > b.client ? 1 : 0);
}

/**
 * One page of `sessions` (connected ones only) matching `q`, for node `nodeName`.
 * O(connections + matches·log matches) per page: an admin call, not a hot path.
 */
export function connectionPage(nodeName: string, sessions: Iterable<Session>, q: ConnectionQuery): ConnectionPage {
  let total = 0;
  const after: Session[] = [];
  for (const s of sessions) {
    if (s.state !== SessionState.Connected) continue;
    if (q.user !== undefined && s.user !== q.user) continue;
    total++;
    if (q.after && compare({ since: s.startedAt, client: s.id }, q.after) <= 0) continue;
    after.push(s);
  }
  after.sort((a, b) => compare({ since: a.startedAt, client: a.id }, { since: b.startedAt, client: b.id }));
  const page = after.slice(0, q.limit);
  const rows = page.map((s) => ({
    client: s.id,
    user: s.user,
    anonymous: s.user === '',
    name: s.clientName,
    transport: s.transport.kind,
    remoteAddress: s.transport.remoteAddress,
    since: s.startedAt,
    connectedSince: new Date(s.startedAt).toISOString(),
    channels: s.subscriptionCount,
  }));
  const out: ConnectionPage = { node: nodeName, connections: rows, total };
  const last = page.at(-1);
  if (last && after.length > q.limit) out.next = encodeCursor(nodeName, last.startedAt, last.id);
  return out;
}
