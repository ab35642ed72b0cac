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
import { createClient, type RedisClientOptions, type RedisClientType } from 'redis';
import { DEFAULT_REDIS_PREFIX, RedisKeys, checkRedisPrefix } from './redis-keys.js';

/** A connected node-redis client (RESP3, no modules or scripts registered). */
export type RedisClient = RedisClientType;

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
function listenForErrors(client: RedisClient, onError: ((error: Error) => void) | undefined): void {
  client.on('error', (error: unknown) => {
    try {
      onError?.(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A failing reporter must not turn a connection error into a crash.
    }
  });
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
 * A second connection with `client`'s options, for pub/sub (a subscribed RESP2 connection can run
 * nothing else, and a separate one keeps publications off the command pipeline). Connected on return.
 */
export async function openSubscriber(client: RedisClient, onError?: (error: Error) => void): Promise<RedisClient> {
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
export function duplicateClient(client: RedisClient, onError?: (error: Error) => void): RedisClient {
  const copy = client.duplicate() as RedisClient;
  listenForErrors(copy, onError);
  return copy;
}

/** Closes a client: waits for replies already asked for, then QUIT; a client already closed is left alone. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (!client.isOpen) return;
  try {
    await client.close();
  } catch {
    client.destroy();
  }
}
