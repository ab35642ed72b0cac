/**
 * The Lua scripts of the PresenceManager on Redis (`redis-presence.ts` describes the keys): one
 * script for every operation on one channel's keys, and one for the index of channels due for a
 * sweep.
 */
import { LUA_PRELUDE } from './redis-state-scripts.js';

export const PRESENCE_LUA = `${LUA_PRELUDE}
local K_C, K_I, K_S, K_X, K_K, K_L, K_N, K_G, K_GL, K_Q = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local K_E, K_GC = KEYS[11], KEYS[12]
local ttl = tonumber(ARGV[1])
local t = now()

local function parse(rec)
  local st, at, user = string.match(rec, '^(%a+):(%d+):(.*)$')
  return st, tonumber(at), user
end
local function forget_user(u)
  redis.call('HDEL', K_L, u)
  redis.call('HDEL', K_N, u)
  redis.call('HDEL', K_GL, u)
  redis.call('HDEL', K_GC, u)
end
local function drop_client(id)
  redis.call('HDEL', K_C, id)
  redis.call('HDEL', K_I, id)
  redis.call('HDEL', K_S, id)
end
local function keep_keys()
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, 2 * ttl + 1000) end
end
local function connections(u)
  return tonumber(redis.call('HGET', K_K, u) or '0')
end
local function present(u)
  return connections(u) > 0 or redis.call('ZSCORE', K_G, u) ~= false
end
-- The user's aggregate: status, state JSON ('' for none), connections.
local function aggregate(u)
  local n = connections(u)
  if n == 0 then
    local last = redis.call('HGET', K_GL, u)
    if last then
      local st, s = string.match(last, '^(%a+):(.*)$')
      return st, s, 0
    end
    return 'away', '', 0
  end
  local all = redis.call('HGETALL', K_C)
  local status, best, best_at = 'away', '', -1
  for i = 1, #all, 2 do
    local st, at, user = parse(all[i + 1])
    if user == u then
      if st == 'online' then status = 'online' end
      if at > best_at then
        local s = redis.call('HGET', K_S, all[i])
        if s then best, best_at = s, at end
      end
    end
  end
  return status, best, n
end
local function user_reply(u)
  local st, s, n = aggregate(u)
  return { u, st, s, redis.call('HGET', K_L, u) or '0', n, redis.call('HGET', K_N, u) or '' }
end
local function visible(u)
  local st, s = aggregate(u)
  return st .. ':' .. s
end
-- What expiry did to a user, kept for the next sweep: the first note keeps the aggregate before.
local function note(u, id, info, left)
  local raw = redis.call('HGET', K_E, u)
  local e = raw and cjson.decode(raw) or { l = 0, b = visible(u) }
  e.c, e.i = id, info
  if left then e.l = 1 end
  redis.call('HSET', K_E, u, cjson.encode(e))
  redis.call('PEXPIRE', K_E, 2 * ttl + 1000)
end
local function purge()
  purge_zset(K_X, t, function(id)
    local rec = redis.call('HGET', K_C, id)
    if not rec then return drop_client(id) end
    local _, _, u = parse(rec)
    local info = redis.call('HGET', K_I, id) or ''
    note(u, id, info, false)
    drop_client(id)
    if redis.call('HINCRBY', K_K, u, -1) <= 0 then
      -- Its last connection expired (its node died): gone, reported by the next sweep.
      redis.call('HDEL', K_K, u)
      forget_user(u)
      note(u, id, info, true)
    end
  end)
  purge_zset(K_G, t - ttl - 1, function(u)
    -- A grace period never settled (the node that started it died): a leave all the same.
    note(u, redis.call('HGET', K_GC, u) or '', redis.call('HGET', K_N, u) or '', true)
    forget_user(u)
  end)
end
-- A time at or before the channel's next expiry (0: a sweep has something to report), -1: none.
local function next_event()
  if redis.call('EXISTS', K_E) == 1 then return 0 end
  local best = -1
  local x = redis.call('ZRANGE', K_X, 0, 0, 'WITHSCORES')
  if #x > 0 then best = tonumber(x[2]) end
  local g = redis.call('ZRANGE', K_G, 0, 0, 'WITHSCORES')
  if #g > 0 then
    local gt = tonumber(g[2]) + ttl + 1
    if best < 0 or gt < best then best = gt end
  end
  return best
end
-- The channel: { { client, user, status, info, state, ... }, { user reply, ... } } in one pass.
local function read_all()
  local all = redis.call('HGETALL', K_C)
  local infos, states = {}, {}
  local raw = redis.call('HGETALL', K_I)
  for i = 1, #raw, 2 do infos[raw[i]] = raw[i + 1] end
  raw = redis.call('HGETALL', K_S)
  for i = 1, #raw, 2 do states[raw[i]] = raw[i + 1] end
  local clients, agg, order = {}, {}, {}
  for i = 1, #all, 2 do
    local id = all[i]
    local st, at, u = parse(all[i + 1])
    local s = states[id] or ''
    for _, v in ipairs({ id, u, st, infos[id] or '', s }) do clients[#clients + 1] = v end
    local a = agg[u]
    if not a then
      a = { status = 'away', state = '', at = -1, n = 0 }
      agg[u] = a
      order[#order + 1] = u
    end
    a.n = a.n + 1
    if st == 'online' then a.status = 'online' end
    if s ~= '' and at > a.at then a.state, a.at = s, at end
  end
  local users = {}
  local function push(u, st, s, n)
    for _, v in ipairs({ u, st, s, redis.call('HGET', K_L, u) or '0', n, redis.call('HGET', K_N, u) or '' }) do users[#users + 1] = v end
  end
  for _, u in ipairs(order) do push(u, agg[u].status, agg[u].state, agg[u].n) end
  for _, u in ipairs(redis.call('ZRANGE', K_G, 0, -1)) do
    local st, s = aggregate(u)
    push(u, st, s, 0)
  end
  return { clients, users }
end
-- Adds or refreshes one connection; true when it brings its user back from absence (a join).
local function upsert(id, u, status, info, state)
  local rec = redis.call('HGET', K_C, id)
  local at
  local joined = false
  if rec then
    local _, old_at, old_user = parse(rec)
    at = old_at
    if old_user ~= u then
      -- A connection id reused by another user: the old user loses it.
      if redis.call('HINCRBY', K_K, old_user, -1) <= 0 then
        redis.call('HDEL', K_K, old_user)
        forget_user(old_user)
      end
      rec = false
    end
  else
    at = redis.call('INCR', K_Q)
  end
  if not rec then
    joined = not present(u)
    redis.call('HINCRBY', K_K, u, 1)
    -- Back before a sweep reported it gone: it is not.
    local raw = redis.call('HGET', K_E, u)
    if raw then
      local e = cjson.decode(raw)
      e.l = 0
      redis.call('HSET', K_E, u, cjson.encode(e))
    end
  end
  redis.call('ZREM', K_G, u)
  redis.call('HDEL', K_GL, u)
  redis.call('HDEL', K_GC, u)
  redis.call('HSET', K_C, id, status .. ':' .. at .. ':' .. u)
  if info ~= '' then
    redis.call('HSET', K_I, id, info)
    redis.call('HSET', K_N, u, info)
  end
  if state ~= '' then redis.call('HSET', K_S, id, state) end
  redis.call('ZADD', K_X, t + ttl, id)
  redis.call('HSET', K_L, u, t)
  return joined
end

local op = ARGV[2]
purge()
if op == 'add' then
  local id, u = ARGV[3], ARGV[4]
  local was = present(u)
  local bs, bst = aggregate(u)
  local joined = upsert(id, u, ARGV[5], ARGV[6], ARGV[7])
  local as, ast = aggregate(u)
  keep_keys()
  local changed = was and (bs ~= as or bst ~= ast)
  return { joined and 1 or 0, changed and 1 or 0, user_reply(u), read_all(), next_event() }
elseif op == 'touch' then
  for i = 3, #ARGV, 5 do upsert(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]) end
  keep_keys()
  return next_event()
elseif op == 'update' then
  local id = ARGV[3]
  local rec = redis.call('HGET', K_C, id)
  if not rec then return { 0 } end
  local st, at, u = parse(rec)
  local bs, bst = aggregate(u)
  if ARGV[4] ~= '' then st = ARGV[4] end
  if ARGV[5] == 'del' then
    redis.call('HDEL', K_S, id)
    at = redis.call('INCR', K_Q)
  elseif ARGV[5] == 'set' then
    redis.call('HSET', K_S, id, ARGV[6])
    at = redis.call('INCR', K_Q)
  end
  redis.call('HSET', K_C, id, st .. ':' .. at .. ':' .. u)
  redis.call('HSET', K_L, u, t)
  local as, ast = aggregate(u)
  keep_keys()
  return { 1, (bs ~= as or bst ~= ast) and 1 or 0, user_reply(u) }
elseif op == 'remove' then
  local id = ARGV[3]
  local rec = redis.call('HGET', K_C, id)
  if not rec then return { 0 } end
  local _, _, u = parse(rec)
  local bs, bst = aggregate(u)
  drop_client(id)
  redis.call('ZREM', K_X, id)
  redis.call('HSET', K_L, u, t)
  if redis.call('HINCRBY', K_K, u, -1) > 0 then
    local as, ast = aggregate(u)
    keep_keys()
    return { 1, 0, (bs ~= as or bst ~= ast) and 1 or 0, user_reply(u) }
  end
  -- The last connection: the grace period starts, showing the aggregate as it was.
  redis.call('HDEL', K_K, u)
  redis.call('ZADD', K_G, t, u)
  redis.call('HSET', K_GL, u, bs .. ':' .. bst)
  redis.call('HSET', K_GC, u, id)
  keep_keys()
  return { 1, 1, 0 }
elseif op == 'settle' then
  local u = ARGV[3]
  if connections(u) > 0 or redis.call('ZREM', K_G, u) == 0 then return 0 end
  forget_user(u)
  return 1
elseif op == 'sweep' then
  -- Each noted user: gone (and not back), or present with another aggregate than before.
  local out = {}
  local all = redis.call('HGETALL', K_E)
  for i = 1, #all, 2 do
    local u, e = all[i], cjson.decode(all[i + 1])
    if present(u) then
      if visible(u) ~= e.b then out[#out + 1] = { 0, u, e.c, e.i, user_reply(u) } end
    elseif e.l == 1 then
      out[#out + 1] = { 1, u, e.c, e.i }
    end
  end
  redis.call('DEL', K_E)
  return { out, next_event() }
elseif op == 'next' then
  return next_event()
elseif op == 'read' then
  return read_all()
elseif op == 'stats' then
  return { redis.call('HLEN', K_C), redis.call('HLEN', K_K) + redis.call('ZCARD', K_G) }
end
return redis.error_reply('presence: unknown op ' .. tostring(op))
`;

/** The index of channels due for a sweep (one key, its own slot). */
export const PRESENCE_DUE_LUA = `${LUA_PRELUDE}
local K = KEYS[1]
if ARGV[1] == 'set' then
  -- ARGV: 'set', how long the index lives without writes (longer than any channel's keys: with no
  -- write for that long no node is alive), then channel, time pairs; a negative time (nothing
  -- left to expire) takes the channel out.
  for i = 3, #ARGV, 2 do
    local at = tonumber(ARGV[i + 1])
    if at < 0 then redis.call('ZREM', K, ARGV[i]) else redis.call('ZADD', K, at, ARGV[i]) end
  end
  redis.call('PEXPIRE', K, ARGV[2])
  return 1
elseif ARGV[1] == 'due' then
  return redis.call('ZRANGEBYSCORE', K, '-inf', now(), 'LIMIT', 0, tonumber(ARGV[2]))
end
return redis.error_reply('presence index: unknown op ' .. tostring(ARGV[1]))
`;
