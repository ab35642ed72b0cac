/**
 * Options of the Redis engine and how its connections open (node-redis, the `redis` package).
 *
 * `openRedis(options)` returns a connected command client; a part that needs pub/sub opens its own
 * subscriber with `openSubscriber(client)` (a `duplicate()` of it, same options). Every client has
 * an 'error' listener that only reports (node-redis emits 'error' on every failed reconnect; an
 * unhandled one would crash the process) and a reconnect strategy that never gives up, so a Redis
 * that comes back is used again. Commands issued while a client is disconnected fail at once
 * (`disableOfflineQueue`) instead of queueing without bound: publishes fail fast and callers retry.
 */
import { readFileSync } from 'node:fs';
import { createClient, createCluster, type RedisClientOptions, type RedisClientType, type RedisClusterOptions, type RedisClusterType } from 'redis';
import { DEFAULT_REDIS_PREFIX, RedisKeys, checkRedisPrefix } from './redis-keys.js';

/** A connected node-redis client (RESP3, no modules or scripts registered). */
export type RedisClient = RedisClientType;

/** A node-redis Redis Cluster client (`createCluster`): routes each command by its first key's slot. */
export type RedisCluster = RedisClusterType;

/** What the parts run their commands on: one Redis, or a Redis Cluster. */
export type RedisCommandClient = RedisClient | RedisCluster;

/** True for a Redis Cluster client. */
export function isCluster(client: RedisCommandClient): client is RedisCluster {
  return 'masters' in client;
}

/**
 * A raw command (`args` with its name first) on a key, on a cluster sent to the primary owning
 * `routingKey`'s slot (its first key). On a single Redis `routingKey` changes nothing.
 */
export function sendCommand(client: RedisCommandClient, args: string[], routingKey?: string): Promise<unknown> {
  return isCluster(client) ? client.sendCommand(routingKey, false, args) : client.sendCommand(args);
}

/** A PUBLISH as a script over one declared key, so a cluster runs it where that key lives. */
const ROUTED_PUBLISH = "return redis.call('PUBLISH', ARGV[1], ARGV[2])";

/**
 * PUBLISH (classic pub/sub). A cluster client sends a keyless PUBLISH to any node; here it goes
 * to the primary of `routingKey`'s slot (a tiny script declaring that key), the node that also
 * runs the scripts publishing on the same channel, so one node's messages keep their order.
 * Cluster relays the message to every node either way.
 */
export function publishRouted(client: RedisCommandClient, channel: string, message: string, routingKey: string): Promise<unknown> {
  if (!isCluster(client)) return client.publish(channel, message);
  return client.sendCommand(routingKey, false, ['EVAL', ROUTED_PUBLISH, '1', routingKey, channel, message]);
}

/** TLS settings: `true` uses the system CAs; the object form takes PEM text or file paths. */
export type RedisTlsOptions =
  | boolean
  | {
      /** CA certificate(s), PEM text or a path to a PEM file. */
      ca?: string;
      /** Client certificate for mutual TLS, PEM text or a path. */
      cert?: string;
      /** Client key for mutual TLS, PEM text or a path. */
      key?: string;
      /** Default true; false accepts any server certificate (tests only). */
      rejectUnauthorized?: boolean;
    };

export interface RedisEngineOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…` (TLS). */
  url: string;
  /** Prefix of every key and pub/sub channel (deployments sharing one Redis use different ones). Default `tidings`. */
  prefix?: string;
  /** ACL user (overrides the URL's). */
  username?: string;
  /** Password (overrides the URL's). */
  password?: string;
  /** TLS; `rediss://` URLs turn it on as well. */
  tls?: RedisTlsOptions;
  /** Database number (`SELECT`); Redis Cluster only has 0. */
  db?: number;
  /**
   * Redis Cluster (`createCluster`): `true` uses `url` as the one seed node, a list gives the seed
   * nodes' URLs (`url` is then the first unless given). Credentials and TLS apply to every node.
   */
  cluster?: boolean | string[];
  /** Use sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis ≥ 7) instead of PUBLISH/SUBSCRIBE. */
  sharded?: boolean;
  /** Milliseconds to wait for a connection. Default 5000. */
  connectTimeoutMs?: number;
  /** Longest wait for one command's reply (the broker's calls; default 2000). */
  commandTimeoutMs?: number;
  /** How often the pub/sub connection is probed, and how long a probe may take (defaults 5000 and 2000). */
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Longest pause between reconnect attempts, in milliseconds. Default 2000. */
  maxReconnectDelayMs?: number;
  /** Called with every connection error (logging, metrics); never throws into the client. */
  onError?: (error: Error) => void;
}

/** Options with defaults applied. */
export interface ResolvedRedisOptions extends RedisEngineOptions {
  prefix: string;
  sharded: boolean;
  connectTimeoutMs: number;
  maxReconnectDelayMs: number;
}

export function resolveRedisOptions(options: RedisEngineOptions): ResolvedRedisOptions {
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
  checkRedisPrefix(prefix);
  return {
    ...options,
    prefix,
    sharded: options.sharded ?? false,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    maxReconnectDelayMs: options.maxReconnectDelayMs ?? 2000,
  };
}

/** The key names for these options. */
export function redisKeys(options: RedisEngineOptions): RedisKeys {
  return new RedisKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
}

