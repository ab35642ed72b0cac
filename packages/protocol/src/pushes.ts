/**
 * Pushes of protocol v1: what the server sends unasked. A push has a `type` and no `id`.
 * See frames.ts.
 */
import type { ClientInfo, JobProgress, Notification, Publication } from './frame-types.js';
import type { PresenceUser, SubscribeResult, UserStatus } from './replies.js';

export interface PublicationPush extends Publication {
  type: 'publication';
  channel: string;
  /**
   * Present and `true` on the one connection a server-side publish excepted (`exceptClient`) in a
   * channel with offsets: the push carries the offset and no `data`, so the connection's offsets stay
   * contiguous; a client advances its position and delivers nothing.
   */
  skip?: true;
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
  /** The user's unread count per notification `type` (only types with unread ones), with it. */
  unreadByType?: Record<string, number>;
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

/**
 * A server-side broadcast to every connection of the deployment (`POST /api/v1/broadcast` without
 * `channels`, `Tidings.broadcastAll`): an application event name and its data. Needs no subscription.
 */
export interface BroadcastPush {
  type: 'broadcast';
  event: string;
  data: unknown;
}

/**
 * A user's read receipt in a channel moved: to that user's every connection (device sync, whether or not it
 * subscribes to the channel) and, in namespaces with `messaging.seenBy`, to the channel's other subscribers.
 */
export interface ReadPush {
  type: 'read';
  channel: string;
  user: string;
  offset: number;
  at: number;
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
  | ProgressPush
  | BroadcastPush
  | ReadPush;

export type PushType = Push['type'];
