/**
 * NotificationStore on PostgreSQL: the semantics of the SQLite store (sqlite-notification-store.ts)
 * for many nodes sharing one database.
 *
 * Exactly-once creation under retries from different nodes: the idempotency key is claimed in
 * `tidings_notification_keys` (primary key) in the same transaction as the notifications. A
 * second request with the key, on any node, either waits on the first's uncommitted row and then
 * reads its result, or finds it committed and reads it: one set of rows, the same answer to both.
 * A key older than the window is taken over as new, as in the SQLite store.
 */
import { randomBytes } from 'node:crypto';
import type { Notification, NotificationAction, NotificationPriority, NotificationType } from '@tidings/protocol';
import type { PoolClient } from 'pg';
import { countsByType, type CreatedNotifications, type NewNotification, type NotificationCounts, type NotificationPage, type NotificationQuery, type NotificationStore } from '../notification-store.js';
import { fromJson, page, parseCursor, toJson } from '../sqlite/rows.js';
import type { PostgresDatabase } from './database.js';
import { withSeq } from './rows.js';

export interface PgNotificationStoreOptions {
  /** Notifications kept per user; storing more deletes the oldest. */
  maxPerUser: number;
  /** Notifications older than this are deleted by `prune` (0: kept until retention or expiry). */
  maxAgeMs: number;
  /** How long an idempotency key is remembered. */
  idempotencyWindowMs: number;
}

/** A row as `pg` returns it: BIGINT columns come as decimal strings. */
interface Row {
  seq: string;
  id: string;
  user_id: string;
  type: string;
  title: string;
  message: string | null;
  data: string | null;
  actions: string | null;
  priority: string;
  created_at: string;
  expires_at: string | null;
  read_at: string | null;
}

function toNotification(row: Omit<Row, 'seq'>): Notification {
  const n: Notification = {
    id: row.id,
    user: row.user_id,
    type: row.type as NotificationType,
    title: row.title,
    priority: row.priority as NotificationPriority,
    createdAt: Number(row.created_at),
    read: row.read_at !== null,
  };
  if (row.message !== null) n.message = row.message;
  if (row.data !== null) n.data = fromJson(row.data);
  if (row.actions !== null) n.actions = fromJson(row.actions) as NotificationAction[];
  if (row.expires_at !== null) n.expiresAt = Number(row.expires_at);
  if (row.read_at !== null) n.readAt = Number(row.read_at);
  return n;
}

/** `n_` and 16 URL-safe random characters, as the SQLite store makes them. */
function newId(): string {
  return `n_${randomBytes(12).toString('base64url')}`;
}

const LIVE = `(expires_at IS NULL OR expires_at > $3)`;

