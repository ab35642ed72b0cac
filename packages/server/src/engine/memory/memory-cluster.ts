/**
 * The memory engine: state shared by the nodes of one process, each node reaching it through
 * its own handle, exactly as nodes of several processes share Redis (or, with `tidings serve
 * --workers`, the primary's memory engine through the IPC engine).
 *
 * Shared: the channel streams (history, positions, budgets, idempotency keys: `MemoryStreams`),
 * presence, user status, typing and job progress. Per node (`node()`): a broker handle (its own
 * subscriptions and handler), a bus handle (`MemoryBusHub.node()`) and a limits handle (slots
 * tagged with the node, released when it closes).
 */
import type { Engine } from '../engine.js';
import type { HistoryPersistence } from './history-persistence.js';
import { MemoryBroker } from './memory-broker.js';
import { MemoryBusHub } from './memory-bus.js';
import { MemorySharedLimits } from './memory-limits.js';
import { MemoryPresenceManager } from './memory-presence.js';
import { MemoryProgressStore } from './memory-progress.js';
import { MemoryStreams, type MemoryStreamsOptions } from './memory-streams.js';
import { MemoryTypingStore } from './memory-typing.js';
import { MemoryUserStatusStore } from './memory-user-status.js';

export interface MemoryClusterOptions {
  /** History, stream and idempotency settings of the shared streams. */
  streams: MemoryStreamsOptions;
  /** Presence and user status entries live this long without a touch. */
  presenceTtlMs: number;
  /** How long an offline user's last-seen time is kept. */
  lastSeenTtlMs: number;
  /** A node whose last heartbeat is older than this drops out of the bus's node list (default 15 s). */
  nodeTtlMs?: number;
}

/** The settings of a node's configuration (`TidingsConfig`) the memory engine reads; engine/ imports no config. */
export interface MemoryEngineConfig {
  history: { metaTtl: number; maxBytes: number; maxStreams: number };
  idempotency: { maxKeys: number; maxBytes: number };
  presence: { ttl: number };
  status: { lastSeenTtl: number };
  /** `nodeTtl`: how long a node that stopped heartbeating stays listed on the bus. */
  cluster: { nodeTtl: number };
}

/** Memory engine settings from a node's configuration. */
export function memoryClusterOptions(config: MemoryEngineConfig): MemoryClusterOptions {
  const { metaTtl, maxBytes, maxStreams } = config.history;
  return {
    streams: { metaTtlMs: metaTtl, maxBytes, maxStreams, idempotency: { maxKeys: config.idempotency.maxKeys, maxBytes: config.idempotency.maxBytes } },
    presenceTtlMs: config.presence.ttl,
    lastSeenTtlMs: config.status.lastSeenTtl,
    nodeTtlMs: config.cluster.nodeTtl,
  };
}

export class MemoryCluster {
  readonly streams: MemoryStreams;
  readonly presence: MemoryPresenceManager;
  readonly userStatus: MemoryUserStatusStore;
  /** Channel occupancy by node (`Engine.occupancy`). */
  readonly occupancy: MemoryUserStatusStore;
  readonly typing: MemoryTypingStore;
  readonly progress: MemoryProgressStore;
  readonly bus: MemoryBusHub;
  readonly limits: MemorySharedLimits;
  private readonly nodes = new Set<Engine>();
  private closed = false;

  constructor(options: MemoryClusterOptions) {
    this.streams = new MemoryStreams(options.streams);
    this.presence = new MemoryPresenceManager({ ttlMs: options.presenceTtlMs });
    this.userStatus = new MemoryUserStatusStore({ ttlMs: options.presenceTtlMs, lastSeenTtlMs: options.lastSeenTtlMs });
    this.occupancy = new MemoryUserStatusStore({ ttlMs: options.presenceTtlMs, lastSeenTtlMs: options.presenceTtlMs });
    this.typing = new MemoryTypingStore();
    this.progress = new MemoryProgressStore();
    this.bus = new MemoryBusHub({ nodeTtlMs: options.nodeTtlMs ?? 15_000 });
    this.limits = new MemorySharedLimits();
  }

  /** A new node's handle: its own broker, bus and limits handles over the shared state. */
  node(): Engine {
    if (this.closed) throw new Error('MemoryCluster.node: the cluster is closed');
    const broker = new MemoryBroker(this.streams);
    const bus = this.bus.node();
    const limits = this.limits.node();
    const nodes = this.nodes;
    const engine: Engine = {
      broker,
      presence: this.presence,
      userStatus: this.userStatus,
      occupancy: this.occupancy,
      typing: this.typing,
      progress: this.progress,
      bus,
      limits,
      async close() {
        if (!nodes.delete(engine)) return;
        await Promise.all([broker.close(), bus.close(), limits.close()]);
      },
    };
    nodes.add(engine);
    return engine;
  }

  /** Closes every node's handle and the shared state (timers included). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.nodes].map((n) => n.close()));
    this.streams.close();
    await Promise.all([this.presence.close(), this.userStatus.close(), this.occupancy.close(), this.typing.close(), this.progress.close(), this.limits.close()]);
  }
}

/** The default engine of `createTidings`: a memory cluster of one node, closed with it; `persistence`: its durable history (`history.store: sqlite`). */
export function createMemoryEngine(config: MemoryEngineConfig, persistence?: HistoryPersistence): Engine {
  const options = memoryClusterOptions(config);
  const cluster = new MemoryCluster(persistence ? { ...options, streams: { ...options.streams, persistence } } : options);
  const node = cluster.node();
  return { ...node, close: () => cluster.close() };
}
