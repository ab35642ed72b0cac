/**
 * Public types of the SDK: options, states and event payloads.
 */
import type { Annotations, BroadcastPush, ClientInfo, MessageOp, NotificationPush, NotificationUpdatePush, PresenceStatus, PresenceUser, ProgressPush, ReadPush, StreamPosition, UserStatus } from '@tidings/protocol';
import type { TidingsError } from './errors.js';
import type { TransportFactory } from './transports/types.js';
import type { WebSocketConstructor, WireCodec } from './transports/websocket.js';

/** Connection state. */
export type ConnectionState = 'disconnected' | 'connecting' | 'connected';

/** Subscription state. */
export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

/** Supplies a connection token. Return `null` when the user is signed out: the client stops with `unauthorized`. */
export type GetToken = () => string | null | Promise<string | null>;

export interface TidingsOptions {
  /** A fixed connection JWT. With `getToken` too, this one is used first. */
  token?: string;
  /**
   * Called for the first token when `token` is not given, again to refresh the token before
   * it expires (scheduled from the connect reply), and after the server rejected an expired one.
   */
  getToken?: GetToken;
  /** WebSocket implementation. Default: the runtime's `WebSocket` (browsers, React Native, Node 22+); on Node 20, the `ws` package. */
  websocket?: WebSocketConstructor;
  /**
   * Frames in MessagePack on WebSocket when the server offers it: `encoding: msgpack`, with
   * `import { msgpack } from '@tidings/client/msgpack'`. Data may then hold `Uint8Array`s.
   * Default JSON (SSE and long-polling are always JSON).
   */
  encoding?: WireCodec;
  /**
   * Transports to try, in order: `websocket`, `sse` (Server-Sent Events) and `polling` (HTTP
   * long-polling), or custom factories. Default `['websocket', 'sse', 'polling']`. A transport
   * that fails to open is skipped for the next one; it is remembered as blocked (and skipped
   * for `blockedTransportRetry`) only when a later one then reaches the server.
   */
  transports?: Array<'websocket' | 'sse' | 'polling' | TransportFactory>;
  /** One custom transport, instead of `transports`. */
  transport?: TransportFactory;
  /** Base URL of the HTTP transports. Default: derived from `url` (`wss://h/connection/websocket` → `https://h/connection`). */
  httpUrl?: string;
  /** Milliseconds a transport gets to open before the next one is tried. Default 5000. */
  transportTimeout?: number;
  /** Milliseconds a transport found blocked is skipped before being tried again. Default 60000. */
  blockedTransportRetry?: number;
  /**
   * While connected over a fallback because a preferred transport (WebSocket) was blocked,
   * milliseconds before that transport is probed again in the background; when the probe's
   * `connect` is accepted the client switches to it without leaving `connected` (subscriptions
   * recover from their positions, `connected` is emitted with the new transport). A failed
   * probe doubles the delay, up to 16×. `false` turns probing off. Default `blockedTransportRetry`.
   */
  upgradeProbeDelay?: number | false;
  /** Client name and version sent in `connect`. Default: `@tidings/client` and its version. */
  name?: string;
  version?: string;
  /** Reconnect backoff: delays grow from `minReconnectDelay` to `maxReconnectDelay` (ms), with full jitter. Default 500 and 20000. */
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
  /** Milliseconds to wait for a reply (and for the transport to open and `connect` to succeed). Default 10000. */
  timeout?: number;
  /**
   * Extra milliseconds beyond the server's `ping + pong` interval before a silent server is
   * considered dead and the client reconnects. Default 5000.
   */
  pingSlack?: number;
  /** The queue of commands made while disconnected. */
  offlineQueue?: {
    /** Most commands held. Default 1000. Further ones reject with `queue_full`. */
    max?: number;
    /** Longest wait for a connection, ms. Default 60000. Then the command rejects with `queue_timeout`. */
    timeout?: number;
  };
  /** Typing indicators. */
  typing?: {
    /** Least time between two `typing: true` sent for one channel, ms. Default 1000. */
    throttle?: number;
    /** After this long without `setTyping(true)`, the client sends `typing: false`. Default 3000. */
    idle?: number;
    /** A remote user without a fresh `typing: true` for this long is dropped from `typingUsers()`. Default 6000. */
    timeout?: number;
  };
  /** Set status `away` while the page is hidden and `online` when it is visible again (browsers). Default false. */
  awayWhenHidden?: boolean;
  /** Reconnect at once on the browser's `online` event. Default true. */
  reconnectOnOnline?: boolean;
  /** Largest message sent, bytes; a bigger command is refused with `payload_too_large`. Default 65536 (the server's default). */
  maxMessageBytes?: number;
  /** Namespace of the activity feeds' channels: the server's `activity.namespace`. Default `activity`. */
  activityNamespace?: string;
  /** Receives debug messages. */
  debug?: (message: string, details?: unknown) => void;
}

/** Payload of the `state` event. */
export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
}

/** Payload of the `connected` event. */
export interface ConnectedContext {
  client: string;
  user: string;
  transport: string;
  /** Token expiry (Unix seconds), when the token has one. */
  expires?: number;
  /** What the server's connect hook or connect proxy returned as `data` for this client (absent when none did). */
  data?: unknown;
}

/** Payload of the `connecting` and `disconnected` events: why the previous connection ended. */
export interface DisconnectContext {
  /** Close code (see docs/errors.md); 0 when the connection never closed. */
  code: number;
  reason: string;
  /** Set on `disconnected` when the client stopped for an error (a terminal close code, a rejected token). */
  error?: TidingsError;
}

