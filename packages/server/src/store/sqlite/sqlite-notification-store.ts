/** NotificationStore on the embedded SQLite database. */
import { randomBytes } from 'node:crypto';
import type { Notification, NotificationAction, NotificationPriority, NotificationType } from '@tidings/protocol';
import { countsByType, type CreatedNotifications, type NewNotification, type NotificationCounts, type NotificationPage, type NotificationQuery, type NotificationStore } from '../notification-store.js';
import type { SqliteDatabase } from './database.js';
import { fromJson, page, parseCursor, toJson } from './rows.js';

export interface SqliteNotificationStoreOptions {
  /** Notifications kept per user; storing more deletes the oldest. */
  maxPerUser: number;
  /** Notifications older than this are deleted by `prune` (0: kept until retention or expiry). */
  maxAgeMs: number;
  /** How long an idempotency key is remembered. */
  idempotencyWindowMs: number;
}

interface Row {
  seq: number;
  id: string;
  user: string;
  type: string;
  title: string;
  message: string | null;
  data: string | null;
  actions: string | null;
  priority: string;
  created_at: number;
  expires_at: number | null;
  read_at: number | null;
}

function toNotification(row: Row): Notification {
  const n: Notification = {
    id: row.id,
    user: row.user,
    type: row.type as NotificationType,
    title: row.title,
    priority: row.priority as NotificationPriority,
    createdAt: row.created_at,
    read: row.read_at !== null,
  };
  if (row.message !== null) n.message = row.message;
  if (row.data !== null) n.data = fromJson(row.data);
  if (row.actions !== null) n.actions = fromJson(row.actions) as NotificationAction[];
  if (row.expires_at !== null) n.expiresAt = row.expires_at;
  if (row.read_at !== null) n.readAt = row.read_at;
  return n;
}

/** `n_` and 16 URL-safe random characters: unguessable, so an id says nothing about other users' inboxes. */
function newId(): string {
  return `n_${randomBytes(12).toString('base64url')}`;
}

export class SqliteNotificationStore implements NotificationStore {
  private readonly insert;
  private readonly trim;
  private readonly getKey;
  private readonly putKey;
  private readonly listAll;
  private readonly listUnread;
  private readonly countStmt;
  private readonly readIds;
  private readonly readAll;
  private readonly deleteIds;
  private readonly pruneExpired;
  private readonly pruneOld;
  private readonly pruneKeys;

  constructor(
    private readonly database: SqliteDatabase,
    private readonly options: SqliteNotificationStoreOptions,
  ) {
    const db = database.db;
    this.insert = db.prepare<unknown[], Row>(
      `INSERT INTO notifications (id, user, type, title, message, data, actions, priority, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    );
    // Deletes a user's rows beyond the newest `maxPerUser`.
    this.trim = db.prepare(
      `DELETE FROM notifications WHERE user = @user AND seq <= (SELECT seq FROM notifications WHERE user = @user ORDER BY seq DESC LIMIT 1 OFFSET @keep)`,
    );
    this.getKey = db.prepare<[string, number], { result: string }>(`SELECT ids AS result FROM notification_keys WHERE key = ? AND created_at > ?`);
    this.putKey = db.prepare(`INSERT OR REPLACE INTO notification_keys (key, created_at, ids) VALUES (?, ?, ?)`);
    const live = `user = ? AND seq < ? AND (expires_at IS NULL OR expires_at > ?)`;
    this.listAll = db.prepare<unknown[], Row>(`SELECT * FROM notifications WHERE ${live} ORDER BY seq DESC LIMIT ?`);
    this.listUnread = db.prepare<unknown[], Row>(`SELECT * FROM notifications WHERE ${live} AND read_at IS NULL ORDER BY seq DESC LIMIT ?`);
    this.countStmt = db.prepare<[string, number], { type: string; total: number; unread: number | null }>(
      `SELECT type, count(*) AS total, sum(read_at IS NULL) AS unread FROM notifications WHERE user = ? AND (expires_at IS NULL OR expires_at > ?) GROUP BY type`,
    );
    this.readIds = db.prepare<unknown[], { id: string }>(
      `UPDATE notifications SET read_at = @now WHERE user = @user AND read_at IS NULL AND (expires_at IS NULL OR expires_at > @now)
       AND id IN (SELECT value FROM json_each(@ids)) RETURNING id`,
    );
    this.readAll = db.prepare<unknown[], { id: string }>(
      `UPDATE notifications SET read_at = @now WHERE user = @user AND read_at IS NULL AND (expires_at IS NULL OR expires_at > @now) RETURNING id`,
    );
    this.deleteIds = db.prepare<unknown[], { id: string }>(`DELETE FROM notifications WHERE user = ? AND id IN (SELECT value FROM json_each(?)) RETURNING id`);
    this.pruneExpired = db.prepare(`DELETE FROM notifications WHERE expires_at IS NOT NULL AND expires_at <= ?`);
    this.pruneOld = db.prepare(`DELETE FROM notifications WHERE created_at < ?`);
    this.pruneKeys = db.prepare(`DELETE FROM notification_keys WHERE created_at <= ?`);
  }

  create(input: NewNotification, now: number): Promise<CreatedNotifications> {
    return this.database.committer.run(() => {
      const key = input.idempotencyKey;
      if (key !== undefined) {
        const seen = this.getKey.get(key, now - this.options.idempotencyWindowMs);
        if (seen) return { notifications: JSON.parse(seen.result) as Notification[], deduplicated: true };
      }
      const notifications: Notification[] = [];
      for (const user of input.users) {
        const row = this.insert.get(
          newId(),
          user,
          input.type,
          input.title,
          input.message ?? null,
          toJson(input.data),
          toJson(input.actions),
          input.priority,
          now,
          input.expiresAt ?? null,
        )!;
        notifications.push(toNotification(row));
        this.trim.run({ user, keep: this.options.maxPerUser });
      }
      if (key !== undefined) this.putKey.run(key, now, JSON.stringify(notifications));
      return { notifications, deduplicated: false };
    });
  }

  async list(user: string, query: NotificationQuery, now: number): Promise<NotificationPage> {
    const before = parseCursor(query.cursor);
    if (query.limit === 0) return { notifications: [] };
    const stmt = query.unread ? this.listUnread : this.listAll;
    const { items, nextCursor } = page(stmt.all(user, before, now, query.limit + 1), query.limit, toNotification);
    return nextCursor === undefined ? { notifications: items } : { notifications: items, nextCursor };
  }

  async counts(user: string, now: number): Promise<NotificationCounts> {
    return countsByType(this.countStmt.all(user, now));
  }

  markRead(user: string, ids: string[] | 'all', now: number): Promise<string[]> {
    return this.database.committer.run(() => {
      const rows = ids === 'all' ? this.readAll.all({ now, user }) : this.readIds.all({ now, user, ids: JSON.stringify(ids) });
      return rows.map((r) => r.id);
    });
  }

  remove(user: string, ids: string[]): Promise<string[]> {
    return this.database.committer.run(() => this.deleteIds.all(user, JSON.stringify(ids)).map((r) => r.id));
  }

  prune(now: number): Promise<number> {
    return this.database.committer.run(() => {
      let n = this.pruneExpired.run(now).changes;
      if (this.options.maxAgeMs > 0) n += this.pruneOld.run(now - this.options.maxAgeMs).changes;
      n += this.pruneKeys.run(now - this.options.idempotencyWindowMs).changes;
      return n;
    });
  }
}
