/**
 * The PresenceManager on Redis: one channel's presence is a handful of keys under the channel's
 * hash tag, and every operation is one Lua script over them, so concurrent calls from any
 * number of nodes are ordered by Redis and each sees a consistent channel.
 *
 * Keys of a channel (`<prefix>:{c:<channel>}:<name>`, see RedisKeys):
 * - `pc` HASH client → `<status>:<stateSeq>:<user>`; `pi` HASH client → info JSON;
 *   `ps` HASH client → state JSON; `px` ZSET client → expiry (ms, Redis clock);
 * - `pk` HASH user → connections; `pl` HASH user → lastSeen; `pn` HASH user → info JSON;
 * - `pg` ZSET user → start of the leave grace period; `pgl` HASH user → `<status>:<state JSON>`
 *   (the aggregate shown during the grace period);
 * - `pq` counter: the order in which states were set (the newest state wins the aggregate).
 *
 * Expiry: every script first drops the connections whose expiry passed (a node that died
 * without goodbye stops refreshing them) and the grace periods older than the TTL; every write
 * gives the channel's keys twice the TTL to live, so a channel nobody refreshes disappears.
 */
import type { PresenceClient, PresenceResult, PresenceStatus, PresenceUser } from '@tidings/protocol';
import type { PresenceAddResult, PresenceManager, PresenceRemoveResult, PresenceStats, PresenceTouch, PresenceUpdateResult } from '../presence.js';
import type { RedisKeys } from './redis-keys.js';
import { asArray, asNumber, asText, jsonOrEmpty, LUA_PRELUDE, LuaScript, parseOrUndefined, type RedisScriptClient } from './redis-state-scripts.js';

export interface RedisPresenceOptions {
  /** An entry not refreshed by `add` or `touch` for this long disappears. */
  ttlMs: number;
}

const KEY_NAMES = ['pc', 'pi', 'ps', 'px', 'pk', 'pl', 'pn', 'pg', 'pgl', 'pq'] as const;

const LUA_CHANNEL = `${LUA_PRELUDE}
local K_C, K_I, K_S, K_X, K_K, K_L, K_N, K_G, K_GL, K_Q = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
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
end
local function drop_client(id)
  redis.call('HDEL', K_C, id)
  redis.call('HDEL', K_I, id)
  redis.call('HDEL', K_S, id)
end
local function purge()
  purge_zset(K_X, t, function(id)
    local rec = redis.call('HGET', K_C, id)
    drop_client(id)
    if rec then
      local _, _, u = parse(rec)
      if redis.call('HINCRBY', K_K, u, -1) <= 0 then
        -- Its last connection expired: gone, with no leave (its node died).
        redis.call('HDEL', K_K, u)
        forget_user(u)
      end
    end
  end)
  purge_zset(K_G, t - ttl - 1, forget_user)
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
  end
  redis.call('ZREM', K_G, u)
  redis.call('HDEL', K_GL, u)
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
  return { joined and 1 or 0, changed and 1 or 0, user_reply(u), read_all() }
elseif op == 'touch' then
  for i = 3, #ARGV, 5 do upsert(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]) end
  keep_keys()
  return 1
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
  keep_keys()
  return { 1, 1, 0 }
elseif op == 'settle' then
  local u = ARGV[3]
  if connections(u) > 0 or redis.call('ZREM', K_G, u) == 0 then return 0 end
  forget_user(u)
  return 1
elseif op == 'read' then
  return read_all()
elseif op == 'stats' then
  return { redis.call('HLEN', K_C), redis.call('HLEN', K_K) + redis.call('ZCARD', K_G) }
end
return redis.error_reply('presence: unknown op ' .. tostring(op))
`;

const SCRIPT = new LuaScript(LUA_CHANNEL);

/** At most this many entries of one channel go in one touch script call (keeps each call short). */
const TOUCH_CHUNK = 500;

export class RedisPresenceManager implements PresenceManager {
  constructor(
    private readonly client: RedisScriptClient,
    private readonly keys: RedisKeys,
    private readonly options: RedisPresenceOptions,
  ) {}

  async add(channel: string, client: PresenceClient): Promise<PresenceAddResult> {
    const reply = asArray(await this.run(channel, 'add', ...entryArgs(client)));
    const [joined, changed, user, all] = reply;
    return { userJoined: asNumber(joined) === 1, user: decodeUser(asArray(user)), changed: asNumber(changed) === 1, snapshot: decodeChannel(all) };
  }

