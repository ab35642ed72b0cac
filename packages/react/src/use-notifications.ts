/**
 * `useNotifications`: the current user's notification inbox, live.
 *
 * One inbox per client (`client.notifications`), shared by every component that uses the
 * hook: StrictMode and several badges cost one load, and read state stays in step with
 * the user's other devices.
 */
import { useMemo, useSyncExternalStore } from 'react';
import type { Notification, Notifications, Tidings, TidingsError } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { Store } from './store.js';

export type { NotificationAction, NotificationPriority, NotificationType } from '@tidings/client';

/** One notification, with its `data` typed. */
export type NotificationItem<D = unknown> = Omit<Notification, 'data'> & { data?: D };

/** What `useNotifications` shows, besides the actions. */
export interface NotificationsSnapshot<D = unknown> {
  /** Loaded notifications, newest first: the first page, pages from `loadMore`, live ones. */
  items: readonly NotificationItem<D>[];
  /** Unread notifications of the user (all of them, not only the loaded ones). */
  unreadCount: number;
  /** True until the first page has loaded. */
  loading: boolean;
  /** The last failure to load the inbox; cleared by the next successful load. */
  error: TidingsError | null;
  /** Older notifications than the loaded ones exist. */
  hasMore: boolean;
}

/** What `useNotifications` returns. */
export interface UseNotificationsResult<D = unknown> extends NotificationsSnapshot<D> {
  /** Always true: the server has notifications (kept for components written against the first shape). */
  supported: true;
  /** Marks one or several notifications read, on every device of the user. Stable across renders. */
  markRead: (id: string | readonly string[]) => Promise<void>;
  /** Marks every notification read. Stable across renders. */
  markAllRead: () => Promise<void>;
  /** Deletes one or several notifications. Stable across renders. */
  remove: (id: string | readonly string[]) => Promise<void>;
  /** Loads the next page of older notifications; resolves with `hasMore`. Stable across renders. */
  loadMore: () => Promise<boolean>;
}

const INITIAL: NotificationsSnapshot<never> = Object.freeze({ items: Object.freeze([]), unreadCount: 0, loading: true, error: null, hasMore: false });

/** @internal One per client, shared by every `useNotifications`. */
export class NotificationsStore extends Store<NotificationsSnapshot> {
  readonly #client: Tidings;
  /** Touched only once a component is committed: getting it loads the inbox. */
  #inbox: Notifications | undefined;
  #off: (() => void) | undefined;
  readonly actions: Pick<UseNotificationsResult, 'markRead' | 'markAllRead' | 'remove' | 'loadMore' | 'supported'>;

  constructor(client: Tidings) {
    super();
    this.#client = client;
    const inbox = () => (this.#inbox ??= client.notifications);
    this.actions = {
      supported: true,
      markRead: (id) => inbox().markRead(id).then(() => {}),
      markAllRead: () => inbox().markAllRead().then(() => {}),
      remove: (id) => inbox().remove(id).then(() => {}),
      loadMore: () => inbox().loadMore(),
    };
  }

  protected override compute(): NotificationsSnapshot {
    const inbox = this.#inbox;
    if (!inbox) return INITIAL;
    return { items: inbox.items, unreadCount: inbox.unread, loading: inbox.loading, error: inbox.error, hasMore: inbox.hasMore };
  }

  protected override start(): void {
    const inbox = (this.#inbox ??= this.#client.notifications);
    this.#off = inbox.on('change', () => this.changed());
    this.changed();
  }

  protected override stop(): void {
    this.#off?.();
    this.#off = undefined;
  }
}

const stores = new WeakMap<Tidings, NotificationsStore>();

/**
 * The current user's notifications, live: new ones appear as they are sent, read state and
 * deletes sync across the user's devices, and what arrived while offline shows up after
 * the reconnect. Every component using it shares one inbox.
 *
 * @example
 * ```tsx
 * function Bell() {
 *   const { unreadCount, items, markRead, markAllRead, remove } = useNotifications<{ taskId?: string }>();
 *   return (
 *     <Menu badge={unreadCount} onOpen={() => markAllRead()}>
 *       {items.map((n) => (
 *         <Item key={n.id} unread={!n.read} onClick={() => markRead(n.id)} onDelete={() => remove(n.id)}>
 *           {n.title}
 *           {n.actions?.map((a) => <button key={a.action} className={a.style}>{a.label}</button>)}
 *         </Item>
 *       ))}
 *     </Menu>
 *   );
 * }
 * ```
 */
export function useNotifications<D = unknown>(): UseNotificationsResult<D> {
  const { client } = useTidingsContext('useNotifications');
  let store = stores.get(client);
  if (!store) stores.set(client, (store = new NotificationsStore(client)));
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const actions = store.actions;
  return useMemo(() => ({ ...(snapshot as NotificationsSnapshot<D>), ...actions }), [snapshot, actions]);
}
