/**
 * The Redis broker's Lua scripts and how they run (EVALSHA, falling back to EVAL when Redis
 * answers NOSCRIPT: after a restart, a failover or `SCRIPT FLUSH`).
 *
 * Every script starts with the same prelude: the common arguments, Redis's clock (`TIME`, so
 * nodes with skewed clocks agree), key names (the same as `RedisKeys` builds), the history byte
 * budgets and stream eviction. Keys of the script's own channel come in KEYS and share its hash
 * tag. Byte budgets (`g` node-wide, `n` namespace, `u` owner) and `maxStreams` also touch keys of
 * other tags (`{all}`, `{ns:…}`, `{u:…}`, other channels): they need a single Redis (or one
 * primary); on Redis Cluster run with them off (maxBytes 0, maxStreams 0, no shared or owner budget).
 *
 * Stored entry (stream id `<offset>-0`): `d` data JSON, `i` publisher info JSON (absent: none),
 * `x` expiry (ms). A budgeted entry also has `b` bytes, `e` epoch and the pools it counts in:
 * `g` (node), `n` namespace name, `u` owner id. Each pool is a byte counter and a ZSET of members
 * `<offset>:<bytes>:<expiresAt>:<epoch>:<channel>` scored by insertion sequence; a counter always
 * equals the sum of its members (decremented only when ZREM removed one).
 *
 * Stream meta (HASH): `e` epoch, `o` top offset, `s` history size, `r` lowest offset whose budget
 * is not yet released, `bu` '1' once the stream held a budgeted entry.
 */
import { createHash } from 'node:crypto';
import { sendCommand, type RedisCommandClient } from './redis-connection.js';

/** A Lua script run by SHA, loaded again with EVAL when Redis does not know it. */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** On Redis Cluster it runs on the primary of `keys[0]`'s slot (every key shares its hash tag). */
  async run(client: RedisCommandClient, keys: string[], args: string[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await sendCommand(client, ['EVALSHA', this.sha, ...tail], keys[0]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return sendCommand(client, ['EVAL', this.source, ...tail], keys[0]);
    }
  }
}

/**
 * ARGV[1] prefix, [2] channel, [3] sharded '1'|'0', [4] epoch for a new stream, [5] metaTtlMs,
 * [6] maxStreams; KEYS[1] meta, KEYS[2] stream.
 */
