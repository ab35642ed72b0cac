/**
 * The user's notification inbox (`client.notifications`): a live unread count and the
 * newest notifications, kept in step with the server and with the user's other devices.
 *
 * - Loads the unread count and the first page when made (or once connected), and again
 *   after every reconnect, so what arrived while offline shows up.
 * - `notification` pushes add to the list (deduplicated by id); `notification_update`
 *   pushes (a read or a delete here or on another device) change it and the count.
 */
import type {
  Notification,
  NotificationCountResult,
  NotificationDeleteResult,
  NotificationPush,
  NotificationReadResult,
  NotificationsResult,
  NotificationUpdatePush,
} from '@tidings/protocol';
import { Emitter } from './emitter.js';
import type { TidingsError } from './errors.js';
import type { Call, ClientLink } from './link.js';

/** A change of read state or a delete, here or on another device of the user. */
export type NotificationUpdate = Omit<NotificationUpdatePush, 'type'>;

export interface NotificationsEvents {
  /** A new notification arrived live, with the unread count. */
  notification: Omit<NotificationPush, 'type'>;
  /** Notifications were read or deleted (by this device or another one). */
  update: NotificationUpdate;
  /** The unread count changed. */
  unread: { unread: number };
  /** Anything the getters return changed (list, count, `loading`, `error`). */
  change: undefined;
  /** Loading the inbox failed. */
  error: TidingsError;
}

/** Options of `notifications.list()`. */
export interface NotificationListOptions {
  /** 0..100, default 20. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Only unread ones. */
  unread?: boolean;
}

/** Notifications loaded per page. */
const PAGE = 20;

/**
 * The current user's notification inbox. Get it with `client.notifications`.
 *
 * @example
 * ```ts
 * const inbox = client.notifications;
 * inbox.on('unread', ({ unread }) => setBadge(unread));
 * inbox.on('notification', ({ notification }) => toast(notification.title));
 * await inbox.markRead(inbox.items[0]!.id);
 * ```
 */
export class Notifications extends Emitter<NotificationsEvents> {
  readonly #call: Call;
  #items: readonly Notification[] = [];
  #unread = 0;
  #next: string | undefined;
  #loading = true;
  #error: TidingsError | null = null;
  #sync = 0;

