/**
 * The ProgressStore on Redis: per user (`<prefix>:{u:<user>}:…`, see RedisKeys) a HASH `jd`
 * jobId → state JSON, a ZSET `jx` jobId → expiry (ms, Redis clock), a ZSET `jo` jobId → update
 * sequence (the order of `set` calls, from the counter `jq`). Each call is one Lua script, so the
 * `maxJobs` bound and the update order hold whichever node sets a job. Expired states are dropped
 * by the next call for the user, and the keys expire with the longest-lived state.
 */
import type { JobProgress } from '@tidings/protocol';
import type { ProgressStore } from '../progress.js';
import type { RedisKeys } from './redis-keys.js';
import { asArray, asText, LUA_PRELUDE, LuaScript, type RedisScriptClient } from './redis-state-scripts.js';

const PROGRESS_LUA = `${LUA_PRELUDE}
local K_D, K_X, K_O, K_Q = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local t = now()
local function forget(id)
  redis.call('HDEL', K_D, id)
  redis.call('ZREM', K_O, id)
end
purge_zset(K_X, t, forget)
local op = ARGV[1]
if op == 'set' then
  local id, json, ttl, max = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  redis.call('HSET', K_D, id, json)
  redis.call('ZADD', K_X, t + ttl, id)
  redis.call('ZADD', K_O, redis.call('INCR', K_Q), id)
  local excess = redis.call('ZCARD', K_O) - max
  if excess > 0 then
    -- The least recently updated go first.
    for _, old in ipairs(redis.call('ZRANGE', K_O, 0, excess - 1)) do
      forget(old)
      redis.call('ZREM', K_X, old)
    end
  end
  for _, k in ipairs(KEYS) do ttl_at_least(k, ttl) end
  return 1
elseif op == 'list' then
  local ids = redis.call('ZREVRANGE', K_O, 0, -1)
  if #ids == 0 then return {} end
  return redis.call('HMGET', K_D, unpack(ids))
elseif op == 'get' then
  return redis.call('HGET', K_D, ARGV[2]) or ''
end
return redis.error_reply('progress: unknown op ' .. tostring(op))
`;

const SCRIPT = new LuaScript(PROGRESS_LUA);

export class RedisProgressStore implements ProgressStore {
  constructor(
    private readonly client: RedisScriptClient,
    private readonly keys: RedisKeys,
  ) {}

  async set(user: string, job: JobProgress, ttlMs: number, maxJobs: number): Promise<void> {
    await this.run(user, 'set', job.jobId, JSON.stringify(job), String(ttlMs), String(maxJobs));
  }

  async list(user: string): Promise<JobProgress[]> {
    return asArray(await this.run(user, 'list')).map((json) => JSON.parse(asText(json)) as JobProgress);
  }

  async get(user: string, jobId: string): Promise<JobProgress | undefined> {
    const json = asText(await this.run(user, 'get', jobId));
    return json === '' ? undefined : (JSON.parse(json) as JobProgress);
  }

  /** The client belongs to whoever made it: closing the store leaves it open. */
  async close(): Promise<void> {}

  private run(user: string, ...args: string[]): Promise<unknown> {
    const keys = ['jd', 'jx', 'jo', 'jq'].map((name) => this.keys.user(user, name));
    return SCRIPT.run(this.client, keys, args);
  }
}