const PRELUDE = String.raw`
local prefix, channel, sharded = ARGV[1], ARGV[2], ARGV[3] == '1'
local newEpoch, metaTtl, maxStreams = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function esc(s)
  return (string.gsub(s, '[%%{}]', function(c)
    if c == '%' then return '%25' elseif c == '{' then return '%7B' end
    return '%7D'
  end))
end
local function tagged(kind, name) return prefix .. ':{' .. kind .. ':' .. esc(name) .. '}' end
local function all(suffix) return prefix .. ':{all}:' .. suffix end
local function channel_keys(ch) local base = tagged('c', ch) return base .. ':m', base .. ':h' end
local function to_map(flat) local m = {} for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end return m end
local function offset_of(id) return string.match(id, '^(%d+)') end

local function pool_keys(kind, name)
  if kind == 'g' then return all('hb'), all('hi') end
  local base = tagged(kind == 'n' and 'ns' or 'u', name)
  return base .. ':hb', base .. ':hi'
end
local function pool_bytes(kind, name) return tonumber(redis.call('GET', (pool_keys(kind, name))) or 0) end
local function member(ch, id, f) return offset_of(id) .. ':' .. f.b .. ':' .. f.x .. ':' .. f.e .. ':' .. ch end
local function parse_member(m)
  local off, b, x, e, ch = string.match(m, '^(%d+):(%d+):(%d+):([^:]*):(.*)$')
  return off, tonumber(b), tonumber(x), e, ch
end
local function drop(kind, name, m, bytes)
  local bk, ik = pool_keys(kind, name)
  if redis.call('ZREM', ik, m) == 1 then
    if redis.call('DECRBY', bk, bytes) <= 0 then redis.call('DEL', bk) end
  end
end
-- An entry left history: its bytes leave every pool it counted in.
local function release(ch, id, f)
  if not f.b then return end
  local m, b = member(ch, id, f), tonumber(f.b)
  if f.g then drop('g', '', m, b) end
  if f.n then drop('n', f.n, m, b) end
  if f.u then drop('u', f.u, m, b) end
end
local function release_all(ch, stream)
  local start = '-'
  while true do
    local r = redis.call('XRANGE', stream, start, '+', 'COUNT', 500)
    for _, entry in ipairs(r) do release(ch, entry[1], to_map(entry[2])) end
    if #r < 500 then return end
    start = '(' .. r[#r][1]
  end
end
local function entry_of(ch, e, off)
  local meta, stream = channel_keys(ch)
  if redis.call('HGET', meta, 'e') ~= e then return nil end
  return redis.call('XRANGE', stream, off .. '-0', off .. '-0')[1]
end
local function evict_entry(ch, entry)
  local _, stream = channel_keys(ch)
  redis.call('XDEL', stream, entry[1])
  release(ch, entry[1], to_map(entry[2]))
end
-- Drops members whose entry is gone (stream expired or lost) or expired from the front of a pool.
local function purge_front(kind, name)
  local _, ik = pool_keys(kind, name)
  for _ = 1, 100 do
    local m = redis.call('ZRANGE', ik, 0, 0)[1]
    if not m then return end
    local off, b, x, e, ch = parse_member(m)
    local entry = entry_of(ch, e, off)
    if not entry then drop(kind, name, m, b)
    elseif x <= now then evict_entry(ch, entry)
    else return end
  end
end
-- Evicts the pool's oldest entry (never keep); false when there is none.
local function evict_oldest(kind, name, keep)
  local _, ik = pool_keys(kind, name)
  local m = redis.call('ZRANGE', ik, 0, 0)[1]
  if not m or m == keep then return false end
  local off, b, _, e, ch = parse_member(m)
  local entry = entry_of(ch, e, off)
  if entry then evict_entry(ch, entry) else drop(kind, name, m, b) end
  return true
end

local function subscribers(ch)
  local r = redis.call('PUBSUB', sharded and 'SHARDNUMSUB' or 'NUMSUB', tagged('c', ch) .. ':p')
  return tonumber(r[2])
end
local function forget(ch)
  local meta, stream = channel_keys(ch)
  release_all(ch, stream)
  redis.call('DEL', meta, stream)
end
-- Marks the channel's stream used; beyond maxStreams forgets the least recently used ones no node subscribes to.
local function touch_stream(ch)
  if maxStreams <= 0 then return end
  local key, seq = all('streams'), all('seq')
  redis.call('ZADD', key, redis.call('INCR', seq), ch)
  local over = redis.call('ZCARD', key) - maxStreams
  local looks = math.min(redis.call('ZCARD', key), 1000)
  while over > 0 and looks > 0 do
    looks = looks - 1
    local c = redis.call('ZRANGE', key, 0, 0)[1]
    if c ~= ch and subscribers(c) == 0 then
      forget(c)
      redis.call('ZREM', key, c)
      over = over - 1
    else
      redis.call('ZADD', key, redis.call('INCR', seq), c)
    end
  end
end
-- The channel's stream: epoch, top, size, release mark, budgeted; created (new epoch, offset 0) when absent.
local function ensure(meta, stream)
  local m = redis.call('HMGET', meta, 'e', 'o', 's', 'r', 'bu')
  if m[1] then
    touch_stream(channel)
    return m[1], tonumber(m[2]), tonumber(m[3]) or 0, tonumber(m[4]) or 1, m[5] == '1'
  end
  if redis.call('EXISTS', stream) == 1 then
    release_all(channel, stream)
    redis.call('DEL', stream)
  end
  redis.call('HSET', meta, 'e', newEpoch, 'o', 0, 'r', 1)
  redis.call('PEXPIRE', meta, metaTtl)
  touch_stream(channel)
  return newEpoch, 0, 0, 1, false
end
`;