/** A publication as the SDK delivers it. */
export interface PublicationContext<T = unknown> {
  channel: string;
  data: T;
  /** Position in the channel's stream, when it keeps history. */
  offset?: number;
  /** The publisher, when a client published. */
  info?: ClientInfo;
  /** True for publications replayed by recovery after a reconnect. */
  recovered?: boolean;
  /** The publication's event name (`task:updated`), when it was published with one. */
  event?: string;
  /** A reply: the offset of the message it answers (namespaces with `messaging.replies`). */
  replyTo?: number;
  /** A message operation (edit, delete, annotate, unannotate) of the earlier message `op.ref`: `MessageLog` applies it. */
  op?: MessageOp;
  /** Recovered messages come folded: the offset of the edit whose content `data` is, once edited or deleted. */
  version?: number;
  /** Recovered messages come folded: the message was deleted (`data` is `null`). */
  deleted?: true;
  /** Recovered messages come folded: the message's annotations (reactions), summarised. */
  annotations?: Annotations;
}

/** Payload of a subscription's `subscribed` event. */
export interface SubscribedContext {
  channel: string;
  /** The namespace keeps history and allows recovery. */
  recoverable: boolean;
  /** The client asked to recover missed publications (after a reconnect or a gap). */
  wasRecovering: boolean;
  /** Every missed publication was delivered. False with `wasRecovering` means a gap: see the `gap` event. */
  recovered: boolean;
  /** The server made this subscription (personal channel, the token's `channels`). */
  serverSide: boolean;
  /** Stream position after the subscribe, with history. */
  epoch?: string;
  offset?: number;
  /** The subscription's info from the server's subscribe hook or subscribe proxy (absent when none gave one, and for server-side subscriptions). */
  info?: Record<string, unknown>;
}

/** Payload of the `gap` event: publications were missed and could not be recovered. Refetch state. */
export interface GapContext {
  channel: string;
  /** The last position the client had. */
  from: StreamPosition;
  /** The stream's position now: live publications continue after it. */
  to: Partial<StreamPosition>;
}

/** Payload of a subscription's `unsubscribed` event. */
export interface UnsubscribedContext {
  channel: string;
  /** Unsubscribe code from the server (2000–2999), or 0 when the application unsubscribed. */
  code: number;
  reason: string;
  /** True when the server ended the subscription. */
  server: boolean;
}

/** A join or leave. */
export interface JoinLeaveContext {
  channel: string;
  info: ClientInfo;
}

/** Payload of a subscription's `typing` event. */
export interface TypingContext {
  channel: string;
  user: string;
  info?: Record<string, unknown>;
  typing: boolean;
}

/** A remote user typing in a channel. */
export interface TypingUser {
  user: string;
  info?: Record<string, unknown>;
}

/** Payload of a subscription's `presence` event: a user's entry changed. */
export interface PresenceContext {
  channel: string;
  user: PresenceUser;
}

/** Payload of the client's `status` event: a followed user's global status changed. */
export interface StatusContext extends UserStatus {
  user: string;
}

export type { PresenceStatus };

export interface ClientEvents {
  state: StateChange;
  connecting: DisconnectContext;
  connected: ConnectedContext;
  disconnected: DisconnectContext;
  error: TidingsError;
  status: StatusContext;
  /** A new notification for the user (`client.notifications` keeps the inbox). */
  notification: NotificationPush;
  /** The user's notifications were read or deleted, on this device or another. */
  notification_update: NotificationUpdatePush;
  /** A job of the user made progress (`client.progress(jobId)` tracks one). */
  progress: ProgressPush;
  /** A server-side broadcast to every connection (`POST /api/v1/broadcast` without channels): `{ event, data }`. */
  broadcast: BroadcastPush;
  /** A read receipt moved: this user's, from any of its devices, or another user's in a seen-by channel this client subscribes to. */
  read: ReadPush;
}

export interface SubscriptionEvents<T> {
  state: { state: SubscriptionState; previous: SubscriptionState };
  subscribing: { channel: string };
  subscribed: SubscribedContext;
  unsubscribed: UnsubscribedContext;
  publication: PublicationContext<T>;
  gap: GapContext;
  join: JoinLeaveContext;
  leave: JoinLeaveContext;
  presence: PresenceContext;
  typing: TypingContext;
  /** A read receipt in this channel moved: this user's (any device), or another user's with `messaging.seenBy`. */
  read: ReadPush;
  error: TidingsError;
}

/** Options of `client.subscribe`. */
export interface SubscriptionOptions {
  /** Fetches a subscription token for private namespaces; called before every (re)subscribe. */
  getToken?: (channel: string) => string | Promise<string>;
  /** Recover missed publications after a reconnect (when the namespace allows it). Default true. */
  recover?: boolean;
  /** Called when publications were missed and could not be recovered: refetch the state. */
  onGap?: (gap: GapContext) => void;
}

/** Options of `history`. */
export interface HistoryOptions {
  /** Most publications to return (the server caps it). */
  limit?: number;
  /** Only publications after this position. */
  since?: StreamPosition;
  /** Newest first. */
  reverse?: boolean;
}

/** Options of `publish`. */
export interface PublishOptions {
  /** Idempotency key; the SDK generates one when absent. */
  idempotencyKey?: string;
  /** The publication's event name (`task:updated`): 1..64 of letters, digits, `_ . : -`. */
  event?: string;
  /** Publish a reply to the message at this offset of the channel (namespaces with `messaging.replies`). */
  replyTo?: number;
}

/** Options of `subscription.annotate`. */
export interface AnnotateOptions {
  /** The annotation's kind: 1..32 of lowercase letters, digits, `_ . -`. Default `reaction`. */
  kind?: string;
  /** Take this user's annotation back instead of adding it. */
  remove?: boolean;
}
