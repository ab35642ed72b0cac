/**
 * The UserStatusStore on Redis. A user's state is three keys under the user's hash tag, changed
 * only by Lua scripts, so the per-user connection limit holds across nodes (check and add are one
 * step) and every node sees one status.
 *
 * Keys of a user (`<prefix>:{u:<user>}:<name>`, see RedisKeys):
 * - `sc` HASH client → status; `sx` ZSET client → expiry (ms, Redis clock);
 * - `sm` HASH: `ls` lastSeen, `in` info JSON, `off` '1' once offline, `lv`/`lst` the start of the
 *   offline grace period and the status shown during it.
 *
 * Listing needs an index across users, which Redis Cluster cannot keep in the same step as a
 * user's keys (another slot): `<prefix>:{us:index}:lex` (ZSET, score 0, user ids in byte order,
 * for the cursor walk) and `:live` (ZSET user → latest connection expiry, for the count). A user
 * goes in after each accepted connection, touch and last removal (so an index that missed one
 * heals by the next touch); it leaves when seen offline, then is checked again and put back if it
 * came online meanwhile (every way to online adds it again afterwards, so none is lost).
 */
import type { PresenceStatus } from '@tidings/protocol';
import type { AddConnectionResult, UserListPage, UserStatusEntry, UserStatusStore } from '../user-status.js';
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

-- Drops expired connections and stale records; true when the user has a record.
local function record()
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
    redis.call('HDEL', K_M, 'lv', 'lst')
    redis.call('HSET', K_M, 'off', '1')
    off = true
  end
  if off and (not ls or t - ls > seen_ttl) then
    redis.call('DEL', K_C, K_X, K_M)
    return false
  end
  return true
end
local function status_of()
  if redis.call('HGET', K_M, 'off') ~= '0' then return 'offline' end
  if redis.call('HLEN', K_C) == 0 then return redis.call('HGET', K_M, 'lst') or 'offline' end
  for _, st in ipairs(redis.call('HVALS', K_C)) do
    if st == 'online' then return 'online' end
  end
  return 'away'
end
local function entry()
  local m = redis.call('HMGET', K_M, 'ls', 'in')
  return { status_of(), redis.call('HLEN', K_C), m[1] or '', m[2] or '' }
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
  keep_keys()
  local changed = status_of() ~= before
  return { 1, redis.call('HLEN', K_C), changed and 1 or 0, entry(), t + ttl }
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
  return { 1, t + ttl }
elseif op == 'settle' then
  if not exists or redis.call('HLEN', K_C) > 0 or redis.call('HEXISTS', K_M, 'lv') == 0 then return { 0 } end
  redis.call('HDEL', K_M, 'lv', 'lst')
  redis.call('HSET', K_M, 'off', '1')
  return { 1, entry() }
elseif op == 'touch' then
  if not exists then return 0 end
  local held = 0
  for i = 4, #ARGV do
    if redis.call('HEXISTS', K_C, ARGV[i]) == 1 then
      redis.call('ZADD', K_X, t + ttl, ARGV[i])
      held = held + 1
    end
  end
  if held == 0 then return 0 end
  redis.call('HSET', K_M, 'ls', t)
  keep_keys()
  return t + ttl
elseif op == 'get' then
  if not exists then return { 'offline', 0, '', '' } end
  return entry()
end
return redis.error_reply('user status: unknown op ' .. tostring(op))
`;

const INDEX_LUA = `${LUA_PRELUDE}
local K_LEX, K_LIVE = KEYS[1], KEYS[2]
local op = ARGV[1]
if op == 'add' then
  -- ARGV: 'add', how long the index lives without adds, then user, expiry pairs. With no add for
  -- that long, no node touched any connection: every user is offline and the index can go.
  for i = 3, #ARGV, 2 do
    redis.call('ZADD', K_LEX, 0, ARGV[i])
    redis.call('ZADD', K_LIVE, 'GT', ARGV[i + 1], ARGV[i])
  end
  redis.call('PEXPIRE', K_LEX, ARGV[2])
  redis.call('PEXPIRE', K_LIVE, ARGV[2])
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
elseif op == 'count' then
  local t = now()
  redis.call('ZREMRANGEBYSCORE', K_LIVE, '-inf', t)
  return redis.call('ZCARD', K_LIVE)
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
    this.indexKeys = [keys.global('us', 'index', 'lex'), keys.global('us', 'index', 'live')];
  }

  async addConnection(user: string, client: string, status: PresenceStatus, info: Record<string, unknown> | undefined, limit: number): Promise<AddConnectionResult> {
    const reply = asArray(await this.run(user, 'add', client, status, info ? JSON.stringify(info) : '', limit));
    const connections = asNumber(reply[1]);
    if (asNumber(reply[0]) === 0) return { accepted: false, connections };
    await this.index('add', user, asText(reply[4]));
    const result: AddConnectionResult = { accepted: true, connections };
    if (asNumber(reply[2]) === 1) result.changed = decodeEntry(user, reply[3]);
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
    await this.index('add', user, asText(reply[1]));
    return { lastConnection: true };
  }

  async settleOffline(user: string): Promise<UserStatusEntry | undefined> {
    const reply = asArray(await this.run(user, 'settle'));
    if (asNumber(reply[0]) === 0) return undefined;
    await this.unindex([user]);
    return decodeEntry(user, reply[1]);
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
      const expiry = asNumber(expiries[i]);
      if (expiry > 0) index.push(user, String(expiry));
    });
    if (index.length > 0) await this.index('add', ...index);
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

  /** The client belongs to whoever made it: closing the store leaves it open. */
  async close(): Promise<void> {}

  private run(user: string, op: string, ...args: (string | number)[]): Promise<unknown> {
    const keys = [this.keys.user(user, 'sc'), this.keys.user(user, 'sx'), this.keys.user(user, 'sm')];
    return USER.run(this.client, keys, [this.options.ttlMs, this.options.lastSeenTtlMs, op, ...args]);
  }

  /** Puts users in the index: `pairs` is user, expiry (ms, Redis clock), … */
  private async index(op: 'add', ...pairs: string[]): Promise<void> {
    await INDEX.run(this.client, this.indexKeys, [op, 2 * this.options.ttlMs + 1000, ...pairs]);
  }

  /** Takes users seen offline out of the index, then puts back any that came online meanwhile. */
  private async unindex(users: string[]): Promise<void> {
    await INDEX.run(this.client, this.indexKeys, ['remove', ...users]);
    const again = await Promise.all(users.map((user) => this.get(user)));
    const back: string[] = [];
    for (const e of again) if (e.status !== 'offline') back.push(e.user, String((e.lastSeen ?? 0) + this.options.ttlMs));
    if (back.length > 0) await this.index('add', ...back);
  }
}

function decodeEntry(user: string, reply: unknown): UserStatusEntry {
  const [status, connections, lastSeen, info] = asArray(reply).map(asText);
  const out: UserStatusEntry = { user, status: status as UserStatusEntry['status'], connections: Number(connections) };
  if (lastSeen) out.lastSeen = Number(lastSeen);
  if (info) out.info = JSON.parse(info) as Record<string, unknown>;
  return out;
}
