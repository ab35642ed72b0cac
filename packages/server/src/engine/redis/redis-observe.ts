/**
 * What the Redis engine tells an EngineObserver (engine/engine-observer.ts): node-redis's errors
 * sorted into the observer's kinds, reconnects of its connections, the pub/sub channels its
 * broker holds, and every part's calls timed (`observeEngine`).
 */
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
  TimeoutReadError,
} from 'redis';
import type { Engine } from '../engine.js';
import { observeEngine, type EngineErrorKind, type EngineObserver } from '../engine-observer.js';
import type { RedisBroker } from './redis-broker.js';
import { isCluster, type RedisCommandClient } from './redis-connection.js';

/**
 * The kind of a node-redis failure; undefined for an error that is not Redis's (a full history
 * budget, a bus request nobody answered), which the caller handles as before.
 */
export function classifyRedisError(error: unknown): EngineErrorKind | undefined {
  if (error instanceof ErrorReply) return 'reply';
  // The broker's "Redis is not answering" (BrokerUnavailableError) wraps node-redis's error, or is its own timeout.
  if (error instanceof Error && error.name === 'BrokerUnavailableError') {
    return classifyRedisError(error.cause) ?? (/ within \d+ ?ms/.test(error.message) ? 'timeout' : 'connection');
  }
  if (error instanceof TimeoutError || error instanceof TimeoutReadError || error instanceof SocketTimeoutError || error instanceof ConnectionTimeoutError) return 'timeout';
  if (
    error instanceof ClientClosedError ||
    error instanceof ClientOfflineError ||
    error instanceof SocketClosedUnexpectedlyError ||
    error instanceof DisconnectsClientError ||
    error instanceof ReconnectStrategyError
  )
    return 'connection';
  // A socket error (ECONNREFUSED, ECONNRESET...) from a connection attempt.
  if (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).syscall !== undefined) return 'connection';
  return undefined;
}

/** Counts the connections' failed attempts (`connection`) and their reconnects (a `ready` after the first). */
export function watchRedisConnections(clients: readonly RedisCommandClient[], observer: EngineObserver): void {
  for (const client of clients) {
    let wasReady = false;
    // A cluster client reports its connections' errors and readiness per node.
    const cluster = isCluster(client);
    client.on(cluster ? 'node-error' : 'error', (error: unknown) => {
      try {
        observer.error?.(classifyRedisError(error) ?? 'connection');
      } catch {
        // An observer must not break the client.
      }
    });
    client.on(cluster ? 'node-ready' : 'ready', () => {
      if (wasReady) {
        try {
          observer.reconnect?.();
        } catch {
          // as above
        }
      }
      wasReady = true;
    });
  }
}

/** The engine with its calls timed and failures counted; the broker's subscribed channels as the pub/sub gauge. */
export function observeRedisEngine(engine: Engine, broker: RedisBroker, observer: EngineObserver): Engine {
  observer.pubsubChannels?.(() => broker.subscribedChannels().length);
  return observeEngine(engine, observer, classifyRedisError);
}
