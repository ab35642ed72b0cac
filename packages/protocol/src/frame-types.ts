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
  /** A reply: the offset of the message (an earlier publication of the same channel) it answers. */
  replyTo?: number;
  /**
   * A message operation: this publication changes the earlier publication `op.ref` of the same channel
   * (namespaces with `messaging` on). It has its own offset like any publication; `data` is the new content
   * of an `edit`, and `null` for the other kinds. See docs/messaging.md.
   */
  op?: MessageOp;
  /**
   * The offset of the edit whose content `data` now is: set on a message in history, recovery and a
   * client's folded message list once it was edited (a live push of the message never has it).
   */
  version?: number;
  /** The message was deleted (its `data` is then `null`): set where `version` is. */
  deleted?: true;
  /** The message's annotations (reactions and others), summarised: set where `version` is, when it has any. */
  annotations?: Annotations;
}

/** What a message operation does to the publication at offset `ref`. */
export type MessageOp =
  | { type: 'edit'; ref: number }
  | { type: 'delete'; ref: number }
  | { type: 'annotate'; ref: number; kind: string; name: string }
  | { type: 'unannotate'; ref: number; kind: string; name: string };

/** One annotation name on a message: how many users gave it, and who (user ids, in the order they did). */
export interface AnnotationSummary {
  count: number;
  users: string[];
}

/** A message's annotations: by kind (`reaction`), then by name (`👍`). */
export type Annotations = Record<string, Record<string, AnnotationSummary>>;

/** What an annotation's `kind` may be: 1..32 of lowercase letters, digits, `_ . -` (default `reaction`). */
export const ANNOTATION_KIND_PATTERN = /^[a-z0-9_.-]{1,32}$/;
/** What an annotation's `name` may be: 1..64 UTF-16 units, no whitespace or control characters (an emoji, `flag`). */
export const ANNOTATION_NAME_PATTERN = /^[^\s\p{Cc}]{1,64}$/u;

/** One user's read receipt in a channel: read up to `offset` (in the channel's current epoch). */
export interface ReadReceipt {
  user: string;
  offset: number;
  /** When it was last moved, ms since the epoch. */
  at: number;
}

/** A user's unread messages in one channel. */
export interface UnreadCount {
  /** Messages (publications without `op`, by other users) after the user's read offset. */
  unread: number;
  /** The user's read offset (0: nothing read yet). */
  read: number;
  /** The channel's newest offset. */
  offset: number;
  /** True when more messages are unread than history still holds: `unread` counts those it holds. */
  more?: true;
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

