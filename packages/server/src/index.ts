/**
 * @tidings/server — the Tidings real-time server as a library.
 *
 * @example
 * ```ts
 * import { createTidings } from '@tidings/server';
 * const tidings = createTidings({ auth: { secret: process.env.TIDINGS_SECRET! }, namespaces: { chat: {} } });
 * await tidings.listen(8080);
 * ```
 */
export { createTidings, Tidings, hasTokenKey } from './node.js';
export type { TidingsOptions, BroadcastResultItem, ChannelListing, ConnectionListing, ApiUserStatus, NodeHealth, NodeListing, NodeStats } from './node.js';
// What the library's annotate(channel, ref, annotation) takes (docs/server-api.md, the library equivalents).
export type { ServerAnnotation } from './features/messages.js';
export type { NodeFigures } from './api/deployment-stats.js';
export { TidingsError } from './errors.js';
// Webhooks: what an app's backend checks a webhook request with (docs/webhooks.md).
export { verifyWebhook, WebhookVerificationError, type VerifiedWebhook, type VerifyWebhookOptions, type WebhookHeaders, type WebhookVerificationReason } from './webhooks/verify.js';
export { WEBHOOK_EVENT_TYPES, type WebhookEvent, type WebhookEventType } from './webhook-events.js';
export { resolveConfig, ConfigError } from './config/schema.js';
export type { TidingsConfig, TidingsConfigInput, NamespaceConfig } from './config/schema.js';
export { mintToken } from './auth/token-mint.js';
export { serveStatic, type StaticApp } from './api/static-files.js';
export type * from './hooks.js';
export { HookDisconnect } from './hooks.js';
export type { Broker, BrokerHandler, ControlEvent, EncodedPublication, HistoryBudget, HistoryOptions, HistoryPage, HistoryQuery, HistoryStats, PublishOptions, PublishOutcome } from './engine/broker.js';
// What a broker implementation uses: the error a history budget refusal throws, the key a publication's encoded JSON travels under, the byte count every broker budgets by.
export { HistoryBudgetError, ENCODED_DATA, publicationBytes, PUBLICATION_OVERHEAD_BYTES } from './engine/broker.js';
export type { Engine } from './engine/engine.js';
export type { NodeBus, BusMessage, BusHandler, NodeInfo, NodeAnswer } from './engine/node-bus.js';
// What a NodeBus request rejects with (code unknown_node, timeout, remote or closed).
export { BusRequestError } from './engine/node-bus.js';
export type { SharedLimits } from './engine/shared-limits.js';
export type { PresenceManager, PresenceStats, PresenceAddResult, PresenceRemoveResult, PresenceTouch, PresenceUpdateResult } from './engine/presence.js';
export type { UserStatusStore, UserStatusEntry, AddConnectionResult, UserListPage } from './engine/user-status.js';
export type { TypingStore, TypingEntry } from './engine/typing.js';
export { MemoryCluster, createMemoryEngine, memoryClusterOptions, type MemoryClusterOptions, type MemoryEngineConfig } from './engine/memory/memory-cluster.js';
export { MemoryBroker } from './engine/memory/memory-broker.js';
export { MemoryPresenceManager } from './engine/memory/memory-presence.js';
export { MemoryUserStatusStore } from './engine/memory/memory-user-status.js';
export { MemoryTypingStore } from './engine/memory/memory-typing.js';
export { NodeMetrics } from './ops/metrics.js';
export type { AuditEvent, AuditSink } from './ops/audit.js';
export type { AuditRecord, AuditQuery, AuditPage, AuditStore } from './store/audit-store.js';
export type { NotificationStore } from './store/notification-store.js';
export type { ActivityStore } from './store/activity-store.js';
export type { ProgressStore } from './engine/progress.js';
export type { AdminStatsSnapshot } from './ops/admin-stats.js';
export type { TokenVerifier, ConnectionClaims, SubscriptionClaims } from './auth/token-verifier.js';
export type { Transport, TransportKind, TransportRequestInfo } from './transport/transport.js';
export { VERSION } from './version.js';
