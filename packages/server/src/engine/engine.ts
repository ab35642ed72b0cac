/**
 * The engine: everything a node shares with the other nodes of a deployment, as one bundle.
 * `cluster/` is the only caller of its parts (see docs/architecture.md).
 *
 * Implementations: the memory engine (`engine/memory/memory-cluster.ts`; nodes in one process
 * share one state through per-node handles), the IPC engine of `tidings serve --workers`
 * (`engine/ipc/`; the primary process holds a memory engine and each worker a handle to it)
 * and the Redis engine (`engine/redis/redis-engine.ts`; every node on the same Redis and prefix
 * shares its state, whatever machine it runs on).
 */
import type { Broker } from './broker.js';
import type { NodeBus } from './node-bus.js';
import type { PresenceManager } from './presence.js';
import type { ProgressStore } from './progress.js';
import type { SharedLimits } from './shared-limits.js';
import type { TypingStore } from './typing.js';
import type { UserStatusStore } from './user-status.js';

export interface EngineStatus {
  ready: boolean;
  /** Why not, when not ready. */
  reason?: string;
}

export interface Engine {
  readonly broker: Broker;
  readonly presence: PresenceManager;
  readonly userStatus: UserStatusStore;
  /**
   * Channel occupancy across the deployment (webhooks' `channel.occupied` / `channel.vacated`):
   * a second user status store keyed by channel, each node that holds subscribers of the channel
   * counted as one "connection" (its node id). Its `cameOnline` / `wentOffline` edges are the
   * channel's occupied / vacated, once across nodes; the grace period is the vacated delay; a dead
   * node's entries expire and `sweepExpired` reports the vacated once. Kept apart from user status.
   * Absent (an engine of the application's own): no occupancy webhooks.
   */
  readonly occupancy?: UserStatusStore;
  readonly typing: TypingStore;
  readonly progress: ProgressStore;
  readonly bus: NodeBus;
  readonly limits: SharedLimits;
  /**
   * Whether the engine can serve now, and why not (an external engine that does not answer);
   * `/api/v1/ready` reports it. Absent: always ready (the memory engine).
   */
  status?(): EngineStatus;
  /** Releases this node's handle (its subscriptions, bus membership, limit slots); shared state stays for other nodes. */
  close(): Promise<void>;
}
