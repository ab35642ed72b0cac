/**
 * What the workers share through the primary: the engine (a MemoryCluster held by the primary,
 * one node handle per worker, served over IPC by engine/ipc) and the durable stores (one SQLite
 * database, opened and written by the primary only). The primary's side is `openHost`; the worker's is
 * `workerParts`.
 *
 * With `engine.type: redis` the primary holds no engine: each worker connects to Redis as a node
 * of its own (publications go from Redis to each worker, not through the primary); only the
 * stores still go through the primary.
 */
import type { Worker } from 'node:cluster';
import type { TidingsConfig } from '../config/schema.js';
import { serveEngine } from '../engine/ipc/engine-host.js';
import { ipcEngine } from '../engine/ipc/ipc-engine.js';
import { ipcStores, serveStores } from '../engine/ipc/ipc-stores.js';
import { LinkBacklogError, processLink } from '../engine/ipc/link.js';
import { MemoryCluster, memoryClusterOptions } from '../engine/memory/memory-cluster.js';
import type { Logger } from '../log.js';
import type { TidingsOptions } from '../options.js';
import type { NodeMetrics } from '../ops/metrics.js';
import { openStores } from '../store/open-stores.js';
import { deliveredElsewhere, hostWebhooks } from '../webhooks/assemble.js';

export interface EngineHost {
  /** Whether the primary serves the engine to the workers (memory engine); false: each worker builds its own (Redis). */
  readonly sharesEngine: boolean;
  /** Serves the engine and the stores to a worker just forked; the returned function closes its handle (its subscriptions, bus membership and limit slots go). */
  attach(worker: Worker): () => Promise<void>;
  /** After every worker is gone: the engine and the database. */
  close(): Promise<void>;
}

export function openHost(config: TidingsConfig, metrics: NodeMetrics, log: Logger): EngineHost {
  const sharesEngine = config.engine.type === 'memory';
  const cluster = sharesEngine ? new MemoryCluster({ ...memoryClusterOptions(config), nodeTtlMs: config.cluster.nodeTtl }) : undefined;
  // History lives here: the primary reports it (the workers' IPC brokers offer no historyStats).
  if (cluster) metrics.setHistorySource(() => cluster.streams.historyStats());
  // The one writer of the database: the workers' stores are proxies to these.
  const stores = openStores(config, {}, (writes, seconds) => metrics.storeCommit(writes, seconds));
  // Webhooks: the primary delivers the one outbox; the workers only enqueue into it (over IPC), which wakes its dispatcher.
  const webhooks = hostWebhooks({ config, outbox: stores.webhooks, holder: `primary-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, log, metrics });
  return {
    sharesEngine,
    attach(worker) {
      const link = processLink(worker, { maxBacklogBytes: config.cluster.maxIpcBacklog });
      // A worker that stopped reading (stuck event loop) is given up: its handle closes with the link, it is killed and restarted.
      link.onClose((err) => {
        if (!(err instanceof LinkBacklogError)) return;
        log.error({ pid: worker.process.pid, backlogBytes: err.backlogBytes }, 'a worker stopped reading its IPC channel (cluster.maxIpcBacklog): killing it');
        metrics.workerStuck();
        worker.process.kill('SIGKILL');
      });
      const served = cluster ? serveEngine(link, () => cluster.node()) : undefined;
      // status: the workers' /ready reports the primary's database (PostgreSQL may be away).
      serveStores(link, () => ({ notifications: stores.notifications, activity: stores.activity, audit: stores.audit, userChannels: stores.userChannels, readReceipts: stores.readReceipts, webhooks: webhooks.outbox, status: () => stores.status() }));
      return async () => {
        try {
          await served?.close();
        } catch (err) {
          log.warn({ err, pid: worker.process.pid }, 'closing the engine handle of a worker failed');
        }
        link.close();
      };
    },
    async close() {
      await cluster?.close();
      await webhooks.close();
      await stores.close();
    },
  };
}

/**
 * The worker's `createTidings` parts: the stores over IPC (so the worker opens no database) and,
 * unless `ownEngine` (the node then builds the configured one, Redis), the engine over IPC.
 */
export function workerParts(ownEngine = false): Partial<TidingsOptions> {
  const link = processLink(process);
  const stores = ipcStores(link);
  const parts: Partial<TidingsOptions> = { notificationStore: stores.notifications, activityStore: stores.activity, auditStore: stores.audit, userChannelsStore: stores.userChannels, readReceiptsStore: stores.readReceipts, webhookOutbox: deliveredElsewhere(stores.webhooks) };
  if (!ownEngine) parts.engine = ipcEngine(link);
  return parts;
}
