/**
 * What the Redis state parts (presence, user status, typing, progress) share: the little of a
 * node-redis client they use (EVALSHA with an EVAL fallback), a Lua script handle, Lua snippets,
 * and reply decoding.
 *
 * Every atomic step is one Lua script over keys of one hash tag (`{...}`), so it runs on one
 * Redis Cluster slot. Time inside scripts is Redis's own clock (`TIME`), so nodes whose clocks
 * differ still agree on every expiry.
 */
import { createHash } from 'node:crypto';

/** The part of a connected node-redis client the state parts use. */
export interface RedisScriptClient {
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** One Lua script: run by its SHA1, sent in full once when Redis does not know it (a restart, `SCRIPT FLUSH`). */
export class LuaScript {
  readonly sha1: string;

  constructor(readonly source: string) {
    this.sha1 = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisScriptClient, keys: string[], args: readonly (string | number)[]): Promise<unknown> {
    const options = { keys, arguments: args.map(String) };
    try {
      return await client.evalSha(this.sha1, options);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.source, options);
    }
  }
}

/**
 * Lua helpers every state script starts with:
 * - `now()`: Redis's clock in ms;
 * - `ttl_at_least(key, ms)`: makes a key live at least `ms` more (never shortens its life);
 * - `purge_zset(zset, now, fn)`: removes members whose score (an expiry time) passed, calling
 *   `fn(member)` for each first.
 */
export const LUA_PRELUDE = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ttl_at_least(key, ms)
  local cur = redis.call('PTTL', key)
  if cur == -1 or (cur >= 0 and cur < ms) then redis.call('PEXPIRE', key, ms) end
end
local function purge_zset(zset, t, fn)
  local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', t)
  if #gone == 0 then return gone end
  for _, member in ipairs(gone) do fn(member) end
  redis.call('ZREMRANGEBYSCORE', zset, '-inf', t)
  return gone
end
`;

/** A reply that must be an array (a Lua table). */
export function asArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`Redis state script: expected an array reply, got ${typeof reply}`);
  return reply;
}

/** A bulk string reply as text ('' marks "absent" in these scripts' replies). */
export function asText(reply: unknown): string {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'number') return String(reply);
  throw new Error(`Redis state script: expected a string reply, got ${typeof reply}`);
}

export function asNumber(reply: unknown): number {
  const n = typeof reply === 'number' ? reply : Number(asText(reply));
  if (!Number.isFinite(n)) throw new Error('Redis state script: expected a number reply');
  return n;
}

/** JSON text of a value to store, '' when it is absent (JSON of a present value is never ''). */
export function jsonOrEmpty(value: unknown): string {
  if (value === undefined) return '';
  return JSON.stringify(value) ?? '';
}

/** A stored JSON text back to its value; '' is absent. */
export function parseOrUndefined(text: string): unknown {
  return text === '' ? undefined : JSON.parse(text);
}