  async touch(entries: readonly PresenceTouch[]): Promise<void> {
    const byChannel = new Map<string, string[][]>();
    for (const { channel, client } of entries) {
      let chunks = byChannel.get(channel);
      if (!chunks) byChannel.set(channel, (chunks = [[]]));
      if (chunks[chunks.length - 1]!.length >= TOUCH_CHUNK * 5) chunks.push([]);
      chunks[chunks.length - 1]!.push(...entryArgs(client));
    }
    // Issued in one tick: node-redis sends them as one pipeline.
    const calls: Promise<unknown>[] = [];
    for (const [channel, chunks] of byChannel) for (const args of chunks) calls.push(this.run(channel, 'touch', ...args));
    await Promise.all(calls);
  }

  async update(channel: string, clientId: string, patch: { status?: PresenceStatus; state?: unknown }): Promise<PresenceUpdateResult> {
    let stateOp = '';
    let state = '';
    if ('state' in patch) {
      state = patch.state === null ? '' : jsonOrEmpty(patch.state);
      stateOp = state === '' ? 'del' : 'set';
    }
    const reply = asArray(await this.run(channel, 'update', clientId, patch.status ?? '', stateOp, state));
    if (asNumber(reply[0]) === 0) return { user: undefined, changed: false };
    return { user: decodeUser(asArray(reply[2])), changed: asNumber(reply[1]) === 1 };
  }

  async remove(channel: string, clientId: string): Promise<PresenceRemoveResult> {
    const reply = asArray(await this.run(channel, 'remove', clientId));
    if (asNumber(reply[0]) === 0) return { lastClient: false, changed: false };
    if (asNumber(reply[1]) === 1) return { lastClient: true, changed: false };
    return { lastClient: false, user: decodeUser(asArray(reply[3])), changed: asNumber(reply[2]) === 1 };
  }

  async settleLeave(channel: string, user: string): Promise<boolean> {
    return asNumber(await this.run(channel, 'settle', user)) === 1;
  }

  async clients(channel: string): Promise<Record<string, PresenceClient>> {
    return decodeChannel(await this.run(channel, 'read')).clients;
  }

  async users(channel: string): Promise<PresenceUser[]> {
    return decodeChannel(await this.run(channel, 'read')).users;
  }

  async stats(channel: string): Promise<PresenceStats> {
    const [clients, users] = asArray(await this.run(channel, 'stats'));
    return { clients: asNumber(clients), users: asNumber(users) };
  }

  /** The client belongs to whoever made it: closing presence leaves it open. */
  async close(): Promise<void> {}

  private run(channel: string, op: string, ...args: string[]): Promise<unknown> {
    const tag = this.keys.tagged('c', channel);
    const keys = KEY_NAMES.map((name) => `${tag}:${name}`);
    return SCRIPT.run(this.client, keys, [this.options.ttlMs, op, ...args]);
  }
}

/** One connection as the scripts take it: id, user, status, info JSON, state JSON ('' = absent). */
function entryArgs(client: PresenceClient): string[] {
  return [client.client, client.user, client.status, client.info ? JSON.stringify(client.info) : '', jsonOrEmpty(client.state)];
}

function decodeUser(fields: unknown[]): PresenceUser {
  const [user, status, state, lastSeen, clients, info] = fields.map(asText);
  const out: PresenceUser = { user: user!, status: status as PresenceStatus, lastSeen: Number(lastSeen), clients: Number(clients) };
  if (info) out.info = JSON.parse(info) as Record<string, unknown>;
  if (state) out.state = JSON.parse(state);
  return out;
}

function decodeChannel(reply: unknown): PresenceResult {
  const [rawClients, rawUsers] = asArray(reply).map((part) => asArray(part).map(asText));
  const clients: Record<string, PresenceClient> = {};
  for (let i = 0; i < rawClients!.length; i += 5) {
    const [id, user, status, info, state] = rawClients!.slice(i, i + 5) as [string, string, string, string, string];
    const entry: PresenceClient = { user, client: id, status: status as PresenceStatus };
    if (info) entry.info = JSON.parse(info) as Record<string, unknown>;
    const value = parseOrUndefined(state);
    if (value !== undefined) entry.state = value;
    clients[id] = entry;
  }
  const users: PresenceUser[] = [];
  for (let i = 0; i < rawUsers!.length; i += 6) users.push(decodeUser(rawUsers!.slice(i, i + 6)));
  users.sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  return { clients, users };
}