  /** @internal Made by `client.notifications`. */
  constructor(client: ClientLink, call: Call) {
    super();
    this.#call = call;
    client.on('connected', () => void this.refresh().catch(() => {}));
    client.on('notification', ({ notification, unread }) => {
      const fresh = !this.#items.some((n) => n.id === notification.id);
      if (fresh) this.#items = [notification, ...this.#items];
      this.#setUnread(unread);
      if (fresh) this.emit('notification', { notification, unread });
      this.emit('change', undefined);
    });
    client.on('notification_update', (push) => this.#apply(push));
    if (client.state === 'connected') void this.refresh().catch(() => {});
  }

  /** The loaded notifications, newest first: the first page, later pages from `loadMore()`, and live ones. The same array until something changes. */
  get items(): readonly Notification[] {
    return this.#items;
  }

  /** Unread notifications of the user (all of them, not only the loaded ones). */
  get unread(): number {
    return this.#unread;
  }

  /** True until the first page has loaded. */
  get loading(): boolean {
    return this.#loading;
  }

  /** The last failure to load, cleared by the next successful load. */
  get error(): TidingsError | null {
    return this.#error;
  }

  /** Whether older notifications than the loaded ones exist. */
  get hasMore(): boolean {
    return this.#next !== undefined;
  }

  /**
   * Reads one page from the server, newest first, without changing `items`.
   *
   * @example
   * ```ts
   * const { notifications, nextCursor } = await client.notifications.list({ limit: 50, unread: true });
   * ```
   */
  list(options: NotificationListOptions = {}): Promise<NotificationsResult> {
    return this.#call({ type: 'notifications', ...options }) as Promise<NotificationsResult>;
  }

  /**
   * Reads the unread and total counts (and updates `unread`).
   *
   * @example
   * ```ts
   * const { unread, total } = await client.notifications.count();
   * ```
   */
  async count(): Promise<NotificationCountResult> {
    const result = (await this.#call({ type: 'notification_count' })) as NotificationCountResult;
    this.#setUnread(result.unread);
    this.emit('change', undefined);
    return result;
  }

  /**
   * Loads the unread count and the first page again (done by itself after every reconnect).
   *
   * @example
   * ```ts
   * window.addEventListener('focus', () => void client.notifications.refresh());
   * ```
   */
  async refresh(): Promise<void> {
    const sync = ++this.#sync;
    try {
      const page = await this.list({ limit: PAGE });
      if (sync !== this.#sync) return;
      this.#items = page.notifications;
      this.#next = page.nextCursor;
      this.#error = null;
      this.#setUnread(page.unread);
    } catch (err) {
      if (sync !== this.#sync) return;
      this.#error = err as TidingsError;
      this.emit('error', this.#error);
      throw err;
    } finally {
      if (sync === this.#sync) {
        this.#loading = false;
        this.emit('change', undefined);
      }
    }
  }

  /**
   * Appends the next page of older notifications to `items`. Resolves with `hasMore`.
   *
   * @example
   * ```ts
   * if (client.notifications.hasMore) await client.notifications.loadMore();
   * ```
   */
  async loadMore(): Promise<boolean> {
    if (this.#next === undefined) return false;
    const page = await this.list({ limit: PAGE, cursor: this.#next });
    const known = new Set(this.#items.map((n) => n.id));
    this.#items = [...this.#items, ...page.notifications.filter((n) => !known.has(n.id))];
    this.#next = page.nextCursor;
    this.#setUnread(page.unread);
    this.emit('change', undefined);
    return this.hasMore;
  }

  /**
   * Marks notifications read, here and on the user's other devices.
   *
   * @example
   * ```ts
   * await client.notifications.markRead('n_123');
   * await client.notifications.markRead(['n_124', 'n_125']);
   * ```
   */
  async markRead(ids: string | readonly string[]): Promise<NotificationReadResult> {
    const list = typeof ids === 'string' ? [ids] : [...ids];
    const result = (await this.#call({ type: 'notification_read', ids: list })) as NotificationReadResult;
    this.#apply({ change: 'read', ids: list, unread: result.unread });
    return result;
  }

  /**
   * Marks every notification of the user read.
   *
   * @example
   * ```ts
   * await client.notifications.markAllRead();
   * ```
   */
  async markAllRead(): Promise<NotificationReadResult> {
    const result = (await this.#call({ type: 'notification_read', all: true })) as NotificationReadResult;
    this.#apply({ change: 'read', all: true, unread: result.unread });
    return result;
  }

  /**
   * Deletes notifications of the user.
   *
   * @example
   * ```ts
   * await client.notifications.remove('n_123');
   * ```
   */
  async remove(ids: string | readonly string[]): Promise<NotificationDeleteResult> {
    const list = typeof ids === 'string' ? [ids] : [...ids];
    const result = (await this.#call({ type: 'notification_delete', ids: list })) as NotificationDeleteResult;
    this.#apply({ change: 'deleted', ids: list, unread: result.unread });
    return result;
  }

  /** Applies a read or a delete (a reply here, or the push of it): events only for what changed. */
  #apply(update: NotificationUpdate): void {
    const hit = (n: Notification) => update.all === true || update.ids!.includes(n.id);
    const deleted = update.change === 'deleted';
    const before = this.#items;
    if (before.some((n) => hit(n) && (deleted || !n.read))) {
      this.#items = deleted ? before.filter((n) => !hit(n)) : before.map((n) => (hit(n) && !n.read ? { ...n, read: true, readAt: Date.now() } : n));
    }
    const unread = this.#unread;
    this.#setUnread(update.unread);
    if (this.#items === before && unread === update.unread) return;
    const { change, ids, all } = update;
    this.emit('update', { change, ...(ids ? { ids } : {}), ...(all ? { all } : {}), unread: update.unread });
    this.emit('change', undefined);
  }

  #setUnread(unread: number): void {
    if (unread === this.#unread) return;
    this.#unread = unread;
    this.emit('unread', { unread });
  }
}
