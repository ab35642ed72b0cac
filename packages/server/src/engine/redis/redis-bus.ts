/**
 * The NodeBus on Redis: nodes of a deployment talk over Redis pub/sub.
 *
 * - Channels: every node subscribes, on its own subscriber connection (`openSubscriber`), to the
 *   control channel (broadcasts) and to its own node channel (sends, requests, answers), both in
 *   one SUBSCRIBE. A node publishes everything on its one command connection, so what one node
 *   sends another arrives in order (Redis keeps the order of one connection's commands, and one
 *   subscriber connection receives both channels in that order); pub/sub is at most once.
 * - Membership: a sorted set of node ids scored by the Redis time (ms) of their last sign of
 *   life; a started bus refreshes its entry every quarter of the node TTL and removes it on
 *   close. A node whose entry is older than the TTL is gone: `send` and `request` to it are
 *   refused with `unknown_node` at once, checked in the same Lua script that publishes (one round
 *   trip, no race with a node leaving).
 * - Heartbeats: a sorted set of node ids scored by the Redis time of their last heartbeat plus a
 *   hash of their info; `nodes()` lists those younger than the TTL. Times come from Redis
 *   (`TIME`), so nodes with skewed clocks agree on who is alive.
 * - Requests carry a correlation id; the answer (or the handler's error, with its `code`) comes
 *   back on the requester's node channel. Unanswered requests reject with `timeout`; a Redis
 *   that cannot be reached rejects them at once with `timeout` too (no answer can come).
 *
 * Keys share one hash tag (`{bus:all}`), so the scripts run on Redis Cluster; the bus uses plain
 * PUBLISH (Cluster relays it to every shard), never sharded pub/sub: its traffic is small.
 */
import { askAll } from '../bus-support.js';
import { BusRequestError, type BusHandler, type BusMessage, type NodeAnswer, type NodeBus, type NodeInfo } from '../node-bus.js';
import { closeRedis, openSubscriber, publishRouted, sendCommand, type RedisCommandClient } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';

export interface RedisBusOptions {
  /** A connected command client; this node publishes on it (it stays the caller's to close). */
  client: RedisCommandClient;
  /** Key prefix of the deployment (see RedisKeys). */
  prefix: string;
  /** A node whose last heartbeat (or membership refresh) is older than this is gone. */
  nodeTtlMs: number;
  /** How often a started bus refreshes its membership. Default a quarter of nodeTtlMs. */
  refreshMs?: number;
  /** Connection errors of the subscriber, malformed messages, failed refreshes (logging). */
  onError?: (error: Error) => void;
}

/** Now in ms from Redis' clock. */
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: members. ARGV: node id, ttl ms. Adds or refreshes a member, forgets expired ones. */
const JOIN = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now`;

/** KEYS: members. ARGV: target id, ttl ms, channel, payload. 1 when published, 0 when the target is not a live member. */
const SEND = `${NOW}
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seen or tonumber(seen) <= now - tonumber(ARGV[2]) then return 0 end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;

/** KEYS: members. ARGV: ttl ms. Live member ids. */
const MEMBERS = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')`;

/** KEYS: members, beats, info. ARGV: node id, ttl ms, info JSON. Records a heartbeat at Redis' now, forgets expired ones. */
const HEARTBEAT = `${NOW}
local ttl = tonumber(ARGV[2])
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
for _, id in ipairs(dead) do redis.call('HDEL', KEYS[3], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now`;

/** KEYS: beats, info. ARGV: ttl ms. Flat list: id, info JSON, last heartbeat ms, … */
const NODES = `${NOW}
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  local info = redis.call('HGET', KEYS[2], live[i])
  if info then
    out[#out + 1] = live[i]
    out[#out + 1] = info
    out[#out + 1] = live[i + 1]
  end
end
return out`;

/** KEYS: members, beats, info. ARGV: node id. */
const LEAVE = `redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1`;

/** What travels on the channels (JSON): a message, a request or an answer. */
type Wire =
  | { k: 'm'; f: string; m: BusMessage }
  | { k: 'q'; f: string; i: string; m: BusMessage }
  | { k: 'a'; f: string; i: string; v?: unknown; e?: { message: string; code?: string } };

function remoteError(err: unknown): { message: string; code?: string } {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? { message, code } : { message };
}

