/**
 * The durable audit log: every audit event is logged at once and queued for the
 * AuditStore, which gets the queue as one batch per `audit.flushInterval`. Emitting
 * never blocks and never throws; a queue beyond `audit.maxQueue` drops new events
 * and counts them (`tidings_audit_events_dropped_total`), so a flood of connections cannot
 * grow memory without bound.
 */
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { Logger } from '../log.js';
import { BadCursorError } from '../store/notification-store.js';
import type { AuditPage, AuditQuery, AuditStore, NewAuditRecord } from '../store/audit-store.js';
import { auditFields, LogAuditSink, type AuditEvent, type AuditSink } from './audit.js';

export interface StoredAuditLogOptions {
  log: Logger;
  store: AuditStore;
  flushIntervalMs: number;
  maxQueue: number;
  /** How often old events are pruned. */
  pruneIntervalMs: number;
  onDropped?: (n: number) => void;
  onWritten?: (n: number) => void;
}

/** Rows per commit. */
const MAX_BATCH = 2000;

export class StoredAuditLog implements AuditSink {
  private readonly logSink: LogAuditSink;
  private queue: NewAuditRecord[] = [];
  private readonly flushTimer: NodeJS.Timeout;
  private readonly pruneTimer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: StoredAuditLogOptions) {
    this.logSink = new LogAuditSink(options.log);
    this.flushTimer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.flushTimer.unref();
    this.pruneTimer = setInterval(() => {
      options.store.prune(Date.now()).catch((err) => options.log.error({ err }, 'pruning the audit log failed'));
    }, options.pruneIntervalMs);
    this.pruneTimer.unref();
  }

  emit(event: AuditEvent): void {
    // The fields are copied once, for the log line and the stored record.
    let fields: Record<string, string | number>;
    try {
      fields = auditFields(event);
    } catch {
      return;
    }
    this.logSink.emitFields(event.type, fields);
    if (this.closed) return;
    if (this.queue.length >= this.options.maxQueue) {
      this.options.onDropped?.(1);
      return;
    }
    try {
      const { user, ...rest } = fields;
      const record: NewAuditRecord = { time: Date.now(), type: event.type, ...rest };
      if (typeof user === 'string' && user !== '') record.user = user;
      this.queue.push(record);
    } catch {
      // Auditing must not break the request or connection that caused the event.
    }
  }

  /**
   * Writes what is queued; resolves when it is stored. A long queue (a reconnect storm)
   * goes in batches of at most MAX_BATCH rows, one commit each, one after another, so
   * no single commit holds the event loop for long.
   */
  flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.writing = this.writing.then(() =>
        this.options.store.append(batch).then(
          () => this.options.onWritten?.(batch.length),
          (err) => {
            this.options.onDropped?.(batch.length);
            this.options.log.error({ err, events: batch.length }, 'writing audit events failed');
          },
        ),
      );
    }
    return this.writing;
  }

  /** Stored events, newest first. Events of the last `flushInterval` may not be there yet. */
  async query(query: AuditQuery): Promise<AuditPage> {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > 1000) throw new TidingsError(ErrorCode.BadRequest, 'limit: expected integer 1..1000');
    try {
      return await this.options.store.query(query);
    } catch (err) {
      if (err instanceof BadCursorError) throw new TidingsError(ErrorCode.BadRequest, err.message);
      throw err;
    }
  }

  /** Writes what is queued; later events are only logged. */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.pruneTimer);
    // Events emitted while a batch is written (late disconnects of a shutdown) are written too.
    do await this.flush();
    while (this.queue.length > 0);
    this.closed = true;
  }
}
