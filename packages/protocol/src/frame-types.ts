/**
 * Shared types of protocol v1's frames: the protocol's constants, stream positions, who a
 * connection is, a publication, and the durable records (notifications, activity, job
 * progress) that commands, replies and pushes carry. See frames.ts for the frame kinds.
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
  /** The application's name for this publication (`task:updated`), when it was given one; see `EVENT_NAME_PATTERN`. */
  event?: string;
}

/** What a publication's `event` name may be: 1..64 of letters, digits, `_ . : -` (as notification types). */
export const EVENT_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

// ------------------------------------------------ durable features: notifications, activity, progress

/** The documented kinds of notification (the dashboard and UIs know how to show them). */
export type KnownNotificationType = 'info' | 'success' | 'warning' | 'error' | 'mention' | 'assignment' | 'comment' | 'update' | 'deadline' | 'system';
/**
 * A notification's kind: one of the known ones, or any application identifier matching
 * `NOTIFICATION_TYPE_PATTERN` (e.g. `task.assigned`). `(string & {})` keeps editors suggesting the known ones.
 */
export type NotificationType = KnownNotificationType | (string & {});
/** What a notification `type` may be: 1..64 of letters, digits, `_ . : -`. */
export const NOTIFICATION_TYPE_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const NOTIFICATION_TYPES: readonly KnownNotificationType[] = ['info', 'success', 'warning', 'error', 'mention', 'assignment', 'comment', 'update', 'deadline', 'system'];

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