/** PEM text as is; anything else is read as a file path. */
function pem(value: string): string {
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

/** node-redis client options for ours. */
export function clientOptions(options: RedisEngineOptions): RedisClientOptions {
  const resolved = resolveRedisOptions(options);
  const tlsFromUrl = /^rediss:/i.test(resolved.url);
  const tls = resolved.tls ?? tlsFromUrl;
  const reconnectStrategy = (retries: number): number => Math.min(50 * 2 ** Math.min(retries, 10), resolved.maxReconnectDelayMs);
  const common = { connectTimeout: resolved.connectTimeoutMs, reconnectStrategy };
  const socket: RedisClientOptions['socket'] =
    tls === false
      ? common
      : {
          ...common,
          tls: true,
          ...(typeof tls === 'object'
            ? {
                ...(tls.ca !== undefined ? { ca: pem(tls.ca) } : {}),
                ...(tls.cert !== undefined ? { cert: pem(tls.cert) } : {}),
                ...(tls.key !== undefined ? { key: pem(tls.key) } : {}),
                ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
              }
            : {}),
        };
  return {
    url: resolved.url,
    socket,
    disableOfflineQueue: true,
    ...(resolved.username !== undefined ? { username: resolved.username } : {}),
    ...(resolved.password !== undefined ? { password: resolved.password } : {}),
    ...(resolved.db !== undefined ? { database: resolved.db } : {}),
  };
}

/** Reports a client's errors to `onError` (or nowhere); the listener itself never throws. */
function listenForErrors(client: RedisCommandClient, onError: ((error: Error) => void) | undefined): void {
  client.on('error', (error: unknown) => {
    try {
      onError?.(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A failing reporter must not turn a connection error into a crash.
    }
  });
}

/** node-redis cluster options for ours: the seed nodes, and every node connected like `clientOptions` says (no `SELECT`). */
export function clusterOptions(options: RedisEngineOptions): RedisClusterOptions {
  const seeds = Array.isArray(options.cluster) && options.cluster.length > 0 ? options.cluster : [options.url];
  // TLS and credentials from `url`, else from the first seed (a rediss:// seed turns TLS on).
  const url = options.url || seeds[0]!;
  const { url: _url, database: _database, ...defaults } = clientOptions({ ...options, url });
  // The discovered nodes get `defaults` only, not the seed URLs: the URL's credentials go there too.
  const parsed = new URL(url);
  if (defaults.username === undefined && parsed.username !== '') defaults.username = decodeURIComponent(parsed.username);
  if (defaults.password === undefined && parsed.password !== '') defaults.password = decodeURIComponent(parsed.password);
  return { rootNodes: seeds.map((seed) => ({ url: seed })), defaults };
}

/** A new, not yet connected command client: a cluster client when `options.cluster` says so. */
export function createCommandClient(options: RedisEngineOptions): RedisCommandClient {
  return options.cluster !== undefined && options.cluster !== false
    ? (createCluster(clusterOptions(options) as RedisClusterOptions<{}, {}, {}, 3, {}>) as RedisCluster)
    : (createClient(clientOptions(options)) as RedisClient);
}

/** Opens and connects a command client; rejects if Redis cannot be reached within `connectTimeoutMs`. */
export async function openRedis(options: RedisEngineOptions): Promise<RedisClient> {
  const client = createClient(clientOptions(options)) as RedisClient;
  listenForErrors(client, options.onError);
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    throw err;
  }
  return client;
}

/**
 * Connects a client that was created here (not connected yet). A single-node client keeps trying
 * by its reconnect strategy; a cluster client gives up when no seed node answers, so it is tried
 * again every `maxReconnectDelayMs` (each failure reported to `onFailure`) until it connects or
 * `stopped()` says the caller closed it. Resolves true once connected, false if stopped.
 */
export async function connectUntilStopped(client: RedisCommandClient, options: RedisEngineOptions, stopped: () => boolean, onFailure?: (error: Error) => void): Promise<boolean> {
  const pause = resolveRedisOptions(options).maxReconnectDelayMs;
  for (;;) {
    try {
      await client.connect();
      return true;
    } catch (err) {
      if (!isCluster(client) || stopped()) return false;
      onFailure?.(err instanceof Error ? err : new Error(String(err)));
      await new Promise((resolve) => setTimeout(resolve, pause));
      if (stopped()) return false;
    }
  }
}

/** Opens and connects a Redis Cluster client (`options.cluster`: the seeds, else `url`); rejects if the cluster cannot be reached. */
export async function openCluster(options: RedisEngineOptions): Promise<RedisCluster> {
  const cluster = createCommandClient({ ...options, cluster: options.cluster || true }) as RedisCluster;
  listenForErrors(cluster, options.onError);
  try {
    await cluster.connect();
  } catch (err) {
    cluster.destroy();
    throw err;
  }
  return cluster;
}

/**
 * A second connection with `client`'s options, for pub/sub (a subscribed RESP2 connection can run
 * nothing else, and a separate one keeps publications off the command pipeline). Connected on return.
 */
export async function openSubscriber<C extends RedisCommandClient>(client: C, onError?: (error: Error) => void): Promise<C> {
  const subscriber = duplicateClient(client, onError);
  try {
    await subscriber.connect();
  } catch (err) {
    subscriber.destroy();
    throw err;
  }
  return subscriber;
}

/** A new, not yet connected client with `client`'s options and an error listener (see `listenForErrors`). */
export function duplicateClient<C extends RedisCommandClient>(client: C, onError?: (error: Error) => void): C {
  const copy = client.duplicate() as C;
  listenForErrors(copy, onError);
  return copy;
}

/** Closes a client: waits for replies already asked for, then QUIT; a client already closed is left alone. */
export async function closeRedis(client: RedisCommandClient): Promise<void> {
  if (!client.isOpen) return;
  try {
    await client.close();
  } catch {
    client.destroy();
  }
}
