/**
 * Audit events: who connected, who was refused, which limits were hit, which API
 * keys did what. Only ids, addresses and codes; never tokens, API keys or payloads.
 */
import type { Logger } from '../log.js';

export type AuditEvent =
  | { type: 'connect'; client: string; user: string; ip: string; transport: string }
  | { type: 'disconnect'; client: string; user: string; code: number; reason: string }
  | { type: 'auth_failure'; ip: string; transport: string; reason: string }
  | { type: 'limit_hit'; limit: string; user?: string; ip?: string; client?: string }
  | { type: 'api_call'; keyId?: string; method: string; route: string; status: number; requestId: string };

/**
 * Receives audit events: the log (`LogAuditSink`), and the durable audit log
 * (`StoredAuditLog`, which also logs).
 *
 * `emit` is called on hot paths (connects, disconnects, limit hits): it must never
 * throw and never block. A sink that stores events elsewhere queues them and
 * writes asynchronously, dropping (and counting) events when it falls behind.
 */
export interface AuditSink {
  emit(event: AuditEvent): void;
}

/**
 * The fields an audit line may carry. Events are copied field by field, so an event
 * object that picked up something more (a token, a key) by way of a spread cannot
 * leak it, whatever redaction the logger has.
 */
export const AUDIT_FIELDS = ['client', 'user', 'ip', 'transport', 'code', 'reason', 'limit', 'keyId', 'method', 'route', 'status', 'requestId'] as const;

/** The event's known fields only, copied one by one (see above). */
export function auditFields(event: AuditEvent): Record<string, string | number> {
  const source = event as Record<string, unknown>;
  const fields: Record<string, string | number> = {};
  for (const f of AUDIT_FIELDS) {
    const v = source[f];
    if (typeof v === 'string' || typeof v === 'number') fields[f] = v;
  }
  return fields;
}

/** Writes each event as an info line of a pino child logger marked `audit: true`. */
export class LogAuditSink implements AuditSink {
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log.child({ audit: true });
  }

  emit(event: AuditEvent): void {
    try {
      // Nothing built for a line the level drops (every connect emits one).
      if (this.log.isLevelEnabled('info')) this.log.info({ type: event.type, ...auditFields(event) }, `audit ${event.type}`);
    } catch {
      // Auditing must not break the request or connection that caused the event.
    }
  }

  /** The same with the fields already copied (`auditFields`). */
  emitFields(type: AuditEvent['type'], fields: Record<string, string | number>): void {
    try {
      if (this.log.isLevelEnabled('info')) this.log.info({ type, ...fields }, `audit ${type}`);
    } catch {
      // Auditing must not break the request or connection that caused the event.
    }
  }
}
