/**
 * The TypingStore on Redis: per channel (`<prefix>:{c:<channel>}:…`, see RedisKeys) a ZSET
 * `tz` user → expiry (ms, Redis clock) and a HASH `ti` user → info JSON. Each call is one Lua
 * script, so a start on one node and a repeat on another are told apart exactly once. Expired
 * entries are dropped by the next call on the channel, and the keys themselves expire with the
 * longest entry, so a channel nobody touches again leaves nothing behind.
 */
import type { TypingEntry, TypingStore } from '../typing.js';
import type { RedisKeys } from './redis-keys.js';
import { asArray, asNumber, asText, LUA_PRELUDE, LuaScript, type RedisScriptClient } from './redis-state-scripts.js';

const TYPING_LUA = `${LUA_PRELUDE}
local K_Z, K_I = KEYS[1], KEYS[2]
local t = now()
purge_zset(K_Z, t, function(user) redis.call('HDEL', K_I, user) end)
local op = ARGV[1]
if op == 'start' then
  local user, info, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4])
  local started = redis.call('ZSCORE', K_Z, user) == false
  redis.call('ZADD', K_Z, t + ttl, user)
  if info ~= '' then redis.call('HSET', K_I, user, info) else redis.call('HDEL', K_I, user) end
  ttl_at_least(K_Z, ttl)
  ttl_at_least(K_I, ttl)
  return started and 1 or 0
elseif op == 'stop' then
  redis.call('HDEL', K_I, ARGV[2])
  return redis.call('ZREM', K_Z, ARGV[2])
elseif op == 'list' then
  local entries = redis.call('ZRANGE', K_Z, 0, -1, 'WITHSCORES')
  local out = {}
  for i = 1, #entries, 2 do
    out[#out + 1] = entries[i]
    out[#out + 1] = entries[i + 1]
    out[#out + 1] = redis.call('HGET', K_I, entries[i]) or ''
  end
  return out
end
return redis.error_reply('typing: unknown op ' .. tostring(op))
`;

const SCRIPT = new LuaScript(TYPING_LUA);

export class RedisTypingStore implements TypingStore {
  constructor(
    private readonly client: RedisScriptClient,
    private readonly keys: RedisKeys,
  ) {}

  async start(channel: string, user: string, info: Record<string, unknown> | undefined, ttlMs: number): Promise<{ started: boolean }> {
    return { started: asNumber(await this.run(channel, 'start', user, info ? JSON.stringify(info) : '', String(ttlMs))) === 1 };
  }

  async stop(channel: string, user: string): Promise<{ stopped: boolean }> {
    return { stopped: asNumber(await this.run(channel, 'stop', user)) === 1 };
  }

  async list(channel: string): Promise<TypingEntry[]> {
    const flat = asArray(await this.run(channel, 'list')).map(asText);
    const out: TypingEntry[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      const entry: TypingEntry = { user: flat[i]!, expiresAt: Number(flat[i + 1]) };
      if (flat[i + 2]) entry.info = JSON.parse(flat[i + 2]!) as Record<string, unknown>;
      out.push(entry);
    }
    return out;
  }

  /** The client belongs to whoever made it: closing the store leaves it open. */
  async close(): Promise<void> {}

  private run(channel: string, ...args: string[]): Promise<unknown> {
    const tag = this.keys.tagged('c', channel);
    return SCRIPT.run(this.client, [`${tag}:tz`, `${tag}:ti`], args);
  }
}