/**
 * Publish. KEYS[3] idempotency HASH, KEYS[4] its ZSET. ARGV[7] history '1'|'0', [8] size,
 * [9] ttlMs, [10] data JSON, [11] info JSON or '', [12] bytes, [13] node maxBytes (0 none),
 * [14] namespace or '', [15] its maxBytes, [16] owner or '', [17] owner maxBytes, [18] idempotency
 * key or '', [19] window ms, [20] keys held per channel at most, [21] header of a live publication
 * ('p', or 'd' when the caller gave no JSON: receivers then hand on the data only), [22] the
 * prefix of the pub/sub message (`x<client>\n` for `exceptClient`, then `v<event>\n` for an event
 * name) or '' / absent, [23] the event name to store with the entry (field `v`) or '' / absent.
 * Returns {'ok'[, offset, epoch]}, {'dup', '<offset> <epoch>' or ''} or {'user', held bytes}.
 */
export const PUBLISH_SCRIPT = new LuaScript(
  PRELUDE +
    String.raw`
local history, size, ttl = ARGV[7] == '1', tonumber(ARGV[8]), tonumber(ARGV[9])
local data, info, bytes = ARGV[10], ARGV[11], ARGV[12]
local nodeMax, ns, nsMax, owner, ownerMax = tonumber(ARGV[13]), ARGV[14], tonumber(ARGV[15]), ARGV[16], tonumber(ARGV[17])
local onceKey, window, maxKeys, liveHeader = ARGV[18], tonumber(ARGV[19]), tonumber(ARGV[20]), ARGV[21]
local pubsub = tagged('c', channel) .. ':p'

if onceKey ~= '' then
  local ends = redis.call('ZSCORE', KEYS[4], onceKey)
  if ends and tonumber(ends) > now then return {'dup', redis.call('HGET', KEYS[3], onceKey) or ''} end
end
local function remember(result)
  if onceKey == '' then return end
  redis.call('HSET', KEYS[3], onceKey, result)
  redis.call('ZADD', KEYS[4], now + window, onceKey)
  local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 100)
  for _, k in ipairs(old) do
    redis.call('ZREM', KEYS[4], k)
    redis.call('HDEL', KEYS[3], k)
  end
  local over = redis.call('ZCARD', KEYS[4]) - maxKeys
  if over > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[4], over)
    for i = 1, #popped, 2 do redis.call('HDEL', KEYS[3], popped[i]) end
  end
  for _, k in ipairs({KEYS[3], KEYS[4]}) do
    if redis.call('PTTL', k) < window then redis.call('PEXPIRE', k, window) end
  end
end
local except = ARGV[22] or ''
local function send(header)
  redis.call(sharded and 'SPUBLISH' or 'PUBLISH', pubsub, except .. header .. '\n' .. info .. '\n' .. data)
end
if not history then
  send(liveHeader)
  remember('')
  return {'ok'}
end

local inNode, inNs, inOwner = nodeMax > 0, ns ~= '' and nsMax > 0, owner ~= '' and ownerMax > 0
if inOwner then
  purge_front('u', owner)
  local held = pool_bytes('u', owner)
  if held + tonumber(bytes) > ownerMax then return {'user', held} end
end
local e, _, _, r, bu = ensure(KEYS[1], KEYS[2])
local o = redis.call('HINCRBY', KEYS[1], 'o', 1)
local low = o - size + 1
if bu then
  -- Budgeted entries leave exactly: expired ones at the front, and those the size window drops.
  for _ = 1, 100 do
    local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
    if not first then break end
    local f = to_map(first[2])
    if tonumber(f.x) > now then break end
    release(channel, first[1], f)
    redis.call('XDEL', KEYS[2], first[1])
  end
  if low - 1 >= r then
    for _, entry in ipairs(redis.call('XRANGE', KEYS[2], r .. '-0', (low - 1) .. '-0')) do release(channel, entry[1], to_map(entry[2])) end
    redis.call('XTRIM', KEYS[2], 'MINID', low .. '-0')
  end
end
if low < r then low = r end
redis.call('HSET', KEYS[1], 's', size, 'r', low)

local id = o .. '-0'
local f = {d = data, x = string.format('%.0f', now + ttl)}
local add = {'XADD', KEYS[2], 'MAXLEN', '~', size, id, 'd', data, 'x', f.x}
if info ~= '' then add[#add + 1] = 'i'; add[#add + 1] = info end
if (ARGV[23] or '') ~= '' then add[#add + 1] = 'v'; add[#add + 1] = ARGV[23] end
local budgeted = inNode or inNs or inOwner
if budgeted then
  f.b, f.e = bytes, e
  for _, kv in ipairs({{'b', bytes}, {'e', e}}) do add[#add + 1] = kv[1]; add[#add + 1] = kv[2] end
  if inNode then f.g = '1'; add[#add + 1] = 'g'; add[#add + 1] = '1' end
  if inNs then f.n = ns; add[#add + 1] = 'n'; add[#add + 1] = ns end
  if inOwner then f.u = owner; add[#add + 1] = 'u'; add[#add + 1] = owner end
end
redis.call(unpack(add))
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[1], metaTtl)

if budgeted then
  redis.call('HSET', KEYS[1], 'bu', '1')
  local seq = redis.call('INCR', all('seq'))
  local m = member(channel, id, f)
  local function account(kind, name, max)
    local bk, ik = pool_keys(kind, name)
    redis.call('INCRBY', bk, bytes)
    redis.call('ZADD', ik, seq, m)
    if max then
      purge_front(kind, name)
      while pool_bytes(kind, name) > max and evict_oldest(kind, name, m) do end
    end
  end
  if inOwner then account('u', owner, nil) end
  if inNs then account('n', ns, nsMax) end
  if inNode then account('g', '', nodeMax) end
end

send('p' .. o .. ' ' .. e)
remember(o .. ' ' .. e)
return {'ok', o, e}
`,
);

