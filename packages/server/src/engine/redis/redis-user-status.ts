/**
 * The UserStatusStore on Redis. A user's state is three keys under the user's hash tag, changed
 * only by Lua scripts, so the per-user connection limit holds across nodes (check and add are one
 * step) and every node sees one status.
 *
 * Keys of a user (`<prefix>:{u:<user>}:<name>`, see RedisKeys):
 * - `sc` HASH client → status; `sx` ZSET client → expiry (ms, Redis clock);
 * - `sm` HASH: `ls` lastSeen, `in` info JSON, `off` '1' once offline, `lv`/`lst` the start of the
 *   offline grace period and the status shown during it, `wh` '1' while online as the
 *   `cameOnline` / `wentOffline` edges count it (reported online, not yet reported offline).
 *
 * Listing needs an index across users, which Redis Cluster cannot keep in the same step as a
 * user's keys (another slot): `<prefix>:{us:index}:lex` (ZSET, score 0, user ids in byte order,
 * for the cursor walk), `:live` (ZSET user → latest connection expiry, for the count) and `:seen`
 * (ZSET user → until when the user is known: that expiry moved by lastSeenTtl - ttl, so lastSeen +
 * lastSeenTtl, kept like `:live` but never taken out when the user goes offline). A user
 * goes in after each accepted connection, touch and last removal (so an index that missed one
 * heals by the next touch); it leaves when seen offline, then is checked again and put back if it
 * came online meanwhile (every way to online adds it again afterwards, so none is lost).
 *
 * Expiry: every script first drops the expired connections and abandoned grace periods; a status
 * that changed by it is noted in `sm` (`xf`: the status before) until a sweep reports it. The
 * sweep finds the users due in `:due` (ZSET user → a time at or before the user's next expiry, 0
 * while a change is noted), kept like the other two after each script with the time the script
 * computed (adds and touches only add later expiries, so it stays early enough); a user the sweep
 * found with nothing left to expire is taken out, looked at again and put back if it came back.
 */
import type { PresenceStatus } from '@tidings/protocol';
import type { AddConnectionResult, UserCounts, UserListPage, UserStatusEntry, UserStatusStore, UserStatusSweep } from '../user-status.js';
import type { RedisKeys } from './redis-keys.js';
import { asArray, asNumber, asText, LUA_PRELUDE, LuaScript, type RedisScriptClient } from './redis-state-scripts.js';

export interface RedisUserStatusOptions {
  /** A connection not refreshed for this long disappears. */
  ttlMs: number;
  /** How long `lastSeen` of an offline user is kept. */
  lastSeenTtlMs: number;
}

