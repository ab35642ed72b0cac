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
 * Receives audit events. Today they go to the log (`LogAuditSink`); durable storage
 * arrives with the notifications issue.
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
const FIELDS = ['client', 'user', 'ip', 'transport', 'code', 'reason', 'limit', 'keyId', 'method', 'route', 'status', 'requestId'] as const;

/** Writes each event as an info line of a pino child logger marked `audit: true`. */
export class LogAuditSink implements AuditSink {
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log.child({ audit: true });
  }

  emit(event: AuditEvent): void {
    try {
      const source = event as Record<string, unknown>;
      const fields: Record<string, unknown> = { type: event.type };
      for (const f of FIELDS) {
        const v = source[f];
        if (typeof v === 'string' || typeof v === 'number') fields[f] = v;
      }
      this.log.info(fields, `audit ${event.type}`);
    } catch {
      // Auditing must not break the request or connection that caused the event.
    }
  }
}
