/**
 * WebhookOutbox on the embedded SQLite database (the guarantees are in ../webhook-outbox.ts).
 *
 * Every write, `claim` included, goes through the database's group commit: it resolves once its
 * transaction is committed (fsynced), and runs alone (better-sqlite3 is synchronous, one
 * connection), so two claims never see the same row as free.
 */
import type { WebhookEventType } from '../../webhook-events.js';
import type { NewOutboxRow, OutboxPage, OutboxRow, OutboxState, OutboxStats, WebhookOutbox } from '../webhook-outbox.js';
import type { SqliteDatabase } from './database.js';
import { parseCursor } from './rows.js';

/** A row of `webhook_outbox` (PostgreSQL's BIGINT columns come as strings: `outboxRow` takes both). */
export interface OutboxRecord {
  seq: number | string;
  event_id: string;
  endpoint: string;
  type: string;
  order_key: string;
  payload: string;
  created_at: number | string;
  state: string;
  attempts: number;
  next_attempt_at: number | string;
  last_status: number | null;
  last_error: string | null;
  finished_at: number | string | null;
}

export function outboxRow(r: OutboxRecord): OutboxRow {
  const row: OutboxRow = {
    seq: Number(r.seq),
    eventId: r.event_id,
    endpoint: r.endpoint,
    type: r.type as WebhookEventType,
    orderKey: r.order_key,
    payload: r.payload,
    createdAt: Number(r.created_at),
    state: r.state as OutboxState,
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
  };
  if (r.last_status !== null) row.lastStatus = Number(r.last_status);
  if (r.last_error !== null) row.lastError = r.last_error;
  if (r.finished_at !== null) row.finishedAt = Number(r.finished_at);
  return row;
}

/** `listDead` reads from after the cursor (the `seq` of the last row of the previous page); none: from the start. */
export function deadCursor(cursor: string | undefined): number {
  return cursor === undefined ? 0 : parseCursor(cursor);
}

/** The page of `rows` (read with one more than `limit`, which only tells there is a next page). */
export function deadPage(rows: OutboxRow[], limit: number): OutboxPage {
  if (rows.length <= limit) return { rows };
  const kept = rows.slice(0, limit);
  return kept.length > 0 ? { rows: kept, nextCursor: String(kept[kept.length - 1]!.seq) } : { rows: kept };
}

const bySeq = (a: OutboxRow, b: OutboxRow) => a.seq - b.seq;

export class SqliteWebhookOutbox implements WebhookOutbox {
  private readonly insert;
  private readonly claimStmt;
  private readonly delivered;
  private readonly failed;
  private readonly dead;
  private readonly listAll;
  private readonly listOf;
  private readonly replaySeqs;
  private readonly replayAll;
  private readonly replayOf;
  private readonly statsStmt;
  private readonly pruneDelivered;
  private readonly pruneDead;

