/**
 * @tidings/react — React hooks over the Tidings client: connection state, channels with
 * history, presence, typing, user status, notifications, activity feeds, job progress, and
 * chat (messages with edits and reactions folded in, read receipts, unread counts).
 *
 * A thin layer: every hook only calls the client and its subscriptions. Hooks on the same
 * channel share one subscription, counted by reference, so StrictMode and several
 * components on one channel cost one `subscribe`.
 *
 * @example
 * ```tsx
 * import { Tidings } from '@tidings/client';
 * import { TidingsProvider, useChannel, useConnectionState } from '@tidings/react';
 *
 * const client = new Tidings('wss://rt.example.com/connection/websocket', { getToken });
 * void client.connect();
 *
 * function Feed() {
 *   const state = useConnectionState();
 *   const { messages } = useChannel<{ title: string }>('news:team-42', { history: 20 });
 *   return <>{state !== 'connected' && <p>Reconnecting…</p>}{messages.map((m) => <p key={m.offset}>{m.data.title}</p>)}</>;
 * }
 *
 * root.render(<TidingsProvider client={client}><Feed /></TidingsProvider>);
 * ```
 */
export { TidingsProvider, useTidings, type TidingsProviderProps } from './context.js';
export { useConnectionState } from './use-connection-state.js';
export { useChannel, DEFAULT_KEEP, type UseChannelOptions, type UseChannelResult } from './use-channel.js';
export type { ChannelSnapshot } from './channel-store.js';
export type { ChannelHookOptions, SubscriptionSnapshot } from './subscription-store.js';
export { usePresence, type PresenceSnapshot, type UsePresenceOptions, type UsePresenceResult } from './use-presence.js';
export { useTyping, type TypingSnapshot, type UseTypingOptions, type UseTypingResult } from './use-typing.js';
export { useUserStatus, type UserStatuses } from './use-user-status.js';
export {
  useNotifications,
  type NotificationAction,
  type NotificationItem,
  type NotificationPriority,
  type NotificationType,
  type NotificationsSnapshot,
  type UseNotificationsResult,
} from './use-notifications.js';
export { useActivityFeed, type ActivityFeedSnapshot, type UseActivityFeedOptions, type UseActivityFeedResult } from './use-activity-feed.js';
export { useProgress, type UseProgressResult } from './use-progress.js';
export { useMessages, type Message, type MessagesActions, type MessagesSnapshot, type UseMessagesOptions, type UseMessagesResult } from './use-messages.js';
export { useReadReceipts, type ReadReceiptsSnapshot, type UseReadReceiptsResult } from './use-read-receipts.js';
export { useUnreadCount } from './use-unread-count.js';