const USER_LUA = `${LUA_PRELUDE}
local K_C, K_X, K_M = KEYS[1], KEYS[2], KEYS[3]
local ttl, seen_ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = now()

local function status_of()
  if redis.call('HGET', K_M, 'off') ~= '0' then return 'offline' end
  if redis.call('HLEN', K_C) == 0 then return redis.call('HGET', K_M, 'lst') or 'offline' end
  for _, st in ipairs(redis.call('HVALS', K_C)) do
    if st == 'online' then return 'online' end
  end
  return 'away'
end
-- Drops expired connections and stale records, noting a status that changed by it for the
-- next sweep; true when the user has a record.
local function record()
  local before = status_of()
  purge_zset(K_X, t, function(id) redis.call('HDEL', K_C, id) end)
  local n = redis.call('HLEN', K_C)
  if n == 0 and redis.call('EXISTS', K_M) == 0 then return false end
  local m = redis.call('HMGET', K_M, 'off', 'lv', 'ls')
  local off, lv, ls = m[1] == '1', tonumber(m[2]), tonumber(m[3])
  if n == 0 and not off and not lv then
    -- Its connections expired without goodbye (its node died): offline.
    redis.call('HSET', K_M, 'off', '1')
    off = true
  end
  if lv and t - lv > ttl then
    -- Its grace period was never settled (its node died): offline all the same.
    redis.call('HDEL', K_M, 'lv', 'lst')
    redis.call('HSET', K_M, 'off', '1')
    off = true
  end
  local noted = redis.call('HEXISTS', K_M, 'xf') == 1
  if not noted and status_of() ~= before then
    redis.call('HSET', K_M, 'xf', before)
    noted = true
  end
  if off and not noted and (not ls or t - ls > seen_ttl) then
    redis.call('DEL', K_C, K_X, K_M)
    return false
  end
  return true
end
-- A time at or before the user's next expiry (0: a sweep has something to report), -1: none.
local function next_event()
  if redis.call('HEXISTS', K_M, 'xf') == 1 then return 0 end
  local best = -1
  local x = redis.call('ZRANGE', K_X, 0, 0, 'WITHSCORES')
  if #x > 0 then best = tonumber(x[2]) end
  local lv = tonumber(redis.call('HGET', K_M, 'lv'))
  if lv and (best < 0 or lv + ttl + 1 < best) then best = lv + ttl + 1 end
  return best
end
local function entry()
  local m = redis.call('HMGET', K_M, 'ls', 'in')
  return { status_of(), redis.call('HLEN', K_C), m[1] or '', m[2] or '' }
end
-- The wentOffline edge of a user now offline: 1 when this call is the one that reports it.
local function went_offline()
  if redis.call('HGET', K_M, 'wh') ~= '1' then return 0 end
  redis.call('HDEL', K_M, 'wh')
  return 1
end
local function keep_keys()
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ttl + seen_ttl + 1000) end
end

local op = ARGV[3]
local exists = record()
if op == 'add' then
  local id, status, info, limit = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
  local n = redis.call('HLEN', K_C)
  if limit > 0 and n >= limit and redis.call('HEXISTS', K_C, id) == 0 then return { 0, n } end
  local before = status_of()
  redis.call('HSET', K_C, id, status)
  redis.call('ZADD', K_X, t + ttl, id)
  redis.call('HSET', K_M, 'ls', t, 'off', '0')
  redis.call('HDEL', K_M, 'lv', 'lst')
  if info ~= '' then redis.call('HSET', K_M, 'in', info) end
  local came = 0
  if redis.call('HGET', K_M, 'wh') ~= '1' then
    redis.call('HSET', K_M, 'wh', '1')
    came = 1
  end
  keep_keys()
  local changed = status_of() ~= before
  return { 1, redis.call('HLEN', K_C), changed and 1 or 0, entry(), t + ttl, next_event(), came }
elseif op == 'status' then
  local id = ARGV[4]
  if not exists or redis.call('HEXISTS', K_C, id) == 0 then return { 0 } end
  local before = status_of()
  redis.call('HSET', K_C, id, ARGV[5])
  redis.call('HSET', K_M, 'ls', t)
  if status_of() == before then return { 0 } end
  return { 1, entry() }
elseif op == 'remove' then
  local id = ARGV[4]
  if not exists or redis.call('HEXISTS', K_C, id) == 0 then return { 0 } end
  local before = status_of()
  redis.call('HDEL', K_C, id)
  redis.call('ZREM', K_X, id)
  redis.call('HSET', K_M, 'ls', t)
  if redis.call('HLEN', K_C) > 0 then return { 0 } end
  -- The last connection: the grace period starts, the status stays as it was.
  if before == 'offline' then before = 'away' end
  redis.call('HSET', K_M, 'lv', t, 'lst', before)
  keep_keys()
  return { 1, t + ttl, next_event() }
elseif op == 'settle' then
  if not exists or redis.call('HLEN', K_C) > 0 or redis.call('HEXISTS', K_M, 'lv') == 0 then return { 0 } end
  redis.call('HDEL', K_M, 'lv', 'lst')
  redis.call('HSET', K_M, 'off', '1')
  return { 1, entry(), went_offline() }
elseif op == 'touch' then
  if not exists then return { 0, -1 } end
  local held = 0
  for i = 4, #ARGV do
    if redis.call('HEXISTS', K_C, ARGV[i]) == 1 then
      redis.call('ZADD', K_X, t + ttl, ARGV[i])
      held = held + 1
    end
  end
  if held == 0 then return { 0, next_event() } end
  redis.call('HSET', K_M, 'ls', t)
  keep_keys()
  return { t + ttl, next_event() }
elseif op == 'sweep' then
  if not exists then return { 0, 0, -1 } end
  local from = redis.call('HGET', K_M, 'xf')
  if not from then return { 0, 0, next_event() } end
  redis.call('HDEL', K_M, 'xf')
  if status_of() == from then return { 0, 0, next_event() } end
  local went = 0
  if status_of() == 'offline' then went = went_offline() end
  return { 1, entry(), next_event(), went }
elseif op == 'next' then
  if not exists then return -1 end
  return next_event()
elseif op == 'get' then
  if not exists then return { 'offline', 0, '', '' } end
  return entry()
end
return redis.error_reply('user status: unknown op ' .. tostring(op))
`;

