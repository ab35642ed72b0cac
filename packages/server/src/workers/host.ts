/**
 * What the workers share through the primary: the engine (a MemoryCluster held by the primary,
 * one node handle per worker, served over IPC by engine/ipc) and the durable stores (one SQLite
 * database, opened and written by the primary only). The primary's side is `openHost`; the worker's is
 * `workerParts`.
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

export interface EngineHost {
  /** Serves the engine and the stores to a worker just forked; the returned function closes its handle (its subscriptions, bus membership and limit slots go). */
  attach(worker: Worker): () => Promise<void>;
  /** After every worker is gone: the engine and the database. */
  close(): Promise<void>;
}

export function openHost(config: TidingsConfig, metrics: NodeMetrics, log: Logger): EngineHost {
  const cluster = new MemoryCluster({ ...memoryClusterOptions(config), nodeTtlMs: config.cluster.nodeTtl });
  // History lives here: the primary reports it (the workers' IPC brokers offer no historyStats).
  metrics.setHistorySource(() => cluster.streams.historyStats());
  // The one writer of the database: the workers' stores are proxies to these.
  const stores = openStores(config, {}, (writes, seconds) => metrics.storeCommit(writes, seconds));
  return {
    attach(worker) {
      const link = processLink(worker, { maxBacklogBytes: config.cluster.maxIpcBacklog });
      // A worker that stopped reading (stuck event loop) is given up: its handle closes with the link, it is killed and restarted.
      link.onClose((err) => {
        if (!(err instanceof LinkBacklogError)) return;
        log.error({ pid: worker.process.pid, backlogBytes: err.backlogBytes }, 'a worker stopped reading its IPC channel (cluster.maxIpcBacklog): killing it');
        metrics.workerStuck();
        worker.process.kill('SIGKILL');
      });
      const served = serveEngine(link, () => cluster.node());
      serveStores(link, () => ({ notifications: stores.notifications, activity: stores.activity, audit: stores.audit }));
      return async () => {
        try {
          await served.close();
        } catch (err) {
          log.warn({ err, pid: worker.process.pid }, 'closing the engine handle of a worker failed');
        }
        link.close();
      };
    },
    async close() {
      await cluster.close();
      await stores.close();
    },
  };
}

/** The worker's `createTidings` parts: the engine and the stores over IPC (so the worker opens no database). */
export function workerParts(): Partial<TidingsOptions> {
  const link = processLink(process);
  const stores = ipcStores(link);
  return { engine: ipcEngine(link), notificationStore: stores.notifications, activityStore: stores.activity, auditStore: stores.audit };
}