export class PgNotificationStore implements NotificationStore {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly options: PgNotificationStoreOptions,
  ) {}

  create(input: NewNotification, now: number): Promise<CreatedNotifications> {
    return this.db.transaction(async (client) => {
      const key = input.idempotencyKey;
      if (key !== undefined) {
        const seen = await this.claimKey(client, key, now);
        if (seen) return { notifications: seen, deduplicated: true };
      }
      const notifications = await this.insert(client, input, now);
      if (key !== undefined) await client.query('UPDATE tidings_notification_keys SET ids = $2 WHERE key = $1', [key, JSON.stringify(notifications)]);
      return { notifications, deduplicated: false };
    });
  }

  /**
   * Claims `key` for this transaction (new, or expired and taken over): resolves undefined.
   * Held by another request: waits for it to commit (the unique index makes the INSERT wait)
   * and resolves with its notifications.
   */
  private async claimKey(client: PoolClient, key: string, now: number): Promise<Notification[] | undefined> {
    // A claimed key that a prune deletes before we read it is claimed again: bounded, a prune is rare.
    for (let attempt = 0; attempt < 5; attempt++) {
      const claimed = await client.query(
        `INSERT INTO tidings_notification_keys (key, created_at, ids) VALUES ($1, $2, NULL)
         ON CONFLICT (key) DO UPDATE SET created_at = EXCLUDED.created_at, ids = NULL
         WHERE tidings_notification_keys.created_at <= $3
         RETURNING key`,
        [key, now, now - this.options.idempotencyWindowMs],
      );
      if (claimed.rowCount === 1) return undefined;
      // READ COMMITTED: this statement sees the other request's committed row.
      const { rows } = await client.query<{ ids: string | null }>('SELECT ids FROM tidings_notification_keys WHERE key = $1', [key]);
      const ids = rows[0]?.ids;
      if (ids != null) return JSON.parse(ids) as Notification[];
    }
    throw new Error(`notification idempotency key ${JSON.stringify(key.slice(0, 40))}: could not be claimed or read`);
  }

  /** One row per user (in `users` order), then each user's inbox trimmed to `maxPerUser`. */
  private async insert(client: PoolClient, input: NewNotification, now: number): Promise<Notification[]> {
    const ids = input.users.map(() => newId());
    const { rows } = await client.query<Row>(
      `INSERT INTO tidings_notifications (id, user_id, type, title, message, data, actions, priority, created_at, expires_at)
       SELECT u.id, u.user_id, $3, $4, $5, $6, $7, $8, $9, $10
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(id, user_id, n) ORDER BY u.n
       RETURNING *`,
      [ids, input.users, input.type, input.title, input.message ?? null, toJson(input.data), toJson(input.actions), input.priority, now, input.expiresAt ?? null],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    await client.query(
      `DELETE FROM tidings_notifications n
       USING (SELECT u.user_id, (SELECT x.seq FROM tidings_notifications x WHERE x.user_id = u.user_id ORDER BY x.seq DESC OFFSET $2 LIMIT 1) AS edge
              FROM (SELECT DISTINCT unnest($1::text[]) AS user_id) u) e
       WHERE n.user_id = e.user_id AND n.seq <= e.edge`,
      [input.users, this.options.maxPerUser],
    );
    return ids.map((id) => toNotification(byId.get(id)!));
  }

  async list(user: string, query: NotificationQuery, now: number): Promise<NotificationPage> {
    const before = parseCursor(query.cursor);
    if (query.limit === 0) return { notifications: [] };
    const unread = query.unread ? 'AND read_at IS NULL' : '';
    const rows = await this.db.query<Row>(
      `SELECT * FROM tidings_notifications WHERE user_id = $1 AND seq < $2 AND ${LIVE} ${unread} ORDER BY seq DESC LIMIT $4`,
      [user, before, now, query.limit + 1],
    );
    const { items, nextCursor } = page(rows.map(withSeq), query.limit, toNotification);
    return nextCursor === undefined ? { notifications: items } : { notifications: items, nextCursor };
  }

  async counts(user: string, now: number): Promise<NotificationCounts> {
    const rows = await this.db.query<{ type: string; total: number; unread: number }>(
      `SELECT type, count(*)::int AS total, (count(*) FILTER (WHERE read_at IS NULL))::int AS unread
       FROM tidings_notifications WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > $2) GROUP BY type`,
      [user, now],
    );
    return countsByType(rows);
  }

  markRead(user: string, ids: string[] | 'all', now: number): Promise<string[]> {
    return this.db.transaction(async (client) => {
      const only = ids === 'all' ? '' : 'AND id = ANY($3::text[])';
      const { rows } = await client.query<{ id: string }>(
        `UPDATE tidings_notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ${only} RETURNING id`,
        ids === 'all' ? [user, now] : [user, now, ids],
      );
      return rows.map((r) => r.id);
    });
  }

  remove(user: string, ids: string[]): Promise<string[]> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<{ id: string }>('DELETE FROM tidings_notifications WHERE user_id = $1 AND id = ANY($2::text[]) RETURNING id', [user, ids]);
      return rows.map((r) => r.id);
    });
  }

  prune(now: number): Promise<number> {
    return this.db.transaction(async (client) => {
      let n = (await client.query('DELETE FROM tidings_notifications WHERE expires_at IS NOT NULL AND expires_at <= $1', [now])).rowCount ?? 0;
      if (this.options.maxAgeMs > 0) n += (await client.query('DELETE FROM tidings_notifications WHERE created_at < $1', [now - this.options.maxAgeMs])).rowCount ?? 0;
      n += (await client.query('DELETE FROM tidings_notification_keys WHERE created_at <= $1', [now - this.options.idempotencyWindowMs])).rowCount ?? 0;
      return n;
    });
  }
}