const INDEX_LUA = `${LUA_PRELUDE}
local K_LEX, K_LIVE, K_DUE, K_SEEN = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op = ARGV[1]
if op == 'add' then
  -- ARGV: 'add', how long the index lives without adds, how much later than its expiry a user
  -- stops being known, then user, expiry, due triples. With no add for that long, no node touched
  -- any connection: every user is offline and the index can go (seen: that much later). An expiry
  -- '' leaves lex, live and seen alone, a due '' leaves due alone, a negative one takes the user
  -- out of due.
  local shift = tonumber(ARGV[3])
  for i = 4, #ARGV, 3 do
    if ARGV[i + 1] ~= '' then
      redis.call('ZADD', K_LEX, 0, ARGV[i])
      redis.call('ZADD', K_LIVE, 'GT', ARGV[i + 1], ARGV[i])
      redis.call('ZADD', K_SEEN, 'GT', tonumber(ARGV[i + 1]) + shift, ARGV[i])
    end
    local due = tonumber(ARGV[i + 2])
    if due and due < 0 then redis.call('ZREM', K_DUE, ARGV[i]) elseif due then redis.call('ZADD', K_DUE, due, ARGV[i]) end
  end
  redis.call('PEXPIRE', K_LEX, ARGV[2])
  redis.call('PEXPIRE', K_LIVE, ARGV[2])
  if redis.call('EXISTS', K_SEEN) == 1 then redis.call('PEXPIRE', K_SEEN, tonumber(ARGV[2]) + shift) end
  if redis.call('EXISTS', K_DUE) == 1 then redis.call('PEXPIRE', K_DUE, ARGV[2]) end
  return 1
elseif op == 'remove' then
  for i = 2, #ARGV do
    redis.call('ZREM', K_LEX, ARGV[i])
    redis.call('ZREM', K_LIVE, ARGV[i])
  end
  return 1
elseif op == 'page' then
  local from = ARGV[2] == '' and '-' or ('(' .. ARGV[2])
  return redis.call('ZRANGEBYLEX', K_LEX, from, '+', 'LIMIT', 0, tonumber(ARGV[3]))
elseif op == 'due' then
  return redis.call('ZRANGEBYSCORE', K_DUE, '-inf', now(), 'LIMIT', 0, tonumber(ARGV[2]))
elseif op == 'count' then
  local t = now()
  redis.call('ZREMRANGEBYSCORE', K_LIVE, '-inf', t)
  return redis.call('ZCARD', K_LIVE)
elseif op == 'users' then
  local t = now()
  redis.call('ZREMRANGEBYSCORE', K_LIVE, '-inf', t)
  redis.call('ZREMRANGEBYSCORE', K_SEEN, '-inf', t)
  return { redis.call('ZCARD', K_LIVE), redis.call('ZCARD', K_SEEN) }
end
return redis.error_reply('user index: unknown op ' .. tostring(op))
`;

const USER = new LuaScript(USER_LUA);
const INDEX = new LuaScript(INDEX_LUA);

