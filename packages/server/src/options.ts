/** What `createTidings` accepts: every configuration setting, plus the parts an application plugs in. */
import type { TokenVerifier } from './auth/token-verifier.js';
import type { TidingsConfigInput } from './config/schema.js';
import type { Engine } from './engine/engine.js';
import type { Logger } from './log.js';
import type { ActivityStore } from './store/activity-store.js';
import type { AuditStore } from './store/audit-store.js';
import type { NotificationStore } from './store/notification-store.js';
import type { UserChannelsStore } from './store/user-channels-store.js';
import type { ReadReceiptsStore } from './store/read-receipts-store.js';
import type { WebhookOutbox } from './store/webhook-outbox.js';

/** Options of `createTidings`: every config setting, plus parts to plug in. */
export interface TidingsOptions extends Omit<TidingsConfigInput, 'engine'> {
  /** A pino logger to use instead of one built from `logLevel`. */
  logger?: Logger;
  /**
   * The engine this node shares with the other nodes of its deployment (broker, presence,
   * user status, typing, progress, node bus, shared limits); closed with the node. Default:
   * a memory engine of its own (`createMemoryEngine(config)`); for several nodes in one
   * process, one `MemoryCluster` and a `cluster.node()` each. Or the configuration's `engine`
   * section (`{ type: 'redis', url, … }`: the node builds that engine itself).
   */
  engine?: Engine | TidingsConfigInput['engine'];
  /** Durable stores; default: SQLite at `store.path` (opened unless all three are given). */
  notificationStore?: NotificationStore;
  activityStore?: ActivityStore;
  auditStore?: AuditStore;
  /** Users' sticky server-side subscriptions; default: on the same database. */
  userChannelsStore?: UserChannelsStore;
  /** Users' read receipts per channel; default: on the same database. */
  readReceiptsStore?: ReadReceiptsStore;
  /** The durable outbox of webhooks; default: on the same database. */
  webhookOutbox?: WebhookOutbox;
  /** Token verification; default: JWT with the `auth` settings. */
  verifier?: TokenVerifier;
  /**
   * Extra fields of this node's heartbeat, listed with it by `nodes()` and `GET /api/v1/nodes`
   * (strings, numbers, booleans; the standard fields id, pid, host, startedAt, connections win
   * over same-named ones). `tidings serve --workers` gives each worker `{ worker: <1..N>, role: 'worker' }`.
   */
  nodeInfo?: Readonly<Record<string, string | number | boolean>>;
}
