/**
 * Opens the embedded database and the stores on it (notifications, activity, audit, the webhook outbox): what store/open-stores.ts opens for the
 * default deployment (memory engine + SQLite file).
 */
import { SqliteDatabase, type SqliteDatabaseOptions } from './database.js';
import { SqliteActivityStore, type SqliteActivityStoreOptions } from './sqlite-activity-store.js';
import { SqliteAuditStore, type SqliteAuditStoreOptions } from './sqlite-audit-store.js';
import { SqliteNotificationStore, type SqliteNotificationStoreOptions } from './sqlite-notification-store.js';
import { SqliteWebhookOutbox } from './sqlite-webhook-outbox.js';
import { SqliteUserChannelsStore } from './sqlite-user-channels-store.js';
import { SqliteReadReceiptsStore } from './sqlite-read-receipts-store.js';

export interface SqliteStoresOptions extends SqliteDatabaseOptions {
  notifications: SqliteNotificationStoreOptions;
  activity: SqliteActivityStoreOptions;
  audit: SqliteAuditStoreOptions;
}

export interface SqliteStores {
  database: SqliteDatabase;
  notifications: SqliteNotificationStore;
  activity: SqliteActivityStore;
  audit: SqliteAuditStore;
  webhooks: SqliteWebhookOutbox;
  userChannels: SqliteUserChannelsStore;
  readReceipts: SqliteReadReceiptsStore;
}

export function openSqliteStores(options: SqliteStoresOptions): SqliteStores {
  const database = new SqliteDatabase(options);
  return {
    database,
    notifications: new SqliteNotificationStore(database, options.notifications),
    activity: new SqliteActivityStore(database, options.activity),
    audit: new SqliteAuditStore(database, options.audit),
    webhooks: new SqliteWebhookOutbox(database),
    userChannels: new SqliteUserChannelsStore(database),
    readReceipts: new SqliteReadReceiptsStore(database),
  };
}