/** Candidates read from the index per round of a listing. */
const PAGE_READ = 100;

export class RedisUserStatusStore implements UserStatusStore {
  private readonly indexKeys: string[];

  constructor(
    private readonly client: RedisScriptClient,
    private readonly keys: RedisKeys,
    private readonly options: RedisUserStatusOptions,
  ) {
    this.indexKeys = [keys.global('us', 'index', 'lex'), keys.global('us', 'index', 'live'), keys.global('us', 'index', 'due'), keys.global('us', 'index', 'seen')];
  }

  async addConnection(user: string, client: string, status: PresenceStatus, info: Record<string, unknown> | undefined, limit: number): Promise<AddConnectionResult> {
    const reply = asArray(await this.run(user, 'add', client, status, info ? JSON.stringify(info) : '', limit));
    const connections = asNumber(reply[1]);
    if (asNumber(reply[0]) === 0) return { accepted: false, connections };
    await this.index(user, asText(reply[4]), asText(reply[5]));
    const result: AddConnectionResult = { accepted: true, connections };
    if (asNumber(reply[2]) === 1) result.changed = decodeEntry(user, reply[3]);
    if (asNumber(reply[6]) === 1) result.cameOnline = true;
    return result;
  }

  async setStatus(user: string, client: string, status: PresenceStatus): Promise<UserStatusEntry | undefined> {
    const reply = asArray(await this.run(user, 'status', client, status));
    return asNumber(reply[0]) === 1 ? decodeEntry(user, reply[1]) : undefined;
  }

  async removeConnection(user: string, client: string): Promise<{ lastConnection: boolean }> {
    const reply = asArray(await this.run(user, 'remove', client));
    if (asNumber(reply[0]) === 0) return { lastConnection: false };
    // Counted until its grace period ends (the status holds until then).
    await this.index(user, asText(reply[1]), asText(reply[2]));
    return { lastConnection: true };
  }

  async settleOffline(user: string): Promise<UserStatusEntry | undefined> {
    const reply = asArray(await this.run(user, 'settle'));
    if (asNumber(reply[0]) === 0) return undefined;
    await this.unindex([user]);
    return withEdge(decodeEntry(user, reply[1]), reply[2]);
  }

  async touch(entries: readonly { user: string; client: string }[]): Promise<void> {
    const byUser = new Map<string, string[]>();
    for (const { user, client } of entries) {
      const clients = byUser.get(user);
      if (clients) clients.push(client);
      else byUser.set(user, [client]);
    }
    if (byUser.size === 0) return;
    // One script per user, all issued in one tick: node-redis sends them as one pipeline.
    const users = [...byUser.keys()];
    const expiries = await Promise.all(users.map((user) => this.run(user, 'touch', ...byUser.get(user)!)));
    const index: string[] = [];
    users.forEach((user, i) => {
      const [expiry, due] = asArray(expiries[i]).map(asText) as [string, string];
      if (Number(expiry) > 0) index.push(user, expiry, due);
    });
    if (index.length > 0) await this.index(...index);
  }

  async get(user: string): Promise<UserStatusEntry> {
    return decodeEntry(user, await this.run(user, 'get'));
  }

  async listOnline(query: { cursor?: string; limit: number }): Promise<UserListPage> {
    const found: UserStatusEntry[] = [];
    let after = query.cursor ?? '';
    // Each round either collects online users or drops offline ones from the index, so it ends.
    while (found.length <= query.limit) {
      const want = Math.max(query.limit + 1 - found.length, PAGE_READ);
      const ids = asArray(await INDEX.run(this.client, this.indexKeys, ['page', after, want])).map(asText);
      if (ids.length === 0) break;
      const entries = await Promise.all(ids.map((id) => this.get(id)));
      const offline = entries.filter((e) => e.status === 'offline').map((e) => e.user);
      if (offline.length > 0) await this.unindex(offline);
      for (const e of entries) if (e.status !== 'offline' && found.length <= query.limit) found.push(e);
      if (ids.length < want) break;
      after = ids[ids.length - 1]!;
    }
    const page: UserListPage = { users: found.slice(0, query.limit) };
    if (found.length > query.limit) page.nextCursor = page.users[page.users.length - 1]!.user;
    return page;
  }

