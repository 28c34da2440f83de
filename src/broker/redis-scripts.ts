/**
 * Key layout and Lua scripts of the Redis broker (docs/brokers.md "Data layout in Redis").
 *
 * Every key of a channel carries the channel in a hash tag, `<prefix>:{<channel>}:<kind>`, so in a
 * Redis Cluster all of a channel's keys and its shard pub/sub channel live in one slot and a
 * script may touch them together. Channel names cannot contain `{` or `}` (docs/protocol.md); if a
 * caller passed one anyway, every key of that channel would still share its tag prefix, so the
 * keys still land together.
 *
 * Why scripts: a publish must assign the next offset, append to history and PUBLISH the payload as
 * one step. Redis runs a script without interleaving any other command, so two publishers can
 * never take the same offset, and the order of messages on the pub/sub channel is the order of
 * offsets. Time comes from the server's TIME, never from a node's clock, so TTLs agree across nodes.
 */

/** Redis key names of one channel. */
export interface ChannelKeys {
  /** Hash: `e` epoch, `o` top offset. Lives `streamTtl` after the last publish. */
  meta: string;
  /** Stream: entry id `<offset>-0`, fields `d` (data JSON), `x` (expiry, ms since epoch), `i` (info JSON, optional). */
  stream: string;
  /** Hash: client id → info JSON. */
  presence: string;
  /** Sorted set: client id scored by its presence expiry (ms since epoch). */
  presenceExpiry: string;
  /** Sorted set: client id scored by its join sequence (the order and cursor of member pages). */
  presenceOrder: string;
  /** Hash: user → number of that user's clients present (HLEN = distinct users). */
  presenceUsers: string;
  /** String: the last join sequence handed out. */
  presenceSeq: string;
  /** Pub/sub channel carrying publications, joins and leaves. */
  pubsub: string;
  /** Prefix of idempotency keys: `<idem><key>` holds `<epoch>:<offset>`. */
  idem: string;
}

export function channelKeys(prefix: string, channel: string): ChannelKeys {
  const base = `${prefix}:{${channel}}`;
  return { meta: `${base}:m`, stream: `${base}:h`, presence: `${base}:p`, presenceExpiry: `${base}:z`, presenceOrder: `${base}:o`, presenceUsers: `${base}:u`, presenceSeq: `${base}:q`, pubsub: `${base}:c`, idem: `${base}:k:` };
}

/** The five keys of the presence script, in its KEYS order. */
export function presenceKeys(prefix: string, channel: string): [string, string, string, string, string] {
  const k = channelKeys(prefix, channel);
  return [k.presence, k.presenceExpiry, k.presenceOrder, k.presenceUsers, k.presenceSeq];
}

