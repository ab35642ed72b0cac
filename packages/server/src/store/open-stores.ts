/**
 * The durable stores of a node: the ones given in `createTidings` options, with SQLite (at
 * `store.path`, or `<dataDir>/tidings.db`) for those not given. The database is opened only
 * when at least one store is missing.
 */
import { join } from 'node:path';
import type { TidingsConfig } from '../config/schema.js';
import type { ActivityStore } from './activity-store.js';
import type { AuditStore } from './audit-store.js';
import type { NotificationStore } from './notification-store.js';
import type { SqliteDatabase } from './sqlite/database.js';
import { openSqliteStores } from './sqlite/sqlite-stores.js';

export interface DurableStores {
  notifications: NotificationStore;
  activity: ActivityStore;
  audit: AuditStore;
  /** The embedded database, when it was opened here (the node closes it). */
  database: SqliteDatabase | undefined;
}

export interface GivenStores {
  notificationStore?: NotificationStore | undefined;
  activityStore?: ActivityStore | undefined;
  auditStore?: AuditStore | undefined;
}

/** `onCommit` sees each group commit of the database (for the store metrics). */
export function openStores(config: TidingsConfig, given: GivenStores, onCommit: (writes: number, seconds: number) => void): DurableStores {
  const { notificationStore: notifications, activityStore: activity, auditStore: audit } = given;
  if (notifications && activity && audit) return { notifications, activity, audit, database: undefined };
  const sqlite = openSqliteStores({
    path: config.store.path || join(config.dataDir, 'tidings.db'),
    onCommit: ({ writes, ms }) => onCommit(writes, ms / 1000),
    notifications: { maxPerUser: config.notifications.maxPerUser, maxAgeMs: config.notifications.maxAge, idempotencyWindowMs: config.notifications.idempotencyWindow },
    activity: { maxPerScope: config.activity.maxPerScope, maxAgeMs: config.activity.maxAge },
    audit: { retentionMs: config.audit.retention, maxRows: config.audit.maxRows },
  });
  return {
    notifications: notifications ?? sqlite.notifications,
    activity: activity ?? sqlite.activity,
    audit: audit ?? sqlite.audit,
    database: sqlite.database,
  };
}
