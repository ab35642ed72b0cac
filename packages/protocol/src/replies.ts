/**
 * Replies of protocol v1: the result each command type answers with, and the reply frame
 * (`id` and either `result` or `error`). See frames.ts.
 */
import type { Activity, ClientInfo, JobProgress, Notification, PresenceStatus, Publication, ReadReceipt, UnreadCount, UserStatusValue } from './frame-types.js';

// ---------------------------------------------------------------- results

export interface ConnectResult {
  /** This connection's id. */
  client: string;
  /** User id; empty for anonymous connections. */
  user: string;
  /** Server version string. */
  version: string;
  /** Protocol version. */
  protocol: number;
  /** Token expiry, Unix seconds; absent when the token has no `exp`. */
  expires?: number;
  /** Seconds until the token expires, as the server counts them. */
  ttl?: number;
  /** Seconds between the server's pings. */
  ping: number;
  /** Seconds the server waits for a pong after each ping. */
  pong: number;
  /** Server-side subscriptions made for this connection (personal channel, token `channels`). */
  subs: Record<string, SubscribeResult>;
  /** What the server's connect hook or connect proxy returned as `data` for the client; absent when none did. */
  data?: unknown;
}

export interface RefreshResult {
  expires?: number;
  ttl?: number;
}

export interface SubscribeResult {
  /** Stream epoch, when the channel keeps history. */
  epoch?: string;
  /** Offset of the newest publication (0 when none yet), when the channel keeps history. */
  offset?: number;
  /** Whether the namespace allows recovery. */
  recoverable: boolean;
  /** Present when the command asked to recover: true when every missed publication is in `publications`. */
  recovered?: boolean;
  /** Missed publications in order, when recovery was asked for. */
  publications?: Publication[];
  /** Presence snapshot, in namespaces with presence. */
  presence?: PresenceResult;
  /** The subscription's info from the server's subscribe hook or subscribe proxy; absent when none gave one (and for server-side subscriptions). */
  info?: Record<string, unknown>;
}

export interface PublishResult {
  /** Offset given to the publication, when the channel keeps history. */
  offset?: number;
  epoch?: string;
  /** True when an earlier publish with the same idempotency key was found. */
  deduplicated?: boolean;
}

export interface HistoryResult {
  epoch: string;
  /** Offset of the newest publication in the stream. */
  offset: number;
  publications: Publication[];
}

/** One connection in a channel's presence. */
export interface PresenceClient extends ClientInfo {
  status: PresenceStatus;
  /** App-defined state this connection set with `presence_state`. */
  state?: unknown;
}

/** One user in a channel's presence, aggregated over the user's connections. */
export interface PresenceUser {
  user: string;
  info?: Record<string, unknown>;
  /** `online` if any of the user's connections here is online, else `away`. */
  status: PresenceStatus;
  /** The most recently set state among the user's connections. */
  state?: unknown;
  /** Last time the user was seen in this channel, ms since the epoch. */
  lastSeen: number;
  /** Connections of this user in the channel (0 during the leave grace period). */
  clients: number;
}

export interface PresenceResult {
  /** By connection id. */
  clients: Record<string, PresenceClient>;
  /** One entry per user. */
  users: PresenceUser[];
}

/** A user's global status. */
export interface UserStatus {
  status: UserStatusValue;
  /** Last time the user was seen online, ms since the epoch; absent if never seen. */
  lastSeen?: number;
}

export interface FollowResult {
  /** Current status of each followed user. */
  statuses: Record<string, UserStatus>;
}

export interface PresenceStatsResult {
  clients: number;
  users: number;
}

export interface RpcResult {
  data?: unknown;
}

export interface NotificationsResult {
  notifications: Notification[];
  /** Unread notifications of the user (all of them, not only this page). */
  unread: number;
  /** Present when there are more: pass it as `cursor`. */
  nextCursor?: string;
}

export interface NotificationCountResult {
  unread: number;
  total: number;
  /** Unread per notification `type`: only types with at least one unread (`{}` when none). */
  unreadByType: Record<string, number>;
}

export interface NotificationReadResult {
  /** Notifications that changed from unread to read. */
  updated: number;
  unread: number;
}

export interface NotificationDeleteResult {
  deleted: number;
  unread: number;
}

export interface ActivityResult {
  activities: Activity[];
  nextCursor?: string;
}

export interface ProgressResult {
  jobs: JobProgress[];
}

export interface ReadResult {
  /** The user's read offset in the channel now (never lower than before). */
  offset: number;
}

export interface ReadReceiptsResult {
  /** One per user who read anything in the channel's current epoch, highest offset first. */
  receipts: ReadReceipt[];
}

export interface UnreadResult {
  /** By channel, each channel asked for. */
  channels: Record<string, UnreadCount>;
}

/** Maps each command type to the type of its result. */
export interface ResultByCommand {
  connect: ConnectResult;
  refresh: RefreshResult;
  subscribe: SubscribeResult;
  unsubscribe: Record<string, never>;
  publish: PublishResult;
  history: HistoryResult;
  presence: PresenceResult;
  presence_stats: PresenceStatsResult;
  typing: Record<string, never>;
  status: Record<string, never>;
  presence_state: Record<string, never>;
  follow: FollowResult;
  unfollow: Record<string, never>;
  rpc: RpcResult;
  notifications: NotificationsResult;
  notification_count: NotificationCountResult;
  notification_read: NotificationReadResult;
  notification_delete: NotificationDeleteResult;
  activity: ActivityResult;
  progress: ProgressResult;
  message_edit: PublishResult;
  message_delete: PublishResult;
  annotate: PublishResult;
  read: ReadResult;
  read_receipts: ReadReceiptsResult;
  unread: UnreadResult;
}

// ---------------------------------------------------------------- replies

export interface ErrorBody {
  /** One of `ErrorCode`, or an application code from a server hook. */
  code: string;
  message: string;
  /** True when retrying later may succeed. */
  temporary?: boolean;
}

export interface SuccessReply<R = unknown> {
  id: number;
  result: R;
}

export interface ErrorReply {
  id: number;
  error: ErrorBody;
}

export type Reply<R = unknown> = SuccessReply<R> | ErrorReply;