/** Current server time in ms, and the helper that drops expired history entries from the head. */
const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fmt(n) return string.format('%.0f', n) end
local function trim_expired(stream)
  while true do
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 64)
    if #head == 0 then return end
    for _, e in ipairs(head) do
      local f = e[2]
      local x = 0
      for j = 1, #f, 2 do if f[j] == 'x' then x = tonumber(f[j + 1]) end end
      if x > now then
        redis.call('XTRIM', stream, 'MINID', e[1])
        return
      end
    end
    local last = head[#head][1]
    local ms = string.match(last, '^(%d+)')
    redis.call('XTRIM', stream, 'MINID', fmt(tonumber(ms) + 1) .. '-0')
    if #head < 64 then return end
  end
end
local function ensure_meta(meta, stream, candidate, ttl)
  local epoch = redis.call('HGET', meta, 'e')
  if not epoch then
    -- A new stream (first use, or its position expired, or Redis lost its data): new epoch,
    -- and any history left under the key belongs to the old one.
    epoch = candidate
    redis.call('HSET', meta, 'e', epoch, 'o', 0)
    redis.call('DEL', stream)
    redis.call('PEXPIRE', meta, ttl)
  end
  return epoch
end
`;

/**
 * A batch of publications to one channel, in order (RedisBroker collects the publishes of one
 * event-loop turn per channel: one script call and one pub/sub message carry them all).
 *
 * KEYS: meta, stream, then the idempotency keys of the publications that have one (keys of the
 *       channel's slot, so a cluster accepts the call).
 * ARGV: [1] pubsub channel, [2] historySize, [3] historyTtlMs, [4] streamTtlMs, [5] epoch
 *       candidate, [6] idempotency TTL ms, [7] publish command (PUBLISH or SPUBLISH), [8] n, then
 *       three per publication: data JSON, info JSON (or ''), index of its idempotency key in KEYS
 *       (0: none).
 * Returns {epoch, r1, …, rn}: ri is the offset given to publication i, or the string
 * 'epoch:offset' of the first publish with the same idempotency key (within the TTL, or earlier
 * in this batch), in which case nothing was published for it.
 *
 * The publications that are new take consecutive offsets (one HINCRBY for all: the script runs
 * alone, so nobody else takes an offset between them) and go out as one message: the single form
 * `{"o":…,"e":…,"d":…,"i":…}` for one, `{"o":<first>,"e":…,"b":[[d],[d,i],…]}` for several
 * (item k has offset first + k).
 */
export const PUBLISH_SCRIPT = `${PRELUDE}
local meta, stream = KEYS[1], KEYS[2]
local size, ttl, streamTtl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local idemTtl, n = tonumber(ARGV[6]), tonumber(ARGV[8])
local keep = math.max(streamTtl, ttl)
local out = {''}
-- First pass: which publications are new. A key seen within its TTL answers with the stored
-- position; a key given twice in this batch answers the second with the first one's offset.
local fresh, count = {}, 0
local firstIn, sameAs = {}, {}
for i = 1, n do
  local ki = tonumber(ARGV[8 + 3 * i])
  local new = true
  if ki > 0 then
    local key = KEYS[ki]
    if firstIn[key] then
      sameAs[i] = firstIn[key]
      new = false
    else
      local seen = redis.call('GET', key)
      if seen then
        out[i + 1] = seen
        new = false
      else
        firstIn[key] = i
      end
    end
  end
  if new then
    count = count + 1
    fresh[count] = i
  end
end
if count == 0 then return out end
local epoch = ensure_meta(meta, stream, ARGV[5], keep)
out[1] = epoch
local first = redis.call('HINCRBY', meta, 'o', count) - count + 1
redis.call('PEXPIRE', meta, keep)
local history = size > 0 and ttl > 0
local expiry = fmt(now + ttl)
local parts = {}
for k = 1, count do
  local i = fresh[k]
  local offset = first + k - 1
  local data, info, ki = ARGV[6 + 3 * i], ARGV[7 + 3 * i], tonumber(ARGV[8 + 3 * i])
  if history then
    if info ~= '' then
      redis.call('XADD', stream, 'MAXLEN', size, fmt(offset) .. '-0', 'd', data, 'x', expiry, 'i', info)
    else
      redis.call('XADD', stream, 'MAXLEN', size, fmt(offset) .. '-0', 'd', data, 'x', expiry)
    end
  end
  if ki > 0 then redis.call('SET', KEYS[ki], epoch .. ':' .. fmt(offset), 'PX', idemTtl) end
  out[i + 1] = offset
  if info ~= '' then parts[k] = '[' .. data .. ',' .. info .. ']' else parts[k] = '[' .. data .. ']' end
end
if history then redis.call('PEXPIRE', stream, ttl) end
for i, j in pairs(sameAs) do out[i + 1] = epoch .. ':' .. fmt(out[j + 1]) end
local msg
if count == 1 then
  local i = fresh[1]
  msg = '{"o":' .. fmt(first) .. ',"e":"' .. epoch .. '","d":' .. ARGV[6 + 3 * i]
  if ARGV[7 + 3 * i] ~= '' then msg = msg .. ',"i":' .. ARGV[7 + 3 * i] end
  msg = msg .. '}'
else
  msg = '{"o":' .. fmt(first) .. ',"e":"' .. epoch .. '","b":[' .. table.concat(parts, ',') .. ']}'
end
redis.call(ARGV[7], ARGV[1], msg)
return out
`;

/**
 * KEYS: meta, stream.
 * ARGV: epoch candidate ('' = do not create a missing stream: answer epoch '' offset 0), streamTtlMs, mode ('top' | 'since' | 'newest' | 'reverse'), since epoch,
 *       since offset, limit.
 * Returns {epoch, top offset, entries} where entries are XRANGE replies, oldest first except for
 * 'reverse'. Expired entries are trimmed first, so what is returned is live.
 */
export const HISTORY_SCRIPT = `${PRELUDE}
local meta, stream = KEYS[1], KEYS[2]
-- No candidate: a plain read, which must not create the stream (no keys for names only read).
if ARGV[1] == '' and redis.call('EXISTS', meta) == 0 then return {'', 0, {}} end
local epoch = ensure_meta(meta, stream, ARGV[1], tonumber(ARGV[2]))
local top = tonumber(redis.call('HGET', meta, 'o') or '0')
local mode, limit = ARGV[3], tonumber(ARGV[6])
if mode == 'top' or limit <= 0 then return {epoch, top, {}} end
trim_expired(stream)
local entries
if mode == 'since' then
  if ARGV[4] ~= epoch then return {epoch, top, {}} end
  entries = redis.call('XRANGE', stream, fmt(tonumber(ARGV[5]) + 1) .. '-0', '+', 'COUNT', limit)
elseif mode == 'reverse' then
  entries = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', limit)
else
  local rev = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', limit)
  entries = {}
  for i = #rev, 1, -1 do entries[#entries + 1] = rev[i] end
end
return {epoch, top, entries}
`;

/**
 * KEYS: presence hash (client id → info JSON), expiry zset (client id → expiry ms), order zset
 * (client id → join sequence), users hash (user → clients present), join sequence counter.
 * ARGV: mode, then per mode:
 *   'add' client, ttl ms, info JSON, user — a refresh keeps the member's join sequence;
 *   'remove' client;
 *   'stats' → {clients, users};
 *   'page' after (join sequence), limit → {client, info, …, next} with next = '' on the last page;
 *   'list' → flat client, info JSON, … of every live member.
 * Every read first drops expired members from all four structures (each member expires once, so
 * this is amortised O(1)); counts are then ZCARD and HLEN, never a walk over the members. The
 * keys' own TTL (the longest entry) bounds memory when nobody reads them.
 */
export const PRESENCE_SCRIPT = `${PRELUDE}
local hash, zset, order, users, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local mode = ARGV[1]
local function user_of(info)
  local ok, v = pcall(cjson.decode, info)
  if ok and type(v) == 'table' and type(v.user) == 'string' then return v.user end
  return ''
end
local function drop(client)
  local info = redis.call('HGET', hash, client)
  if not info then return 0 end
  redis.call('HDEL', hash, client)
  redis.call('ZREM', zset, client)
  redis.call('ZREM', order, client)
  local u = user_of(info)
  if redis.call('HINCRBY', users, u, -1) <= 0 then redis.call('HDEL', users, u) end
  return 1
end
if mode == 'add' then
  local client, ttl, info, user = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
  local old = redis.call('HGET', hash, client)
  redis.call('HSET', hash, client, info)
  redis.call('ZADD', zset, now + ttl, client)
  if not old then
    redis.call('ZADD', order, redis.call('INCR', seq), client)
    redis.call('HINCRBY', users, user, 1)
  else
    local was = user_of(old)
    if was ~= user then
      if redis.call('HINCRBY', users, was, -1) <= 0 then redis.call('HDEL', users, was) end
      redis.call('HINCRBY', users, user, 1)
    end
  end
  if redis.call('PTTL', zset) < ttl then
    for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ttl) end
  end
  return 1
elseif mode == 'remove' then
  return drop(ARGV[2])
end
while true do
  local expired = redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, 1000)
  for _, c in ipairs(expired) do drop(c) end
  if #expired < 1000 then break end
end
if mode == 'stats' then
  return {redis.call('ZCARD', zset), redis.call('HLEN', users)}
elseif mode == 'page' then
  local limit = tonumber(ARGV[3])
  local ids = redis.call('ZRANGE', order, '(' .. ARGV[2], '+inf', 'BYSCORE', 'LIMIT', 0, limit + 1, 'WITHSCORES')
  local out = {}
  local n = math.min(limit, #ids / 2)
  for i = 1, n do
    local c = ids[2 * i - 1]
    out[#out + 1] = c
    out[#out + 1] = redis.call('HGET', hash, c) or '{}'
  end
  if #ids / 2 > limit then out[#out + 1] = ids[2 * n] else out[#out + 1] = '' end
  return out
end
return redis.call('HGETALL', hash)
`;
