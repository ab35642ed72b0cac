/**
 * @tidings/client — the Tidings SDK for browsers, Node 20+ and React Native.
 *
 * @example
 * ```ts
 * import { Tidings } from '@tidings/client';
 *
 * const client = new Tidings('wss://rt.example.com/connection/websocket', { getToken });
 * await client.connect();
 * client.subscribe('news:team-42').on('publication', ({ data }) => show(data));
 * ```
 */
// The order of these exports sets the order of the modules in the browser bundle, and with it
// how well the bundle gzips (test/bundle.test.ts): building blocks first, the client last.
export { sseTransport, type SseTransportOptions } from './transports/sse.js';
export { CLIENT_NAME, CLIENT_VERSION } from './version.js';
export { pollingTransport, type PollingTransportOptions } from './transports/polling.js';
export { websocketTransport, type WebSocketConstructor, type WebSocketLike, type WireCodec } from './transports/websocket.js';
export { Notifications, type NotificationListOptions, type NotificationsEvents, type NotificationUpdate } from './notifications.js';
export { ActivityFeed, type ActivityFeedEvents, type ActivityFeedOptions } from './activity.js';
export { ProgressTracker, type ProgressEvents } from './progress.js';
export { MessageLog, type Message, type MessageLogEvents, type MessageLogOptions } from './messages.js';
export { TidingsError, ClientErrorCode } from './errors.js';
export { Tidings } from './client.js';
export { Subscription } from './subscription.js';
export type { FetchLike, HttpTransportOptions } from './transports/http.js';
export type { ClientTransport, TransportContext, TransportFactory, TransportHandlers } from './transports/types.js';
export { Emitter, type Listener } from './emitter.js';
export { backoffDelay, clampDelay, startTimer, MAX_TIMER_DELAY } from './timers.js';
export type * from './types.js';
export { CloseCode, ErrorCode, UnsubscribeCode } from '@tidings/protocol';
export type { Activity, JobProgress, Notification, NotificationAction, NotificationPriority, NotificationType, NotificationsResult, ClientInfo, PresenceUser, PresenceResult, PresenceStatsResult, PresenceStatus, UserStatus, UserStatusValue, HistoryResult, PublishResult, Publication, StreamPosition } from '@tidings/protocol';
export type { Annotations, AnnotationSummary, MessageOp, ReadPush, ReadReceipt, ReadReceiptsResult, ReadResult, UnreadCount, UnreadResult } from '@tidings/protocol';