  constructor(private readonly database: SqliteDatabase) {
    const db = database.db;
    this.insert = db.prepare(
      `INSERT INTO webhook_outbox (event_id, endpoint, type, order_key, payload, created_at, next_attempt_at)
       VALUES (@eventId, @endpoint, @type, @orderKey, @payload, @createdAt, @createdAt)
       ON CONFLICT (event_id, endpoint) DO NOTHING`,
    );
    // The head (lowest seq) of each pending (endpoint, order_key), when it is due and not leased.
    this.claimStmt = db.prepare<unknown[], OutboxRecord>(
      `UPDATE webhook_outbox SET holder = @holder, lease_until = @until
       WHERE seq IN (
         SELECT o.seq FROM (SELECT min(seq) AS seq FROM webhook_outbox WHERE state = 'pending' GROUP BY endpoint, order_key) h
         JOIN webhook_outbox o ON o.seq = h.seq
         WHERE o.next_attempt_at <= @now AND (o.lease_until IS NULL OR o.lease_until <= @now)
         ORDER BY o.seq LIMIT @limit)
       RETURNING *`,
    );
    const held = `WHERE seq = @seq AND state = 'pending' AND holder = @holder`;
    this.delivered = db.prepare(
      `UPDATE webhook_outbox SET state = 'delivered', attempts = attempts + 1, finished_at = @now, holder = NULL, lease_until = NULL ${held}`,
    );
    this.failed = db.prepare(
      `UPDATE webhook_outbox SET attempts = attempts + 1, last_status = @status, last_error = @error, next_attempt_at = @next, holder = NULL, lease_until = NULL ${held}`,
    );
    this.dead = db.prepare(
      `UPDATE webhook_outbox SET state = 'dead', attempts = attempts + 1, last_status = @status, last_error = @error, finished_at = @now, holder = NULL, lease_until = NULL ${held}`,
    );
    this.listAll = db.prepare<unknown[], OutboxRecord>(`SELECT * FROM webhook_outbox WHERE state = 'dead' AND seq > ? ORDER BY seq LIMIT ?`);
    this.listOf = db.prepare<unknown[], OutboxRecord>(`SELECT * FROM webhook_outbox WHERE state = 'dead' AND endpoint = ? AND seq > ? ORDER BY seq LIMIT ?`);
    const revive = `UPDATE webhook_outbox SET state = 'pending', attempts = 0, next_attempt_at = @now, finished_at = NULL, holder = NULL, lease_until = NULL WHERE state = 'dead'`;
    this.replaySeqs = db.prepare(`${revive} AND seq IN (SELECT value FROM json_each(@seqs))`);
    this.replayAll = db.prepare(revive);
    this.replayOf = db.prepare(`${revive} AND endpoint = @endpoint`);
    this.statsStmt = db.prepare<[], { pending: number; dead: number; oldest: number | null }>(
      `SELECT coalesce(sum(state = 'pending'), 0) AS pending, coalesce(sum(state = 'dead'), 0) AS dead,
              min(CASE WHEN state = 'pending' THEN created_at END) AS oldest
       FROM webhook_outbox WHERE state <> 'delivered'`,
    );
    this.pruneDelivered = db.prepare(`DELETE FROM webhook_outbox WHERE state = 'delivered' AND finished_at < ?`);
    this.pruneDead = db.prepare(`DELETE FROM webhook_outbox WHERE state = 'dead' AND finished_at < ?`);
  }

  enqueue(rows: readonly NewOutboxRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.database.committer.run(() => {
      for (const row of rows) {
        this.insert.run({ eventId: row.eventId, endpoint: row.endpoint, type: row.type, orderKey: row.orderKey, payload: row.payload, createdAt: row.createdAt });
      }
    });
  }

  claim(holder: string, now: number, leaseMs: number, limit: number): Promise<OutboxRow[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.database.committer.run(() => this.claimStmt.all({ holder, now, until: now + leaseMs, limit }).map(outboxRow).sort(bySeq));
  }

  markDelivered(seq: number, holder: string, now: number): Promise<boolean> {
    return this.database.committer.run(() => this.delivered.run({ seq, holder, now }).changes === 1);
  }

  markFailed(seq: number, holder: string, failure: { status?: number; error: string; nextAttemptAt: number }): Promise<boolean> {
    return this.database.committer.run(
      () => this.failed.run({ seq, holder, status: failure.status ?? null, error: failure.error, next: failure.nextAttemptAt }).changes === 1,
    );
  }

  markDead(seq: number, holder: string, failure: { status?: number; error: string; now: number }): Promise<boolean> {
    return this.database.committer.run(() => this.dead.run({ seq, holder, status: failure.status ?? null, error: failure.error, now: failure.now }).changes === 1);
  }

  async listDead(query: { endpoint?: string; cursor?: string; limit: number }): Promise<OutboxPage> {
    const after = deadCursor(query.cursor);
    if (query.limit <= 0) return { rows: [] };
    const records = query.endpoint === undefined ? this.listAll.all(after, query.limit + 1) : this.listOf.all(query.endpoint, after, query.limit + 1);
    return deadPage(records.map(outboxRow), query.limit);
  }

  replay(which: { seqs: readonly number[] } | { all: true; endpoint?: string }, now: number): Promise<number> {
    return this.database.committer.run(() => {
      if ('seqs' in which) return this.replaySeqs.run({ now, seqs: JSON.stringify(which.seqs) }).changes;
      if (which.endpoint !== undefined) return this.replayOf.run({ now, endpoint: which.endpoint }).changes;
      return this.replayAll.run({ now }).changes;
    });
  }

  async stats(): Promise<OutboxStats> {
    const row = this.statsStmt.get()!;
    const stats: OutboxStats = { pending: row.pending, dead: row.dead };
    if (row.oldest !== null) stats.oldestPendingAt = row.oldest;
    return stats;
  }

  prune(before: number, deadBefore: number): Promise<number> {
    return this.database.committer.run(() => this.pruneDelivered.run(before).changes + this.pruneDead.run(deadBefore).changes);
  }
}
