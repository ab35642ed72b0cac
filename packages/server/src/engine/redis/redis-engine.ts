/**
 * The Redis engine: every part of the `Engine` bundle on one Redis (or Redis Cluster) that all
 * nodes of a deployment share, each node with its own connections.
 *
 * Connections of a node: one command connection every part runs its commands and scripts on,
 * the broker's subscriber connection and the bus's subscriber connection (each a `duplicate()`
 * of the first). They are created at once and connect in the background, so `createRedisEngine`
 * is synchronous (and `createTidings` with it); node-redis keeps reconnecting for as long as the
 * engine is open (see `redis-connection.ts`).
 *
 * While the command connection is not ready (not yet, or Redis went away), `status()` says
 * `Redis: <the last connection error>` and every command fails at once (no offline queue): a
 * publish is refused and the node tells the client to retry (`unavailable`, temporary). Nothing
 * waits in a queue meanwhile. The bus joins once Redis answers: its calls wait for that up to
 * `connectTimeoutMs`, then fail like a request nobody answered.
 *
 * Settings come from the node's configuration through `RedisEngineSettings` (engine/ imports no
 * config, like `memory-cluster.ts`).
 */
import { randomUUID } from 'node:crypto';
import type { Engine, EngineStatus } from '../engine.js';
import type { EngineObserver } from '../engine-observer.js';
import { BusRequestError, type BusHandler, type BusMessage, type NodeAnswer, type NodeBus, type NodeInfo } from '../node-bus.js';
import { Responsiveness } from '../responsiveness.js';
import { RedisBroker } from './redis-broker.js';
import { RedisNodeBus } from './redis-bus.js';
import { observeRedisEngine, watchRedisConnections } from './redis-observe.js';
import { closeRedis, connectUntilStopped, createCommandClient, isCluster, resolveRedisOptions, sendCommand, redisKeys, type RedisCommandClient, type RedisEngineOptions } from './redis-connection.js';
import { RedisSharedLimits } from './redis-limits.js';
import { RedisKeys } from './redis-keys.js';
import { RedisPresenceManager } from './redis-presence.js';
import { RedisProgressStore } from './redis-progress.js';
import { RedisTypingStore } from './redis-typing.js';
import { RedisUserStatusStore } from './redis-user-status.js';

/** The settings of a node's configuration (`TidingsConfig`) the Redis engine reads. */
export interface RedisEngineSettings {
  history: { metaTtl: number; maxBytes: number; maxStreams: number };
  idempotency: { maxKeys: number };
  presence: { ttl: number };
  status: { lastSeenTtl: number };
  /** `nodeTtl`: a node silent this long is gone (bus listing, its limit slots released). */
  cluster: { nodeTtl: number };
  /** This node's id (its limit slots are held under it). Default a random UUID. */
  nodeId?: string;
  /** Told of every part's round trips, failures, reconnects and pub/sub channels (metrics; see `redis-observe.ts`). */
  observer?: EngineObserver;
}

/** Pings in a row without an answer after which the command connection is replaced. */
const UNANSWERED_PINGS = 3;

/** Pause between attempts to join the bus while Redis does not answer. */
const BUS_RETRY_MS = 250;

/** `Redis: <why>` for a status reason. */
function reasonOf(error: Error | undefined): string {
  return `Redis: ${error?.message || 'not connected yet'}`;
}

/**
 * Opens the connections (in the background) and builds every part on them. `close()` closes
 * everything it opened; shared state in Redis stays for the other nodes.
 */