  async countOnline(): Promise<number> {
    return asNumber(await INDEX.run(this.client, this.indexKeys, ['count']));
  }

  /** Both counts from the index in one step (one slot on Redis Cluster: the keys share a hash tag). */
  async countUsers(): Promise<UserCounts> {
    const [connected, known] = asArray(await INDEX.run(this.client, this.indexKeys, ['users'])).map(asNumber) as [number, number];
    return { connected, known };
  }

  async sweepExpired(limit: number): Promise<UserStatusSweep> {
    const users = asArray(await INDEX.run(this.client, this.indexKeys, ['due', limit])).map(asText);
    const replies = await Promise.all(users.map((user) => this.run(user, 'sweep')));
    const changed: UserStatusEntry[] = [];
    const due: string[] = [];
    const emptied: string[] = [];
    replies.forEach((reply, i) => {
      const user = users[i]!;
      const [found, entry, at, went] = asArray(reply);
      if (asNumber(found) === 1) changed.push(withEdge(decodeEntry(user, entry), went));
      due.push(user, '', asText(at));
      if (asNumber(at) < 0) emptied.push(user);
    });
    if (due.length > 0) await this.index(...due);
    // A connection may have come in between the sweep and taking the user out: look again.
    const again = await Promise.all(emptied.map(async (user) => [user, '', asText(await this.run(user, 'next'))]));
    const back = again.filter(([, , at]) => Number(at) >= 0).flat();
    if (back.length > 0) await this.index(...back);
    const offline = changed.filter((e) => e.status === 'offline').map((e) => e.user);
    if (offline.length > 0) await this.unindex(offline);
    return { changed, more: users.length >= limit };
  }

  /** The client belongs to whoever made it: closing the store leaves it open. */
  async close(): Promise<void> {}

  private run(user: string, op: string, ...args: (string | number)[]): Promise<unknown> {
    const keys = [this.keys.user(user, 'sc'), this.keys.user(user, 'sx'), this.keys.user(user, 'sm')];
    return USER.run(this.client, keys, [this.options.ttlMs, this.options.lastSeenTtlMs, op, ...args]);
  }

  /** Puts users in the index: `triples` is user, expiry (ms, Redis clock; '' none), due time ('' none), … */
  private async index(...triples: string[]): Promise<void> {
    const shift = Math.max(this.options.lastSeenTtlMs - this.options.ttlMs, 0);
    await INDEX.run(this.client, this.indexKeys, ['add', 2 * this.options.ttlMs + 1000, shift, ...triples]);
  }

  /** Takes users seen offline out of the index, then puts back any that came online meanwhile. */
  private async unindex(users: string[]): Promise<void> {
    await INDEX.run(this.client, this.indexKeys, ['remove', ...users]);
    const again = await Promise.all(users.map((user) => this.get(user)));
    const back: string[] = [];
    for (const e of again) if (e.status !== 'offline') back.push(e.user, String((e.lastSeen ?? 0) + this.options.ttlMs), '');
    if (back.length > 0) await this.index(...back);
  }
}

/** The entry with its `wentOffline` edge when the script reported it (1). */
function withEdge(entry: UserStatusEntry, went: unknown): UserStatusEntry {
  if (went !== undefined && asNumber(went) === 1) entry.wentOffline = true;
  return entry;
}

function decodeEntry(user: string, reply: unknown): UserStatusEntry {
  const [status, connections, lastSeen, info] = asArray(reply).map(asText);
  const out: UserStatusEntry = { user, status: status as UserStatusEntry['status'], connections: Number(connections) };
  if (lastSeen) out.lastSeen = Number(lastSeen);
  if (info) out.info = JSON.parse(info) as Record<string, unknown>;
  return out;
}
