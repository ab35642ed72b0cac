/**
 * Frames of protocol v1, as discriminated unions.
 *
 * - A **command** goes from client to server, carries a positive integer `id`
 *   and a `type`; the server answers it with exactly one **reply** echoing the id.
 * - A **reply** has `id` and either `result` or `error`.
 * - A **push** goes from server to client unasked; it has a `type` and no `id`.
 * - `pong` is the one client frame without an id: the answer to a `ping` push.
 *
 * One WebSocket message carries one or more frames separated by `\n`
 * (newline-delimited JSON). See docs/protocol.md.
 */

/** Version of the protocol described here. */
export const PROTOCOL_VERSION = 1;

/** The WebSocket subprotocol a v1 client offers, and the server selects. */
export const WS_SUBPROTOCOL = 'tidings.v1';

/**
 * Prefix of the `Sec-WebSocket-Protocol` entry that carries a connection token
 * in the handshake: `tidings.bearer.<jwt>`. The server never selects (echoes) it.
 */
export const WS_BEARER_PREFIX = 'tidings.bearer.';

/** Position in a channel's stream: `offset` of the last publication within `epoch`. */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** A connection's or user's presence status. `offline` only appears in user status. */
export type PresenceStatus = 'online' | 'away';
export type UserStatusValue = PresenceStatus | 'offline';

/** Public description of a connection: who published, who joined. */
export interface ClientInfo {
  /** User id (`sub` of the token); empty string for anonymous connections. */
  user: string;
  /** Connection id, unique per connection. */
  client: string;
  /** The token's `info` claim (public profile: name, avatar, ...). */
  info?: Record<string, unknown>;
}

/** One publication as kept in history and delivered to subscribers. */
export interface Publication {
  /** Position in the channel's stream; present when the channel keeps history. */
  offset?: number;
  /** Application payload: any JSON value. */
  data: unknown;
  /** Publisher, when a client published. */
  info?: ClientInfo;
}

// ---------------------------------------------------------------- commands

interface CommandBase {
  /** Positive integer, unique among this connection's commands awaiting a reply. */
  id: number;
}

export interface ConnectCommand extends CommandBase {
  type: 'connect';
  /** Connection JWT; optional when given in the handshake or when anonymous access is on. */
  token?: string;
  /** Client name and version, for logs and the dashboard. */
  name?: string;
  version?: string;
  /**
   * Last positions of server-side subscriptions (personal channel, token `channels`)
   * from the previous connection: the connect reply recovers them as `subscribe` would.
   */
  subs?: Record<string, StreamPosition>;
}

export interface RefreshCommand extends CommandBase {
  type: 'refresh';
  /** A new connection JWT for the same user. */
  token: string;
}

export interface SubscribeCommand extends CommandBase {
  type: 'subscribe';
  channel: string;
  /** Subscription JWT (`sub` and `channel` claims) granting access to this channel. */
  token?: string;
  /** Last position the client saw: ask the server for every publication after it. */
  recover?: StreamPosition;
}

export interface UnsubscribeCommand extends CommandBase {
  type: 'unsubscribe';
  channel: string;
}

export interface PublishCommand extends CommandBase {
  type: 'publish';
  channel: string;
  data: unknown;
  /** Publishes with the same key within the server's window publish once. */
  idempotencyKey?: string;
}

export interface HistoryCommand extends CommandBase {
  type: 'history';
  channel: string;
  /** Maximum publications to return (server caps it). 0 returns only the position. */
  limit?: number;
  /** Return publications after this position (its epoch must match). */
  since?: StreamPosition;
  /** Newest first. */
  reverse?: boolean;
}

export interface PresenceCommand extends CommandBase {
  type: 'presence';
  channel: string;
}

export interface PresenceStatsCommand extends CommandBase {
  type: 'presence_stats';
  channel: string;
}

export interface TypingCommand extends CommandBase {
  type: 'typing';
  channel: string;
  /** true while typing (refresh it before `typingTimeout`), false when done. */
  typing: boolean;
}

