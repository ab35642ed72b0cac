/**
 * The engine of a node: the one given in `createTidings` options (`engine`), else the one the
 * configuration names (`engine.type`): a memory engine of its own (`createMemoryEngine`: a memory
 * cluster of one node) or the Redis engine (`createRedisEngine`, shared with every node on the
 * same Redis and prefix). `cluster/` is the only caller of its parts (see docs/architecture.md).
 */
import type { TidingsConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Engine } from '../engine/engine.js';
import type { EngineObserver } from '../engine/engine-observer.js';
import type { HistoryPersistence } from '../engine/memory/history-persistence.js';
import { createMemoryEngine } from '../engine/memory/memory-cluster.js';
import type { RedisEngineOptions } from '../engine/redis/redis-connection.js';
import { createRedisEngine } from '../engine/redis/redis-engine.js';

export type { Engine };

/** What the engine needs of the node beyond its configuration. */
export interface EngineContext {
  /** The node's id (the Redis engine holds its limit slots under it). */
  nodeId?: string;
  /** Connection errors of an external engine are logged here (each new message once in a row). */
  log?: Logger;
  /** Told of an external engine's round trips, failures and reconnects (the node's engine metrics). */
  observer?: EngineObserver;
  /** The durable copy of the memory engine's history (`history.store: sqlite`; node.ts opens it on the node's SQLite database). */
  historyPersistence?: HistoryPersistence | undefined;
}

/** The Redis engine's connection options from `engine.*`. */
export function redisEngineOptions(engine: TidingsConfig['engine'], onError?: (error: Error) => void): RedisEngineOptions {
  const { tls } = engine;
  const tlsGiven = tls.enabled || tls.ca !== '' || tls.cert !== '' || tls.key !== '';
  return {
    url: engine.url,
    prefix: engine.prefix,
    ...(engine.username !== '' ? { username: engine.username } : {}),
    ...(engine.password !== '' ? { password: engine.password } : {}),
    ...(tlsGiven
      ? {
          tls: {
            ...(tls.ca !== '' ? { ca: tls.ca } : {}),
            ...(tls.cert !== '' ? { cert: tls.cert } : {}),
            ...(tls.key !== '' ? { key: tls.key } : {}),
            rejectUnauthorized: tls.rejectUnauthorized,
          },
        }
      : {}),
    ...(engine.db !== 0 ? { db: engine.db } : {}),
    sharded: engine.sharded,
    ...(engine.cluster !== false ? { cluster: engine.cluster } : {}),
    connectTimeoutMs: engine.connectTimeout,
    commandTimeoutMs: engine.commandTimeout,
    probeIntervalMs: engine.probeInterval,
    probeTimeoutMs: engine.probeTimeout,
    ...(onError ? { onError } : {}),
  };
}

/** Logs an engine's connection errors, each message once until another one comes (a Redis that is away fails every reconnect). */
function errorLogger(log: Logger | undefined): ((error: Error) => void) | undefined {
  if (!log) return undefined;
  let last = '';
  return (error) => {
    if (error.message === last) return;
    last = error.message;
    log.warn({ error: error.message }, 'engine: Redis error');
  };
}

/** The node's engine: `given`, or the configured one with the config's settings. */
export function nodeEngine(config: TidingsConfig, given: Engine | undefined, context: EngineContext = {}): Engine {
  if (given) return given;
  if (config.engine.type === 'redis') {
    const settings = { ...config, ...(context.nodeId !== undefined ? { nodeId: context.nodeId } : {}), ...(context.observer ? { observer: context.observer } : {}) };
    return createRedisEngine(redisEngineOptions(config.engine, errorLogger(context.log)), settings);
  }
  return createMemoryEngine(config, context.historyPersistence);
}