function parseWire(text: string): Wire | undefined {
  let w: unknown;
  try {
    w = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof w !== 'object' || w === null) return undefined;
  const r = w as Record<string, unknown>;
  if (typeof r.f !== 'string') return undefined;
  const isMessage = typeof r.m === 'object' && r.m !== null && typeof (r.m as BusMessage).type === 'string';
  if (r.k === 'm' && isMessage) return w as Wire;
  if ((r.k === 'q' && isMessage) || r.k === 'a') return typeof r.i === 'string' ? (w as Wire) : undefined;
  return undefined;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export class RedisNodeBus implements NodeBus {
  private readonly client: RedisCommandClient;
  private readonly keys: RedisKeys;
  private readonly ttl: number;
  private readonly refreshMs: number;
  private readonly onError: (error: Error) => void;
  private readonly members: string;
  private readonly beats: string;
  private readonly infos: string;
  private id: string | undefined;
  private handler: BusHandler | undefined;
  private subscriber: RedisCommandClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private seq = 0;
  private readonly pending = new Map<string, Pending>();

  constructor(options: RedisBusOptions) {
    if (!(options.nodeTtlMs > 0)) throw new Error('RedisNodeBus: nodeTtlMs must be positive');
    this.client = options.client;
    this.keys = new RedisKeys(options.prefix);
    this.ttl = Math.ceil(options.nodeTtlMs);
    this.refreshMs = options.refreshMs ?? Math.max(10, Math.floor(this.ttl / 4));
    this.onError = (error) => {
      try {
        options.onError?.(error);
      } catch {
        // A failing reporter must not break the bus.
      }
    };
    this.members = this.keys.global('bus', 'all', 'members');
    this.beats = this.keys.global('bus', 'all', 'beats');
    this.infos = this.keys.global('bus', 'all', 'info');
  }

  private eval(script: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    // EVAL, not EVALSHA with a fallback: a NOSCRIPT retry would overtake later sends and break
    // the order. Redis caches the compiled script by its digest either way.
    return sendCommand(this.client, ['EVAL', script, String(keys.length), ...keys, ...args.map(String)], this.members);
  }

  /** PUBLISH, on Redis Cluster sent where the scripts run (the `{bus:all}` slot), so a node's messages keep their order. */
  private publish(channel: string, message: string): Promise<unknown> {
    return publishRouted(this.client, channel, message, this.members);
  }

  private channelOf(node: string): string {
    return this.keys.nodePubSub(node);
  }

  async start(nodeId: string, handler: BusHandler): Promise<void> {
    if (this.id !== undefined || this.closed) throw new Error('NodeBus.start: called twice or after close');
    this.id = nodeId;
    this.handler = handler;
    const subscriber = await openSubscriber(this.client, this.onError);
    this.subscriber = subscriber;
    try {
      // Listening before joining: nothing addressed to this node can be published before it listens.
      await subscriber.subscribe([this.keys.controlPubSub(), this.channelOf(nodeId)], (text) => this.receive(text));
      await this.eval(JOIN, [this.members], [nodeId, this.ttl]);
    } catch (err) {
      this.subscriber = undefined;
      subscriber.destroy();
      throw err;
    }
    if (this.closed) return;
    this.timer = setInterval(() => {
      this.eval(JOIN, [this.members], [nodeId, this.ttl]).catch((err: unknown) => {
        if (!this.closed) this.onError(err instanceof Error ? err : new Error(String(err)));
      });
    }, this.refreshMs);
    this.timer.unref();
  }

  private self(): string {
    if (this.closed) throw new BusRequestError('the bus is closed', 'closed');
    if (this.id === undefined) throw new Error('NodeBus: start() first');
    return this.id;
  }

  private receive(text: string): void {
    if (this.closed) return;
    const wire = parseWire(text);
    if (!wire) {
      this.onError(new Error(`NodeBus: ignored a malformed message (${text.length} bytes)`));
      return;
    }
    if (wire.k === 'a') {
      const pending = this.pending.get(wire.i);
      if (!pending) return; // timed out, or not ours
      if (wire.e) pending.reject(new BusRequestError(String(wire.e.message), 'remote', typeof wire.e.code === 'string' ? wire.e.code : undefined));
      else pending.resolve(wire.v);
      return;
    }
    let answer: unknown;
    try {
      answer = this.handler!.onMessage(wire.m, wire.f);
    } catch (err) {
      answer = Promise.reject(err);
    }
    if (wire.k === 'm') {
      if (answer instanceof Promise) answer.catch(() => {}); // a message without an answer has nobody to tell
      return;
    }
    const { f: from, i: id } = wire;
    Promise.resolve(answer).then(
      (value) => this.answer(from, id, value),
      (err: unknown) => this.answer(from, id, undefined, remoteError(err)),
    );
  }

  /** Publishes an answer on the requester's channel (if it is gone, nobody hears it). */
  private answer(to: string, id: string, value: unknown, error?: { message: string; code?: string }): void {
    if (this.closed) return;
    let payload: string;
    try {
      payload = JSON.stringify(error ? { k: 'a', f: this.id, i: id, e: error } : { k: 'a', f: this.id, i: id, v: value });
    } catch (err) {
      payload = JSON.stringify({ k: 'a', f: this.id, i: id, e: { message: `the answer cannot be sent as JSON: ${(err as Error).message}` } });
    }
    this.publish(this.channelOf(to), payload).catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
  }

  async broadcast(message: BusMessage): Promise<void> {
    const from = this.self();
    await this.publish(this.keys.controlPubSub(), JSON.stringify({ k: 'm', f: from, m: message }));
  }

  async send(nodeId: string, message: BusMessage): Promise<void> {
    const from = this.self();
    const sent = await this.eval(SEND, [this.members], [nodeId, this.ttl, this.channelOf(nodeId), JSON.stringify({ k: 'm', f: from, m: message })]);
    if (Number(sent) !== 1) throw new BusRequestError(`unknown node ${nodeId}`, 'unknown_node');
  }

  request(nodeId: string, message: BusMessage, timeoutMs: number): Promise<unknown> {
    let from: string;
    let payload: string;
    const id = `${++this.seq}`;
    try {
      from = this.self();
      payload = JSON.stringify({ k: 'q', f: from, i: id, m: message });
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<unknown>((resolve, reject) => {
      const finish = (fn: () => void) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        fn();
      };
      this.pending.set(id, { resolve: (v) => finish(() => resolve(v)), reject: (e) => finish(() => reject(e)) });
      const fail = (err: Error) => this.pending.get(id)?.reject(err);
      const timer = setTimeout(() => fail(new BusRequestError(`node ${nodeId} did not answer ${message.type} within ${timeoutMs} ms`, 'timeout')), timeoutMs);
      this.eval(SEND, [this.members], [nodeId, this.ttl, this.channelOf(nodeId), payload]).then(
        (sent) => {
          if (Number(sent) !== 1) fail(new BusRequestError(`unknown node ${nodeId}`, 'unknown_node'));
        },
        (err: unknown) => fail(new BusRequestError(`node ${nodeId} cannot be asked: Redis: ${err instanceof Error ? err.message : String(err)}`, 'timeout')),
      );
    });
  }

  async requestAll(message: BusMessage, timeoutMs: number): Promise<NodeAnswer[]> {
    this.self();
    const targets = ((await this.eval(MEMBERS, [this.members], [this.ttl])) as string[]).map(String).sort();
    return askAll(targets, (node) => this.request(node, message, timeoutMs));
  }

  async heartbeat(info: Omit<NodeInfo, 'lastHeartbeat'>): Promise<void> {
    const id = this.self();
    const { lastHeartbeat: _ignored, ...rest } = info as NodeInfo;
    await this.eval(HEARTBEAT, [this.members, this.beats, this.infos], [id, this.ttl, JSON.stringify({ ...rest, id })]);
  }

  async nodes(): Promise<NodeInfo[]> {
    this.self();
    const flat = (await this.eval(NODES, [this.beats, this.infos], [this.ttl])) as unknown[];
    const out: NodeInfo[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      try {
        const info = JSON.parse(String(flat[i + 1])) as NodeInfo;
        out.push({ ...info, id: String(flat[i]), lastHeartbeat: Number(flat[i + 2]) });
      } catch {
        this.onError(new Error(`NodeBus: node ${String(flat[i])} has an unreadable heartbeat`));
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Leaves at once: other nodes stop listing this one and refuse requests to it. Redis errors are reported, not thrown. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const pending of [...this.pending.values()]) pending.reject(new BusRequestError('the bus is closed', 'closed'));
    if (this.id === undefined) return;
    try {
      await this.eval(LEAVE, [this.members, this.beats, this.infos], [this.id]);
    } catch (err) {
      // Redis away: the entries expire with the TTL.
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await closeRedis(subscriber);
  }
}