/** Sets this connection's status in every channel and in the user's global status. */
export interface StatusCommand extends CommandBase {
  type: 'status';
  status: PresenceStatus;
}

/** Sets this connection's app-defined presence state in a channel (`null` clears it). */
export interface PresenceStateCommand extends CommandBase {
  type: 'presence_state';
  channel: string;
  state: unknown;
}

/** Follow the global status of users (online badges) without subscribing to their channels. */
export interface FollowCommand extends CommandBase {
  type: 'follow';
  users: string[];
}

export interface UnfollowCommand extends CommandBase {
  type: 'unfollow';
  users: string[];
}

export interface RpcCommand extends CommandBase {
  type: 'rpc';
  method: string;
  data?: unknown;
}

// ------------------------------------------------ durable features: notifications, activity, progress

/** Kinds of notification the server accepts. */
export type NotificationType = 'info' | 'success' | 'warning' | 'error' | 'mention' | 'assignment' | 'comment' | 'update' | 'deadline' | 'system';
export const NOTIFICATION_TYPES: readonly NotificationType[] = ['info', 'success', 'warning', 'error', 'mention', 'assignment', 'comment', 'update', 'deadline', 'system'];

/** How prominently a notification should be shown. */
export type NotificationPriority = 'low' | 'normal' | 'high' | 'urgent';
export const NOTIFICATION_PRIORITIES: readonly NotificationPriority[] = ['low', 'normal', 'high', 'urgent'];

/** A button shown with a notification; `action` tells the application what to do. */
export interface NotificationAction {
  label: string;
  /** Application-defined: an action name (`accept`) or a URL. */
  action: string;
  style?: 'primary' | 'secondary' | 'danger';
}

/** One notification in a user's inbox. */
export interface Notification {
  /** Unique id (`n_…`). */
  id: string;
  /** The recipient. */
  user: string;
  type: NotificationType;
  title: string;
  message?: string;
  /** Application data, as the backend sent it. */
  data?: unknown;
  actions?: NotificationAction[];
  priority: NotificationPriority;
  /** ms since the epoch. */
  createdAt: number;
  /** When it disappears by itself, ms since the epoch. */
  expiresAt?: number;
  read: boolean;
  /** When it was marked read, ms since the epoch. */
  readAt?: number;
}

/** One entry of an activity feed. */
export interface Activity {
  /** Unique id (`a_…`); ids of one scope sort in the order entries were appended. */
  id: string;
  /** The feed: `global` or an application scope such as `project-7`. */
  scope: string;
  /** Application-defined kind, e.g. `task`. */
  type: string;
  /** Who did it: a user id, or an object such as `{id, name}`. */
  actor?: unknown;
  /** What was done, e.g. `created`. */
  action: string;
  /** What it was done to: a string or an object. */
  target?: unknown;
  data?: unknown;
  /** ms since the epoch. */
  createdAt: number;
}

/** The latest state of one long-running job of a user. */
export interface JobProgress {
  jobId: string;
  /** 0..100. */
  percent: number;
  stage?: string;
  /** True when the job finished (successfully, or with `error`). */
  done: boolean;
  error?: string;
  data?: unknown;
  /** ms since the epoch. */
  updatedAt: number;
}

/** Reads the user's notifications, newest first. `limit: 0` returns only the counts. */
export interface NotificationsCommand extends CommandBase {
  type: 'notifications';
  /** 0..100, default 20. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Only unread ones. */
  unread?: boolean;
}

/** The user's unread and total counts. */
export interface NotificationCountCommand extends CommandBase {
  type: 'notification_count';
}

/** Marks notifications read: `ids` (1..100 of them) or `all: true`. */
export interface NotificationReadCommand extends CommandBase {
  type: 'notification_read';
  ids?: string[];
  all?: boolean;
}

/** Deletes notifications of the user. */
export interface NotificationDeleteCommand extends CommandBase {
  type: 'notification_delete';
  ids: string[];
}