export function createRedisEngine(options: RedisEngineOptions, settings: RedisEngineSettings): Engine {
  const resolved = resolveRedisOptions(options);
  const keys = redisKeys(resolved);
  let lastError: Error | undefined;
  const report = (error: Error): void => {
    lastError = error;
    try {
      resolved.onError?.(error);
    } catch {
      // A failing reporter must not turn a connection error into a crash.
    }
  };
  // Redis Cluster (`cluster`): one cluster client (a connection per primary) instead of one connection, and its duplicates.
  const client = createCommandClient(resolved);
  const onError = (error: unknown) => report(error instanceof Error ? error : new Error(String(error)));
  client.on('error', onError);
  client.on(isCluster(client) ? 'connect' : 'ready', () => (lastError = undefined));
  if (isCluster(client)) client.on('node-error', onError);
  const subscriber = client.duplicate() as RedisCommandClient;
  subscriber.on('error', onError);
  if (isCluster(subscriber)) subscriber.on('node-error', onError);
  if (settings.observer) watchRedisConnections([client, subscriber], settings.observer);
  // connect() retries by the reconnect strategy until Redis answers or the client is closed.
  let stopped = false;
  const connecting = Promise.all([client, subscriber].map((c) => connectUntilStopped(c, resolved, () => stopped, report))).then(
    (connected) => connected.every(Boolean),
    () => false,
  );

  const nodeTtlMs = settings.cluster.nodeTtl;
  // Open connections are not enough: a paused Redis keeps them. A PING a second (routed to one
  // primary on a cluster), answered within the command timeout, or the node is not ready.
  const responsiveness = new Responsiveness(() => sendCommand(client, ['PING'], keys.prefix), {
    intervalMs: Math.min(1000, resolved.probeIntervalMs ?? 1000),
    timeoutMs: resolved.commandTimeoutMs ?? 2000,
    name: 'Redis',
    // A command connection that carries nothing any more (half-open TCP: a middlebox or a
    // partition dropped it without a FIN), or a new one whose handshake is never answered, is
    // never closed by node-redis, which waits on it forever. After UNANSWERED_PINGS pings in a
    // row without an answer it is replaced by a new one (a paused Redis answers the new one once
    // it runs again, like the old; a Redis that is down is tried again as the strategy would).
    onUnanswered: (inARow) => {
      if (inARow % UNANSWERED_PINGS !== 0 || stopped || isCluster(client) || !client.isOpen) return;
      report(new Error(`no answer to ${inARow} pings in a row: reconnecting the command connection`));
      client.destroy();
      client.connect().catch((err: unknown) => {
        if (!stopped) onError(err);
      });
    },
  });
  // Connected (again): ask at once, so readiness does not wait for the next tick.
  client.on(isCluster(client) ? 'connect' : 'ready', () => void responsiveness.check());
  const broker = new RedisBroker(client, subscriber, keys, {
    sharded: resolved.sharded,
    metaTtlMs: settings.history.metaTtl,
    maxBytes: settings.history.maxBytes,
    maxStreams: settings.history.maxStreams,
    idempotencyMaxKeys: settings.idempotency.maxKeys,
    ...(resolved.commandTimeoutMs !== undefined ? { commandTimeoutMs: resolved.commandTimeoutMs } : {}),
    ...(resolved.probeIntervalMs !== undefined ? { probeIntervalMs: resolved.probeIntervalMs } : {}),
    ...(resolved.probeTimeoutMs !== undefined ? { probeTimeoutMs: resolved.probeTimeoutMs } : {}),
    onError: report,
    onBadMessage: (channel, error) => {
      settings.observer?.error?.('bad_message');
      report(new Error(`dropped a message on ${channel}: ${error.message}`));
    },
  });
  const limits = new RedisSharedLimits({ client, prefix: keys.prefix, nodeId: settings.nodeId ?? randomUUID(), nodeTtlMs, onError: report });
  const bus = new JoiningBus(() => new RedisNodeBus({ client, prefix: keys.prefix, nodeTtlMs, onError: report }), connecting, resolved.connectTimeoutMs);
  let closing: Promise<void> | undefined;

  const engine: Engine = {
    broker,
    presence: new RedisPresenceManager(client, keys, { ttlMs: settings.presence.ttl }),
    userStatus: new RedisUserStatusStore(client, keys, { ttlMs: settings.presence.ttl, lastSeenTtlMs: settings.status.lastSeenTtl }),
    // Channel occupancy by node: the same store under its own prefix (`<prefix>:occ:{u:<channel>}:…`).
    occupancy: new RedisUserStatusStore(client, new RedisKeys(`${keys.prefix}:occ`), { ttlMs: settings.presence.ttl, lastSeenTtlMs: settings.presence.ttl }),
    typing: new RedisTypingStore(client, keys),
    progress: new RedisProgressStore(client, keys),
    bus,
    limits,
    status(): EngineStatus {
      // The broker's subscriber: its liveness probe may have replaced the one opened here.
      if (client.isReady && broker.subscriberReady) return responsiveness.status() ?? { ready: true };
      return { ready: false, reason: reasonOf(lastError) };
    },
    close(): Promise<void> {
      stopped = true;
      responsiveness.close();
      closing ??= (async () => {
        // The parts first (bus leaves, slots released, subscriptions ended) while the command connection still runs.
        await Promise.allSettled([bus.close(), limits.close(), broker.close()]);
        // QUIT waits for replies: a paused Redis would hold it, so it gets the command timeout, then the sockets go.
        const bound = new Promise<void>((resolve) => setTimeout(resolve, resolved.commandTimeoutMs ?? 2000).unref());
        await Promise.race([Promise.allSettled([closeRedis(client), closeRedis(subscriber)]), bound]);
        if (client.isOpen) client.destroy();
        if (subscriber.isOpen) subscriber.destroy();
      })();
      return closing;
    },
  };
  return settings.observer ? observeRedisEngine(engine, broker, settings.observer) : engine;
}

