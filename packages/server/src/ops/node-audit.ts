/**
 * The audit side of one node, built by `node.ts`: where audit events go (the stored audit
 * log when `audit.store` is on, else log lines only), and how a limit hit is reported (a log
 * line, the `tidings_limit_hits_total` metric and a `limit_hit` audit event).
 */
import type { TidingsConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { AuditStore } from '../store/audit-store.js';
import { LogAuditSink, type AuditSink } from './audit.js';
import { StoredAuditLog } from './audit-log.js';
import type { NodeMetrics } from './metrics.js';

/** Reports that a limit refused something (a connection, a subscribe, a publication). */
export type LimitHitReport = (limit: string, details: { user?: string; client?: string; ip?: string }) => void;

export interface NodeAudit {
  /** The stored audit log; undefined when `audit.store` is off. */
  auditLog: StoredAuditLog | undefined;
  /** Where audit events go: the stored log, or log lines. */
  audit: AuditSink;
  limitHit: LimitHitReport;
}

export function openNodeAudit(config: TidingsConfig, log: Logger, store: AuditStore, metrics: NodeMetrics): NodeAudit {
  const { flushInterval: flushIntervalMs, maxQueue } = config.audit;
  const onWritten = (n: number) => metrics.auditWritten(n);
  const onDropped = (n: number) => metrics.auditDropped(n);
  const auditLogOptions = { log, store, flushIntervalMs, maxQueue, pruneIntervalMs: config.notifications.sweepInterval, onWritten, onDropped };
  const auditLog = config.audit.store ? new StoredAuditLog(auditLogOptions) : undefined;
  const audit = auditLog ?? new LogAuditSink(log);
  const limitHit: LimitHitReport = (limit, details) => {
    log.info({ limit, ...details }, 'limit hit');
    metrics.limitHit(limit);
    audit.emit({ type: 'limit_hit', limit, ...details });
  };
  return { auditLog, audit, limitHit };
}
