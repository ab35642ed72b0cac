/** What `createTidings` accepts: every configuration setting, plus the parts an application plugs in. */
import type { TokenVerifier } from './auth/token-verifier.js';
import type { TidingsConfigInput } from './config/schema.js';
import type { Broker } from './engine/broker.js';
import type { IdempotencyStore } from './engine/idempotency.js';
import type { PresenceManager } from './engine/presence.js';
import type { ProgressStore } from './engine/progress.js';
import type { TypingStore } from './engine/typing.js';
import type { UserStatusStore } from './engine/user-status.js';
import type { Logger } from './log.js';
import type { ActivityStore } from './store/activity-store.js';
import type { AuditStore } from './store/audit-store.js';
import type { NotificationStore } from './store/notification-store.js';

/** Options of `createTidings`: every config setting, plus parts to plug in. */
export interface TidingsOptions extends TidingsConfigInput {
  /** A pino logger to use instead of one built from `logLevel`. */
  logger?: Logger;
  /** Engine parts; default: in-memory. */
  broker?: Broker;
  presenceManager?: PresenceManager;
  userStatusStore?: UserStatusStore;
  typingStore?: TypingStore;
  idempotencyStore?: IdempotencyStore;
  progressStore?: ProgressStore;
  /** Durable stores; default: SQLite at `store.path` (opened unless all three are given). */
  notificationStore?: NotificationStore;
  activityStore?: ActivityStore;
  auditStore?: AuditStore;
  /** Token verification; default: JWT with the `auth` settings. */
  verifier?: TokenVerifier;
}