/**
 * History and position. ARGV[7] limit (0: position only), [8] since epoch or '', [9] since
 * offset, [10] reverse '1'|'0'. Returns {epoch, top, (offset, data JSON, info JSON or '', event name or '')...}.
 */
export const READ_SCRIPT = new LuaScript(
  PRELUDE +
    String.raw`
local limit, sinceEpoch, sinceOffset, reverse = tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9]), ARGV[10] == '1'
local e, o, s = ensure(KEYS[1], KEYS[2])
local out = {e, o}
if limit <= 0 or o == 0 or (sinceEpoch ~= '' and sinceEpoch ~= e) then return out end
local low = o - s + 1
if low < 1 then low = 1 end
if sinceEpoch ~= '' and sinceOffset + 1 > low then low = sinceOffset + 1 end
if low > o then return out end
local function push(entry)
  local f = to_map(entry[2])
  if tonumber(f.x) <= now then return false end
  out[#out + 1] = offset_of(entry[1])
  out[#out + 1] = f.d
  out[#out + 1] = f.i or ''
  out[#out + 1] = f.v or ''
  return true
end
if reverse then
  for _, entry in ipairs(redis.call('XREVRANGE', KEYS[2], '+', low .. '-0', 'COUNT', limit)) do
    if not push(entry) then break end
  end
else
  local got, start = 0, low .. '-0'
  while got < limit do
    local want = limit - got
    local r = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', want)
    for _, entry in ipairs(r) do if push(entry) then got = got + 1 end end
    if #r < want then break end
    start = '(' .. r[#r][1]
  end
end
return out
`,
);

/** Drops a channel's history and position (their budgets released). */
export const REMOVE_SCRIPT = new LuaScript(
  PRELUDE +
    String.raw`
release_all(channel, KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
if maxStreams > 0 then redis.call('ZREM', all('streams'), channel) end
return 1
`,
);
