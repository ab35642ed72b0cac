/**
 * Durable storage of users' notification inboxes.
 *
 * Implementations: `SqliteNotificationStore` (embedded default). A store for the
 * Redis-engine deployment implements the same interface; every implementation
 * passes notification-store.contract.ts.
 */
import type { Notification, NotificationAction, NotificationPriority, NotificationType } from '@tidings/protocol';

/** One notification to store for each of `users`. */
export interface NewNotification {
  users: string[];
  type: NotificationType;
  title: string;
  message?: string;
  data?: unknown;
  actions?: NotificationAction[];
  priority: NotificationPriority;
  expiresAt?: number;
  /** A repeat of the same key (within the store's idempotency window) stores nothing and returns the first result. */
  idempotencyKey?: string;
}

export interface CreatedNotifications {
  /** One per recipient, in the order of `users`. */
  notifications: Notification[];
  /** True when the key matched an earlier request: nothing was stored now. */
  deduplicated: boolean;
}

export interface NotificationQuery {
  /** 0..100: 0 returns no notifications (only `nextCursor` is then absent). */
  limit: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  unread?: boolean;
}

export interface NotificationPage {
  /** Newest first. */
  notifications: Notification[];
  nextCursor?: string;
}

export interface NotificationCounts {
  unread: number;
  total: number;
  /** Unread per notification `type`: only types with at least one unread (a null-prototype object: any type is a plain key). */
  unreadByType: Record<string, number>;
}

/** `NotificationCounts` from per-type rows (`unread`, `total` of each type the user has). */
export function countsByType(rows: readonly { type: string; total: number; unread: number | null }[]): NotificationCounts {
  const unreadByType = Object.create(null) as Record<string, number>;
  let unread = 0;
  let total = 0;
  for (const r of rows) {
    total += r.total;
    if (r.unread) {
      unread += r.unread;
      unreadByType[r.type] = r.unread;
    }
  }
  return { unread, total, unreadByType };
}

/**
 * Guarantees every implementation keeps:
 * - **Durable on resolve**: when `create`, `markRead` or `remove` resolves, the change
 *   survives a crash of the process or of the machine.
 * - **Atomic**: a `create` for many users stores all of them or none, and with an
 *   idempotency key stores them at most once within the window.
 * - **Expired ones are gone**: a notification whose `expiresAt` has passed is never
 *   listed or counted, whether or not a prune has deleted it yet.
 * - **Retention**: a user keeps at most `maxPerUser` notifications; storing more
 *   deletes that user's oldest ones in the same step.
 * - Pages are newest first and stable: a cursor continues after the last item of the
 *   previous page even when newer notifications arrived since.
 */
export interface NotificationStore {
  create(input: NewNotification, now: number): Promise<CreatedNotifications>;
  list(user: string, query: NotificationQuery, now: number): Promise<NotificationPage>;
  counts(user: string, now: number): Promise<NotificationCounts>;
  /** Marks `ids` (or every notification, with 'all') of `user` read; resolves with the ids that changed. */
  markRead(user: string, ids: string[] | 'all', now: number): Promise<string[]>;
  /** Deletes notifications of `user`; resolves with the ids that existed. */
  remove(user: string, ids: string[]): Promise<string[]>;
  /** Deletes expired notifications, those past `maxAge`, and old idempotency keys. Resolves with the rows deleted. */
  prune(now: number): Promise<number>;
}

/** Thrown for a cursor the store did not make. */
export class BadCursorError extends Error {
  constructor(cursor: string) {
    super(`cursor: not a cursor this server made (${JSON.stringify(cursor.slice(0, 40))})`);
    this.name = 'BadCursorError';
  }
}
