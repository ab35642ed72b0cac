/**
 * Commands of protocol v1: what a client sends. Each carries a positive integer `id` and a
 * `type`, and the server answers it with exactly one reply echoing the id; `pong` is the one
 * client frame without an id. See frames.ts.
 */
import type { PresenceStatus, StreamPosition } from './frame-types.js';

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
  /** The publication's event name (`task:updated`), matching `EVENT_NAME_PATTERN`. */
  event?: string;
  /** Publish a reply to the message at this offset of the channel (namespaces with `messaging.replies`). */
  replyTo?: number;
}

/** Replaces the content of a message of the channel (its author, or a moderator role of the namespace). */
export interface MessageEditCommand extends CommandBase {
  type: 'message_edit';
  channel: string;
  /** Offset of the message. */
  ref: number;
  data: unknown;
}

/** Deletes a message of the channel: its content becomes `null` (its author, or a moderator role). */
export interface MessageDeleteCommand extends CommandBase {
  type: 'message_delete';
  channel: string;
  ref: number;
}

/** Adds (or with `remove`, takes back) this user's annotation `name` of `kind` on a message: a reaction. */
export interface AnnotateCommand extends CommandBase {
  type: 'annotate';
  channel: string;
  ref: number;
  /** `ANNOTATION_KIND_PATTERN`; default `reaction`. */
  kind?: string;
  /** `ANNOTATION_NAME_PATTERN`: an emoji, `flag`. */
  name: string;
  remove?: boolean;
}

/** Marks the channel read up to `offset` for this user (receipts only move forward), on every device. */
export interface ReadCommand extends CommandBase {
  type: 'read';
  channel: string;
  offset: number;
}

/** The read receipts of the channel's users (seen-by), in namespaces with `messaging.seenBy`. */
export interface ReadReceiptsCommand extends CommandBase {
  type: 'read_receipts';
  channel: string;
}

/** This user's unread counts in 1..100 channels. */
export interface UnreadCommand extends CommandBase {
  type: 'unread';
  channels: string[];
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
  | ProgressCommand
  | MessageEditCommand
  | MessageDeleteCommand
  | AnnotateCommand
  | ReadCommand
  | ReadReceiptsCommand
  | UnreadCommand;

export type CommandType = Command['type'];

/** The client's answer to a `ping` push. */
export interface PongFrame {
  type: 'pong';
}

/** Anything a client may send. */
export type ClientFrame = Command | PongFrame;
