import type { ClientInfo, MessageOp, PresenceClient, PresenceUser } from '@tidings/protocol';
import type { ChannelPolicy, ResolvedChannel } from '../auth/channel-policy.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import type { TidingsConfig } from '../config/schema.js';
import type { PublishOutcome } from '../engine/broker.js';
import type { WebhookEmitter } from '../webhook-events.js';

/** Who published, and how. */
export interface PublishRequest {
  source: 'client' | 'api' | 'library';
  info?: ClientInfo;
  idempotencyKey?: string;
  /** A connection that does not get the publication live (server-side publishes' `exceptClient`). */
  exceptClient?: string;
  /** The publication's event name (checked against `EVENT_NAME_PATTERN` before it gets here). */
  event?: string;
  /** A reply to the message at this offset (checked against history before it gets here: features/messages.ts). */
  replyTo?: number;
  /** A message operation on an earlier offset (checked before it gets here: features/messages.ts). */
  op?: MessageOp;
}

/** A publish's outcome, and whether an idempotency key matched an earlier publish (nothing published now). */
export type PublishedOutcome = PublishOutcome & { deduplicated: boolean };
import type { PresenceStats } from '../engine/presence.js';
import type { ActivityFeature } from '../features/activity.js';
import type { NotificationsFeature } from '../features/notifications.js';
import type { PresenceFeature } from '../features/presence.js';
import type { StreamReader } from '../features/recovery.js';
import type { ProgressFeature } from '../features/progress.js';
import type { ReadReceiptsFeature } from '../features/read-receipts.js';
import type { Hooks } from '../hooks.js';
import type { Flusher } from '../wire/flusher.js';
import type { HubSession, HubSubscription } from '../hub/hub.js';
import type { Logger } from '../log.js';
import type { AuditSink } from '../ops/audit.js';
import type { NodeMetrics } from '../ops/metrics.js';

/** Counters a node keeps for /stats and, later, metrics. */
export interface Counters {
  connectsTotal: number;
  disconnectsTotal: number;
  /** Publications accepted (client, API and library). */
  publicationsIn: number;
  /** Bad frames and protocol violations from clients. */
  badRequests: number;
  slowDisconnects: number;
}

/**
 * The node's registry of connections (the hub) and its channel subscriptions, as a session
 * uses them. Subscribing goes through `cluster/channels.ts`: the hub first, then the engine.
 */
export interface SessionHub {
  addSession(session: HubSession): void;
  removeSession(session: HubSession): void;
  /** Resolves once the engine delivers the channel to this node. */
  subscribe(sub: HubSubscription): Promise<void>;
  /** The channel's last local subscriber releases the engine subscription. */
  unsubscribe(sub: HubSubscription): void;
  subscriberCount(channel: string): number;
}

/** How the `presence` and `presence_stats` commands read a channel's presence. */
export interface PresenceReader {
  of(channel: string): Promise<{ clients: Record<string, PresenceClient>; users: PresenceUser[] }>;
  stats(channel: string): Promise<PresenceStats>;
}

/** What a session needs from its node. node.ts builds it; sessions know nothing else. */
export interface SessionServices {
  readonly config: TidingsConfig;
  readonly log: Logger;
  readonly verifier: TokenVerifier;
  readonly policy: ChannelPolicy;
  /** The node's registry of connections and subscribers (sessions register themselves). */
  readonly hub: SessionHub;
  /** Channel streams (position, history) for recovery and `history`, through `cluster/channels.ts`. */
  readonly streams: StreamReader;
  /** A channel's presence and its counts, read through `cluster/presence-reads.ts`. */
  readonly presence: PresenceReader;
  /** Presence, status, typing and follow rules. */
  readonly presenceFeature: PresenceFeature;
  readonly flusher: Flusher;
  readonly hooks: Hooks;
  readonly counters: Counters;
  /** Server version reported in the connect reply. */
  readonly version: string;
  /** True when the user may publish once more in the channel's namespace (namespace `rateLimit`, on all nodes). */
  publishAllowed(target: ResolvedChannel, user: string): Promise<boolean>;
  /** Reports a limit that was hit (logs, metrics, audit). */
  limitHit(limit: string, details: { user?: string; client?: string; ip?: string }): void;
  /** Publishes with the channel's namespace settings (history, idempotency window). */
  publish(target: ResolvedChannel, data: unknown, options: PublishRequest): Promise<PublishedOutcome>;
  readonly metrics: NodeMetrics;
  readonly audit: AuditSink;
  readonly notifications: NotificationsFeature;
  readonly activity: ActivityFeature;
  readonly progress: ProgressFeature;
  /** Where the connection's webhook events go (`session-webhooks.ts`); absent: none. */
  readonly webhooks?: WebhookEmitter;
  /** Users' sticky server-side subscriptions, added to each new connection of the user (absent: none). */
  readonly userChannels?: { list(user: string): Promise<string[]>; readonly generation?: number };
  /** Read receipts and unread counts (`read`, `read_receipts`, `unread`); absent: those answer not_available. */
  readonly readReceipts?: ReadReceiptsFeature;
}
