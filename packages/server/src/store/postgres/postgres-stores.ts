/**
 * Opens the PostgreSQL database and the three stores on it: what store/open-stores.ts opens for
 * `store: { type: postgres, url }`. Synchronous: nothing connects until the first operation
 * (the migrations start in the background at once).
 */
import { PostgresDatabase, type PostgresDatabaseOptions } from './database.js';
import { PgActivityStore, type PgActivityStoreOptions } from './pg-activity-store.js';
import { PgAuditStore, type PgAuditStoreOptions } from './pg-audit-store.js';
import { PgNotificationStore, type PgNotificationStoreOptions } from './pg-notification-store.js';
import { PgWebhookOutbox } from './pg-webhook-outbox.js';
import { PgUserChannelsStore } from './pg-user-channels-store.js';
import { PgReadReceiptsStore } from './pg-read-receipts-store.js';

export interface PostgresStoresOptions extends PostgresDatabaseOptions {
  notifications: PgNotificationStoreOptions;
  activity: PgActivityStoreOptions;
  audit: PgAuditStoreOptions;
}

export interface PostgresStores {
  database: PostgresDatabase;
  notifications: PgNotificationStore;
  activity: PgActivityStore;
  audit: PgAuditStore;
  webhooks: PgWebhookOutbox;
  userChannels: PgUserChannelsStore;
  readReceipts: PgReadReceiptsStore;
}

export function openPostgresStores(options: PostgresStoresOptions): PostgresStores {
  const database = new PostgresDatabase(options);
  return {
    database,
    notifications: new PgNotificationStore(database, options.notifications),
    activity: new PgActivityStore(database, options.activity),
    audit: new PgAuditStore(database, options.audit),
    webhooks: new PgWebhookOutbox(database),
    userChannels: new PgUserChannelsStore(database),
    readReceipts: new PgReadReceiptsStore(database),
  };
}