/** Reads an activity feed, newest first. Allowed when subscribing to the scope's channel is. */
export interface ActivityCommand extends CommandBase {
  type: 'activity';
  scope: string;
  /** 1..100, default 20. */
  limit?: number;
  cursor?: string;
  /** Subscription token of the scope's channel, in namespaces that need one. */
  token?: string;
}

/** The latest state of the user's jobs, or of one job. */
export interface ProgressCommand extends CommandBase {
  type: 'progress';
  jobId?: string;
}

export type Command =
  | ConnectCommand
  | RefreshCommand
  | SubscribeCommand
  | UnsubscribeCommand
  | PublishCommand
  | HistoryCommand
  | PresenceCommand
  | PresenceStatsCommand
  | TypingCommand
  | StatusCommand
  | PresenceStateCommand
  | FollowCommand
  | UnfollowCommand
  | RpcCommand
  | NotificationsCommand
  | NotificationCountCommand
  | NotificationReadCommand
  | NotificationDeleteCommand
  | ActivityCommand
  | ProgressCommand;

export type CommandType = Command['type'];

/** The client's answer to a `ping` push. */
export interface PongFrame {
  type: 'pong';
}

/** Anything a client may send. */
export type ClientFrame = Command | PongFrame;

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

// ---------------------------------------------------------------- pushes

export interface PublicationPush extends Publication {
  type: 'publication';
  channel: string;
}

export interface JoinPush {
  type: 'join';
  channel: string;
  info: ClientInfo;
}

export interface LeavePush {
  type: 'leave';
  channel: string;
  info: ClientInfo;
}

/** Someone else in the channel started or stopped typing. */
export interface TypingPush {
  type: 'typing';
  channel: string;
  user: string;
  info?: Record<string, unknown>;
  typing: boolean;
}

/** A user's status or state in the channel changed. */
export interface PresencePush {
  type: 'presence';
  channel: string;
  user: PresenceUser;
}

/** A followed user's global status changed. */
export interface StatusPush extends UserStatus {
  type: 'status';
  user: string;
}

/** The server subscribed this connection to a channel after `connect`. */
export interface SubscribePush extends SubscribeResult {
  type: 'subscribe';
  channel: string;
}

/** The server ended a subscription. See `UnsubscribeCode`. */
export interface UnsubscribePush {
  type: 'unsubscribe';
  channel: string;
  code: number;
  reason: string;
}

/** Sent just before the server closes the connection. */
export interface DisconnectPush {
  type: 'disconnect';
  code: number;
  reason: string;
  /** Whether the client should reconnect. */
  reconnect: boolean;
  /**
   * Present and `true` when the code is terminal (4500–4999): the client must not reconnect on
   * its own, only when the application intervenes (new credentials, user action). Absent otherwise.
   */
  terminal?: true;
  /** Suggested wait before reconnecting, in milliseconds. */
  delay?: number;
}

/** The server checks the client is alive; answer with `{"type":"pong"}`. */
export interface PingPush {
  type: 'ping';
}

/** A new notification for this connection's user. */
export interface NotificationPush {
  type: 'notification';
  notification: Notification;
  /** The user's unread count with it. */
  unread: number;
}

/** Notifications of this user were read or deleted, on this device or another. */
export interface NotificationUpdatePush {
  type: 'notification_update';
  change: 'read' | 'deleted';
  /** The notifications that changed; absent with `all`. */
  ids?: string[];
  /** Every notification of the user was marked read. */
  all?: boolean;
  unread: number;
}

/** A job of this connection's user made progress. */
export interface ProgressPush {
  type: 'progress';
  job: JobProgress;
}

export type Push =
  | PublicationPush
  | JoinPush
  | LeavePush
  | TypingPush
  | PresencePush
  | StatusPush
  | SubscribePush
  | UnsubscribePush
  | DisconnectPush
  | PingPush
  | NotificationPush
  | NotificationUpdatePush
  | ProgressPush;

export type PushType = Push['type'];

/** Anything a server may send. */
export type ServerFrame = Reply | Push;

/** True when a server frame is a reply (it carries an `id`). */
export function isReply(frame: ServerFrame): frame is Reply {
  return typeof (frame as Reply).id === 'number';
}
