/**
 * Durable audit log. Implementations: `SqliteAuditStore`; every implementation passes
 * audit-store.contract.ts.
 */

/** One stored audit event. Fields beyond `type` and `time` depend on the type (see ops/audit.ts). */
export interface AuditRecord {
  /** Increasing id; also the cursor order. */
  id: number;
  /** ms since the epoch. */
  time: number;
  type: string;
  user?: string;
  client?: string;
  ip?: string;
  transport?: string;
  code?: number;
  reason?: string;
  limit?: string;
  keyId?: string;
  method?: string;
  route?: string;
  status?: number;
  requestId?: string;
}

export type NewAuditRecord = Omit<AuditRecord, 'id'>;

export interface AuditQuery {
  user?: string;
  type?: string;
  /** Inclusive, ms since the epoch. */
  since?: number;
  /** Exclusive, ms since the epoch. */
  until?: number;
  limit: number;
  cursor?: string;
}

export interface AuditPage {
  /** Newest first. */
  events: AuditRecord[];
  nextCursor?: string;
}

/**
 * Guarantees: `append` stores the whole batch or none of it, durably once it resolves;
 * queries are newest first with stable cursors; `prune` deletes what is older than the
 * retention and beyond `maxRows`.
 */
export interface AuditStore {
  append(records: NewAuditRecord[]): Promise<void>;
  query(query: AuditQuery): Promise<AuditPage>;
  prune(now: number): Promise<number>;
}
