/**
 * `useNotifications`: a user's notification inbox. NOT WIRED YET.
 *
 * The server has no notifications feature yet. The hook's shape is fixed now so that
 * components can be written against it; until the feature lands it reports
 * `supported: false`, an empty list, the error `not_available`, and every action rejects
 * with a `TidingsError` whose code is `not_available`.
 */
import { useMemo } from 'react';
import { TidingsError } from '@tidings/client';
import { useTidingsContext } from './context.js';

/** How prominently a notification should be shown (planned). */
export type NotificationPriority = 'low' | 'normal' | 'high' | 'urgent';

/** A button shown with a notification (planned). */
export interface NotificationAction {
  /** Identifies the action to the application, e.g. `accept`. */
  id: string;
  /** Text of the button. */
  label: string;
  /** A link to follow instead of handling `id` in code. */
  url?: string;
}

/** One notification (planned shape). */
export interface NotificationItem<D = unknown> {
  /** Unique per user. */
  id: string;
  /** Application-defined kind, e.g. `task.assigned`. */
  type: string;
  title: string;
  /** Body text. */
  message?: string;
  /** Application data, as the backend sent it. */
  data?: D;
  actions?: NotificationAction[];
  priority: NotificationPriority;
  read: boolean;
  /** When it was created, ms since the epoch. */
  createdAt: number;
  /** When it disappears by itself, ms since the epoch; absent when it does not. */
  expiresAt?: number;
}

/** What `useNotifications` returns. */
export interface UseNotificationsResult<D = unknown> {
  /** Notifications, newest first. Always empty until the feature is wired. */
  items: readonly NotificationItem<D>[];
  /** Unread notifications. Always 0 until the feature is wired. */
  unreadCount: number;
  /** True while the inbox loads. Always false until the feature is wired. */
  loading: boolean;
  /** False until the server offers notifications. */
  supported: boolean;
  /** `TidingsError` `not_available` until the feature is wired. */
  error: TidingsError | null;
  /** Marks one notification read. Rejects with `not_available` until the feature is wired. */
  markRead: (id: string) => Promise<void>;
  /** Marks every notification read. Rejects with `not_available` until the feature is wired. */
  markAllRead: () => Promise<void>;
  /** Deletes one notification. Rejects with `not_available` until the feature is wired. */
  remove: (id: string) => Promise<void>;
}

const NOT_AVAILABLE = 'not_available';
const MESSAGE = 'notifications are not available yet: the Tidings server does not offer them in this version';

function notAvailable(): Promise<never> {
  return Promise.reject(new TidingsError(NOT_AVAILABLE, MESSAGE, { temporary: false }));
}

/**
 * The current user's notifications. **Not wired yet**: the shape is final, the data is
 * not. Until the server's notifications feature lands, it returns `supported: false`,
 * no items, the error `not_available`, and actions that reject with `not_available`.
 * Render nothing (or a placeholder) when `supported` is false, and the component will
 * start working when the feature ships.
 *
 * @example
 * ```tsx
 * function Bell() {
 *   const { supported, unreadCount, items, markRead } = useNotifications();
 *   if (!supported) return null;
 *   return (
 *     <Menu badge={unreadCount}>
 *       {items.map((n) => <Item key={n.id} unread={!n.read} onClick={() => markRead(n.id)}>{n.title}</Item>)}
 *     </Menu>
 *   );
 * }
 * ```
 */
export function useNotifications<D = unknown>(): UseNotificationsResult<D> {
  // The client is not used yet; asking for it keeps the "inside a provider" rule the same
  // as for the other hooks, so that wiring the feature breaks no caller.
  useTidingsContext('useNotifications');
  return useMemo(
    () => ({
      items: [],
      unreadCount: 0,
      loading: false,
      supported: false,
      error: new TidingsError(NOT_AVAILABLE, MESSAGE, { temporary: false }),
      markRead: () => notAvailable(),
      markAllRead: () => notAvailable(),
      remove: () => notAvailable(),
    }),
    [],
  );
}
