/**
 * The retention settings of the three durable stores as one flat record: what the store
 * contract suites (stores.contract.ts) hand each implementation, and what the IPC engine's test
 * peer (engine/ipc/ipc-test-peer.ts) receives as JSON over its link to open SQLite with.
 */
import type { SqliteStoresOptions } from './sqlite/sqlite-stores.js';

export interface StoreRetention {
  maxPerUser: number;
  notificationMaxAgeMs: number;
  idempotencyWindowMs: number;
  maxPerScope: number;
  activityMaxAgeMs: number;
  auditRetentionMs: number;
  auditMaxRows: number;
}

/** `openSqliteStores` options for the database at `path` with the retention `r`. */
export function sqliteStoresOptions(path: string, r: StoreRetention): SqliteStoresOptions {
  return {
    path,
    notifications: { maxPerUser: r.maxPerUser, maxAgeMs: r.notificationMaxAgeMs, idempotencyWindowMs: r.idempotencyWindowMs },
    activity: { maxPerScope: r.maxPerScope, maxAgeMs: r.activityMaxAgeMs },
    audit: { retentionMs: r.auditRetentionMs, maxRows: r.auditMaxRows },
  };
}
