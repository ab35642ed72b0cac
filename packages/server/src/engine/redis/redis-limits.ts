/**
 * SharedLimits on Redis: connection slots and token buckets every node of a deployment shares.
 *
 * - Slots: one HASH per limit key, holder → id of the node that took it, under the key's own hash
 *   tag (`{lim:<key>}`). Acquire (count, compare with max, take) and release are Lua scripts, so
 *   however many nodes race, at most `max` slots are held.
 * - Whose slots: every node keeps, under its own tag (`{n:<node>}:lim`), a HASH of the limit keys
 *   it may hold slots of (key → a count raised before a slot is taken and lowered after one is
 *   given back, so it never says less than the truth), and a ZSET of limits nodes scored by the
 *   Redis time of their last refresh. A live node refreshes its entry every third of `nodeTtlMs`
 *   and sweeps, every `sweepIntervalMs`, the nodes whose entry is older than the TTL: it releases
 *   their slots (key by key, from their index) and forgets them. A node that dies without closing
 *   thus gives its slots back within the TTL plus a sweep. Closing releases a node's slots at once.
 * - Token buckets: a HASH per key (`{rate:<key>}`) with tokens and the Redis time of the last
 *   take, updated by one Lua script using `TIME`, so nodes with skewed clocks agree. A bucket
 *   expires when it would be full again.
 *
 * A node stalled longer than the TTL is taken for dead and loses its slots; it rejoins on its
 * next refresh. Redis losing its data loses the slots (the counts start again from zero).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { SharedLimits } from '../shared-limits.js';
import { sendCommand, type RedisCommandClient } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';

export interface RedisLimitsOptions {
  /** A connected command client (it stays the caller's to close). */
  client: RedisCommandClient;
  /** Key prefix of the deployment (see RedisKeys). */
  prefix: string;
  /** This node's id for its slots; unique per running node. Default a random UUID. */
  nodeId?: string;
  /** A node that has not refreshed its liveness for this long is dead and its slots are released. */
  nodeTtlMs: number;
  /** How often this node refreshes its liveness. Default a third of nodeTtlMs. */
  refreshMs?: number;
  /** How often this node looks for dead nodes to release their slots. Default nodeTtlMs. */
  sweepIntervalMs?: number;
  /** Failed refreshes and sweeps (logging); they are retried on the next tick. */
  onError?: (error: Error) => void;
}

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000`;

/** KEYS: slots. ARGV: holder, node, max. 1 taken, 2 already held by this holder, 0 full. */
const ACQUIRE = `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 2 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/** KEYS: slots. ARGV: holder. The node that held the slot, or false. */
const RELEASE = `local node = redis.call('HGET', KEYS[1], ARGV[1])
if node then redis.call('HDEL', KEYS[1], ARGV[1]) end
return node`;

/** KEYS: slots. ARGV: node. Releases every slot of the key held by that node; how many. */
const RELEASE_NODE = `local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] then
    redis.call('HDEL', KEYS[1], all[i])
    n = n + 1
  end
end
return n`;

/** KEYS: index. ARGV: key, delta. Adjusts the node's count for a key; forgets it at zero. */
const INDEX = `local n = redis.call('HINCRBY', KEYS[1], ARGV[1], tonumber(ARGV[2]))
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n`;

/** KEYS: live. ARGV: node. Refreshes the node's liveness at Redis' now. */
const REFRESH = `${NOW}
redis.call('ZADD', KEYS[1], now, ARGV[1])
return 1`;

/** KEYS: live. ARGV: ttl ms. Nodes whose liveness is older than the TTL. */
const DEAD = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))`;

/** KEYS: bucket. ARGV: rate per second, burst. 1 when a token was taken. */
const TAKE = `${NOW}
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 't', 'ts', 'r', 'b')
local tokens = burst
if b[1] and tonumber(b[3]) == rate and tonumber(b[4]) == burst then
  tokens = math.min(burst, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) / 1000 * rate)
