/**
 * WebhookOutbox on PostgreSQL (the guarantees are in ../webhook-outbox.ts), shared by every node.
 *
 * `claim` is one statement: the head (lowest seq) of each pending (endpoint, order_key), locked
 * `FOR UPDATE SKIP LOCKED` and leased in the same UPDATE. Two nodes claiming at once: a row
 * another claim has locked is skipped; one it leased and committed meanwhile is re-read under
 * the lock (READ COMMITTED re-checks the locked row's own conditions, due and not leased, on its
 * newest version) and left out. So no row goes to two holders, and a key's later row is never
 * taken while its head is held, because the head, not the next row, is what a claim considers.
 */
import type { NewOutboxRow, OutboxPage, OutboxRow, OutboxStats, WebhookOutbox } from '../webhook-outbox.js';
import { deadCursor, deadPage, outboxRow, type OutboxRecord } from '../sqlite/sqlite-webhook-outbox.js';
import type { PostgresDatabase } from './database.js';

const TABLE = 'tidings_webhook_outbox';
const bySeq = (a: OutboxRow, b: OutboxRow) => a.seq - b.seq;

export class PgWebhookOutbox implements WebhookOutbox {
  constructor(private readonly db: PostgresDatabase) {}

  async enqueue(rows: readonly NewOutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    const col = <K extends keyof NewOutboxRow>(k: K) => rows.map((r) => r[k]);
    await this.db.transaction((client) =>
      client.query(
        `INSERT INTO ${TABLE} (event_id, endpoint, type, order_key, payload, created_at, next_attempt_at)
         SELECT r.event_id, r.endpoint, r.type, r.order_key, r.payload, r.created_at, r.created_at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY
           AS r(event_id, endpoint, type, order_key, payload, created_at, n)
         ORDER BY r.n
         ON CONFLICT (event_id, endpoint) DO NOTHING`,
        [col('eventId'), col('endpoint'), col('type'), col('orderKey'), col('payload'), col('createdAt')],
      ),
    );
  }

  async claim(holder: string, now: number, leaseMs: number, limit: number): Promise<OutboxRow[]> {
    if (limit <= 0) return [];
    const rows = await this.db.transaction(async (client) => {
      const { rows } = await client.query<OutboxRecord>(
        `WITH heads AS (
           SELECT DISTINCT ON (endpoint, order_key) seq FROM ${TABLE} WHERE state = 'pending' ORDER BY endpoint, order_key, seq
         ), picked AS (
           SELECT o.seq FROM ${TABLE} o JOIN heads h ON h.seq = o.seq
           WHERE o.state = 'pending' AND o.next_attempt_at <= $2 AND (o.lease_until IS NULL OR o.lease_until <= $2)
           ORDER BY o.seq LIMIT $4
           FOR UPDATE OF o SKIP LOCKED
         )
         UPDATE ${TABLE} t SET holder = $1, lease_until = $3 FROM picked WHERE t.seq = picked.seq
         RETURNING t.*`,
        [holder, now, now + leaseMs, limit],
      );
      return rows;
    });
    return rows.map(outboxRow).sort(bySeq);
  }

  /** One guarded UPDATE of a row `holder` holds; resolves whether it applied. */
  private async held(seq: number, holder: string, set: string, params: unknown[]): Promise<boolean> {
    const result = await this.db.transaction((client) =>
      client.query(`UPDATE ${TABLE} SET ${set}, attempts = attempts + 1, holder = NULL, lease_until = NULL WHERE seq = $1 AND state = 'pending' AND holder = $2`, [
        seq,
        holder,
        ...params,
      ]),
    );
    return result.rowCount === 1;
  }

  markDelivered(seq: number, holder: string, now: number): Promise<boolean> {
    return this.held(seq, holder, `state = 'delivered', finished_at = $3`, [now]);
  }

  markFailed(seq: number, holder: string, failure: { status?: number; error: string; nextAttemptAt: number }): Promise<boolean> {
    return this.held(seq, holder, `last_status = $3, last_error = $4, next_attempt_at = $5`, [failure.status ?? null, failure.error, failure.nextAttemptAt]);
  }

  markDead(seq: number, holder: string, failure: { status?: number; error: string; now: number }): Promise<boolean> {
    return this.held(seq, holder, `state = 'dead', last_status = $3, last_error = $4, finished_at = $5`, [failure.status ?? null, failure.error, failure.now]);
  }

  async listDead(query: { endpoint?: string; cursor?: string; limit: number }): Promise<OutboxPage> {
    const after = deadCursor(query.cursor);
    if (query.limit <= 0) return { rows: [] };
    const rows =
      query.endpoint === undefined
        ? await this.db.query<OutboxRecord>(`SELECT * FROM ${TABLE} WHERE state = 'dead' AND seq > $1 ORDER BY seq LIMIT $2`, [after, query.limit + 1])
        : await this.db.query<OutboxRecord>(`SELECT * FROM ${TABLE} WHERE state = 'dead' AND endpoint = $3 AND seq > $1 ORDER BY seq LIMIT $2`, [after, query.limit + 1, query.endpoint]);
    return deadPage(rows.map(outboxRow), query.limit);
  }

  async replay(which: { seqs: readonly number[] } | { all: true; endpoint?: string }, now: number): Promise<number> {
    const revive = `UPDATE ${TABLE} SET state = 'pending', attempts = 0, next_attempt_at = $1, finished_at = NULL, holder = NULL, lease_until = NULL WHERE state = 'dead'`;
    const [sql, params] =
      'seqs' in which
        ? [`${revive} AND seq = ANY($2::bigint[])`, [now, which.seqs]]
        : which.endpoint !== undefined
          ? [`${revive} AND endpoint = $2`, [now, which.endpoint]]
          : [revive, [now]];
    const result = await this.db.transaction((client) => client.query(sql, params));
    return result.rowCount ?? 0;
  }

  async stats(): Promise<OutboxStats> {
    const [row] = await this.db.query<{ pending: number; dead: number; oldest: string | null }>(
      `SELECT (count(*) FILTER (WHERE state = 'pending'))::int AS pending, (count(*) FILTER (WHERE state = 'dead'))::int AS dead,
              min(created_at) FILTER (WHERE state = 'pending') AS oldest
       FROM ${TABLE} WHERE state <> 'delivered'`,
    );
    const stats: OutboxStats = { pending: row!.pending, dead: row!.dead };
    if (row!.oldest !== null) stats.oldestPendingAt = Number(row!.oldest);
    return stats;
  }

  prune(before: number, deadBefore: number): Promise<number> {
    return this.db.transaction(async (client) => {
      const delivered = await client.query(`DELETE FROM ${TABLE} WHERE state = 'delivered' AND finished_at < $1`, [before]);
      const dead = await client.query(`DELETE FROM ${TABLE} WHERE state = 'dead' AND finished_at < $1`, [deadBefore]);
      return (delivered.rowCount ?? 0) + (dead.rowCount ?? 0);
    });
  }
}
