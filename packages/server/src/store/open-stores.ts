/**
 * The durable stores of a node: the ones given in `createTidings` options, and for those not
 * given the configured database: SQLite (`store.type: sqlite`, at `store.path`, or
 * `<dataDir>/tidings.db`) or PostgreSQL (`store.type: postgres`, at `store.url`). The database
 * is opened only when at least one store is missing.
 *
 * Opening is synchronous either way: PostgreSQL connects on first use (store/postgres/database.ts),
 * with a bounded wait, and `status()` tells whether it answers.
 *
 * A given store may offer `status()` too (`StatusSource`): the IPC stores of a worker of
 * `--workers` do, answering what the primary's database says. Given stores without one count as
 * always ready.
 */
import { join } from 'node:path';
import type { TidingsConfig } from '../config/schema.js';
import type { ActivityStore } from './activity-store.js';
import type { AuditStore } from './audit-store.js';
import type { NotificationStore } from './notification-store.js';
import type { UserChannelsStore } from './user-channels-store.js';
import type { ReadReceiptsStore } from './read-receipts-store.js';
import type { WebhookOutbox } from './webhook-outbox.js';
import type { StoreStatus } from './postgres/database.js';
import { openPostgresStores } from './postgres/postgres-stores.js';
import type { SqliteDatabase } from './sqlite/database.js';
import { openSqliteStores } from './sqlite/sqlite-stores.js';

export type { StoreStatus } from './postgres/database.js';

export interface DurableStores {
  notifications: NotificationStore;
  activity: ActivityStore;
  audit: AuditStore;
  /** Users' sticky server-side subscriptions (`POST /users/:id/subscriptions`). */
  userChannels: UserChannelsStore;
  /** Users' read receipts per channel (`read`, `read_receipts`, `unread`). */
  readReceipts: ReadReceiptsStore;
  /** The durable outbox of webhooks (webhooks/ writes and delivers it; `/webhooks/*` routes read and replay it). */
  webhooks: WebhookOutbox;
  /** The embedded database, when it was opened here (the node closes it). */
  database: SqliteDatabase | undefined;
  /** Whether the stores can be used now, and why not (for `/ready`): the database opened here (always ready for SQLite), and each given store that offers `status()`. */
  status(): StoreStatus;
  /** Closes the database opened here, if any: SQLite commits what is queued, PostgreSQL's pool waits for writes in flight. */
  close(): Promise<void>;
}

/** What a given store may also offer: whether it can be used now (the first one not ready decides `DurableStores.status()`). */
export interface StatusSource {
  status(): StoreStatus;
}

export interface GivenStores {
  notificationStore?: NotificationStore | undefined;
  activityStore?: ActivityStore | undefined;
  auditStore?: AuditStore | undefined;
  userChannelsStore?: UserChannelsStore | undefined;
  readReceiptsStore?: ReadReceiptsStore | undefined;
  webhookOutbox?: WebhookOutbox | undefined;
}

/** `onCommit` sees each commit of the database (for the store metrics). */
export function openStores(config: TidingsConfig, given: GivenStores, onCommit: (writes: number, seconds: number) => void): DurableStores {
  const { notificationStore: notifications, activityStore: activity, auditStore: audit } = given;
  const userChannels = given.userChannelsStore;
  const webhooks = given.webhookOutbox;
  const readReceipts = given.readReceiptsStore;
  const givenStatus = statusOf([notifications, activity, audit, userChannels, readReceipts, webhooks]);
  if (notifications && activity && audit && userChannels && readReceipts && webhooks) return { notifications, activity, audit, userChannels, readReceipts, webhooks, database: undefined, status: givenStatus, close: async () => {} };
  const retention = {
    notifications: { maxPerUser: config.notifications.maxPerUser, maxAgeMs: config.notifications.maxAge, idempotencyWindowMs: config.notifications.idempotencyWindow },
    activity: { maxPerScope: config.activity.maxPerScope, maxAgeMs: config.activity.maxAge },
    audit: { retentionMs: config.audit.retention, maxRows: config.audit.maxRows },
  };
  const commit = ({ writes, ms }: { writes: number; ms: number }) => onCommit(writes, ms / 1000);
  if (config.store.type === 'postgres') {
    const pg = openPostgresStores({ url: config.store.url, poolSize: config.store.poolSize, connectTimeoutMs: config.store.connectTimeout, onCommit: commit, ...retention });
    return {
      notifications: notifications ?? pg.notifications,
      activity: activity ?? pg.activity,
      audit: audit ?? pg.audit,
      userChannels: userChannels ?? pg.userChannels,
      readReceipts: readReceipts ?? pg.readReceipts,
      webhooks: webhooks ?? pg.webhooks,
      database: undefined,
      status: () => {
        const own = pg.database.status();
        return own.ready ? givenStatus() : own;
      },
      close: () => pg.database.close(),
    };
  }
  const sqlite = openSqliteStores({ path: config.store.path || join(config.dataDir, 'tidings.db'), onCommit: commit, ...retention });
  return {
    notifications: notifications ?? sqlite.notifications,
    activity: activity ?? sqlite.activity,
    audit: audit ?? sqlite.audit,
    userChannels: userChannels ?? sqlite.userChannels,
    readReceipts: readReceipts ?? sqlite.readReceipts,
    webhooks: webhooks ?? sqlite.webhooks,
    database: sqlite.database,
    status: givenStatus,
    close: async () => sqlite.database.close(),
  };
}

/** The combined status of the given stores that offer one (each distinct `status` asked once): the first not ready, else ready. */
function statusOf(stores: readonly unknown[]): () => StoreStatus {
  const sources = new Map<() => StoreStatus, () => StoreStatus>();
  for (const store of stores) {
    const status = (store as Partial<StatusSource> | undefined)?.status;
    if (typeof status === 'function' && !sources.has(status)) sources.set(status, status.bind(store));
  }
  return () => {
    for (const status of sources.values()) {
      const s = status();
      if (!s.ready) return s;
    }
    return { ready: true };
  };
}