end
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now), 'r', ARGV[1], 'b', ARGV[2])
local full = 1000
if rate > 0 then full = math.ceil((burst - tokens) / rate * 1000) + 1000 else full = 86400000 end
redis.call('PEXPIRE', KEYS[1], full)
return ok`;

/** A Lua script run by EVALSHA, sent again with EVAL when Redis does not know it (restarted, flushed). */
class Script {
  private readonly sha: string;
  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisCommandClient, keys: string[], args: Array<string | number>): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await sendCommand(client, ['EVALSHA', this.sha, ...rest], keys[0]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return sendCommand(client, ['EVAL', this.source, ...rest], keys[0]);
    }
  }
}

const scripts = {
  acquire: new Script(ACQUIRE),
  release: new Script(RELEASE),
  releaseNode: new Script(RELEASE_NODE),
  index: new Script(INDEX),
  refresh: new Script(REFRESH),
  dead: new Script(DEAD),
  take: new Script(TAKE),
};

export class RedisSharedLimits implements SharedLimits {
  readonly nodeId: string;
  private readonly client: RedisCommandClient;
  private readonly keys: RedisKeys;
  private readonly ttl: number;
  private readonly onError: (error: Error) => void;
  private readonly live: string;
  private readonly refreshTimer: NodeJS.Timeout;
  private readonly sweepTimer: NodeJS.Timeout;
  /** The first refresh: no slot is taken before this node is listed as alive. */
  private joined: Promise<unknown>;
  private sweeping = false;
  private readonly inflight = new Set<Promise<boolean>>();
  private closed = false;

  constructor(options: RedisLimitsOptions) {
    if (!(options.nodeTtlMs > 0)) throw new Error('RedisSharedLimits: nodeTtlMs must be positive');
    this.client = options.client;
    this.keys = new RedisKeys(options.prefix);
    this.nodeId = options.nodeId ?? randomUUID();
    this.ttl = Math.ceil(options.nodeTtlMs);
    this.onError = (error) => {
      try {
        options.onError?.(error);
      } catch {
        // A failing reporter must not break the limits.
      }
    };
    this.live = this.keys.global('lim', '', 'nodes');
    this.joined = this.refresh();
    this.joined.catch(() => {}); // reported by refresh; acquire retries it
    this.refreshTimer = setInterval(() => void this.refresh().catch(() => {}), options.refreshMs ?? Math.max(10, Math.floor(this.ttl / 3)));
    this.refreshTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), options.sweepIntervalMs ?? this.ttl);
    this.sweepTimer.unref();
  }

  private slots(key: string): string {
    return this.keys.global('lim', key, 's');
  }

  private index(node: string): string {
    return this.keys.node(node, 'lim');
  }

  private async refresh(): Promise<void> {
    if (this.closed) return;
    try {
      await scripts.refresh.run(this.client, [this.live], [this.nodeId]);
    } catch (err) {
      if (!this.closed) this.onError(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  async acquire(key: string, holder: string, max: number): Promise<boolean> {
    this.open();
    const attempt = this.tryAcquire(key, holder, max);
    // close() waits for acquires under way, so none leaves a slot behind it.
    this.inflight.add(attempt);
    try {
      return await attempt;
    } finally {
      this.inflight.delete(attempt);
    }
  }

  private async tryAcquire(key: string, holder: string, max: number): Promise<boolean> {
    await this.joined.catch(() => (this.joined = this.refresh()));
    // Indexed before taken: a node that dies between the two leaves an entry the sweep ignores, never a slot it misses.
    await scripts.index.run(this.client, [this.index(this.nodeId)], [key, 1]);
    let result: unknown;
    try {
      result = await scripts.acquire.run(this.client, [this.slots(key)], [holder, this.nodeId, max]);
    } catch (err) {
      await this.unindex(this.nodeId, key);
      throw err;
    }
    if (Number(result) !== 1) await this.unindex(this.nodeId, key);
    return Number(result) !== 0;
  }

  async release(key: string, holder: string): Promise<void> {
    if (this.closed) return; // this node's slots went with the close
    const node = await scripts.release.run(this.client, [this.slots(key)], [holder]);
    if (typeof node === 'string') await this.unindex(node, key);
  }

  async held(key: string): Promise<number> {
    return Number(await sendCommand(this.client, ['HLEN', this.slots(key)], this.slots(key)));
  }

  async take(key: string, ratePerSecond: number, burst: number): Promise<boolean> {
    this.open();
    return Number(await scripts.take.run(this.client, [this.keys.global('rate', key)], [ratePerSecond, burst])) === 1;
  }

  /** Releases this node's slots and leaves; if Redis cannot be reached, the others' sweep releases them after the TTL. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    clearInterval(this.sweepTimer);
    await Promise.allSettled([...this.inflight]);
    try {
      await this.releaseAll(this.nodeId);
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Releases the slots of dead nodes (run every sweep interval; public for tests and operators). */
  async sweep(): Promise<number> {
    if (this.closed || this.sweeping) return 0;
    this.sweeping = true;
    try {
      const dead = ((await scripts.dead.run(this.client, [this.live], [this.ttl])) as unknown[]).map(String);
      let released = 0;
      for (const node of dead) if (node !== this.nodeId) released += await this.releaseAll(node);
      return released;
    } catch (err) {
      if (!this.closed) this.onError(err instanceof Error ? err : new Error(String(err)));
      return 0;
    } finally {
      this.sweeping = false;
    }
  }

  /** Releases every slot `node` holds, then forgets its index and liveness. */
  private async releaseAll(node: string): Promise<number> {
    const index = this.index(node);
    const keys = ((await sendCommand(this.client, ['HKEYS', index], index)) as unknown[]).map(String);
    let released = 0;
    for (const key of keys) released += Number(await scripts.releaseNode.run(this.client, [this.slots(key)], [node]));
    await sendCommand(this.client, ['DEL', index], index);
    await sendCommand(this.client, ['ZREM', this.live, node], this.live);
    return released;
  }

  private async unindex(node: string, key: string): Promise<void> {
    await scripts.index.run(this.client, [this.index(node)], [key, -1]);
  }

  private open(): void {
    if (this.closed) throw new Error('SharedLimits: this node handle is closed');
  }
}