/**
 * The bus of a node whose Redis may not answer yet: `start` joins as soon as Redis answers (a
 * failed join is retried with a new bus), waiting for it at most `waitMs`; until it has joined,
 * each call waits up to `waitMs` for it, then fails as a request nobody answered (`timeout`).
 */
class JoiningBus implements NodeBus {
  private bus: NodeBus | undefined;
  private joined: Promise<NodeBus | undefined> | undefined;
  private closed = false;

  constructor(
    private readonly open: () => NodeBus,
    private readonly connecting: Promise<boolean>,
    private readonly waitMs: number,
  ) {}

  async start(nodeId: string, handler: BusHandler): Promise<void> {
    if (this.joined) throw new Error('NodeBus.start: called twice');
    this.joined = this.join(nodeId, handler);
    await this.within(this.joined);
  }

  private async join(nodeId: string, handler: BusHandler): Promise<NodeBus | undefined> {
    if (!(await this.connecting)) return undefined;
    while (!this.closed) {
      const bus = this.open();
      try {
        await bus.start(nodeId, handler);
        if (this.closed) {
          await bus.close();
          return undefined;
        }
        this.bus = bus;
        return bus;
      } catch {
        await bus.close().catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, BUS_RETRY_MS));
      }
    }
    return undefined;
  }

  /** `promise`, or undefined once `waitMs` passed. */
  private async within<T>(promise: Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.waitMs)));
    try {
      return await Promise.race([promise, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The joined bus, waiting for it up to `waitMs`. */
  private async ready(): Promise<NodeBus> {
    if (this.bus) return this.bus;
    if (this.closed) throw new BusRequestError('the bus is closed', 'closed');
    if (!this.joined) throw new Error('NodeBus: start() first');
    const bus = await this.within(this.joined);
    if (!bus) throw new BusRequestError(this.closed ? 'the bus is closed' : 'Redis: the node has not joined the bus yet', this.closed ? 'closed' : 'timeout');
    return bus;
  }

  async broadcast(message: BusMessage): Promise<void> {
    return (await this.ready()).broadcast(message);
  }

  async send(nodeId: string, message: BusMessage): Promise<void> {
    return (await this.ready()).send(nodeId, message);
  }

  async request(nodeId: string, message: BusMessage, timeoutMs: number): Promise<unknown> {
    return (await this.ready()).request(nodeId, message, timeoutMs);
  }

  async requestAll(message: BusMessage, timeoutMs: number): Promise<NodeAnswer[]> {
    return (await this.ready()).requestAll(message, timeoutMs);
  }

  async heartbeat(info: Omit<NodeInfo, 'lastHeartbeat'>): Promise<void> {
    return (await this.ready()).heartbeat(info);
  }

  async nodes(): Promise<NodeInfo[]> {
    return (await this.ready()).nodes();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.bus?.close();
  }
}
