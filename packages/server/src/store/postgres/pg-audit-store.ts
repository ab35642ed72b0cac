/** AuditStore on PostgreSQL: the semantics of the SQLite store (sqlite-audit-store.ts). */
import type { AuditPage, AuditQuery, AuditRecord, AuditStore, NewAuditRecord } from '../audit-store.js';
import { page, parseCursor } from '../sqlite/rows.js';
import type { PostgresDatabase } from './database.js';
import { withSeq } from './rows.js';

export interface PgAuditStoreOptions {
  /** Events older than this are deleted by `prune`. */
  retentionMs: number;
  /** At most this many events are kept (0: no limit). */
  maxRows: number;
}

interface Row {
  seq: string;
  time_ms: string;
  type: string;
  user_id: string | null;
  fields: string;
}

function toRecord(row: Omit<Row, 'seq'> & { seq: number }): AuditRecord {
  return { id: row.seq, time: Number(row.time_ms), type: row.type, ...(row.user_id !== null ? { user: row.user_id } : {}), ...(JSON.parse(row.fields) as object) };
}

export class PgAuditStore implements AuditStore {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly options: PgAuditStoreOptions,
  ) {}

  /** The batch is one statement: all of it or none, ids in the batch's order. */
  append(records: NewAuditRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const times: number[] = [];
    const types: string[] = [];
    const users: Array<string | null> = [];
    const fields: string[] = [];
    for (const { time, type, user, ...rest } of records) {
      times.push(time);
      types.push(type);
      users.push(user ?? null);
      fields.push(JSON.stringify(rest));
    }
    return this.db.transaction(async (client) => {
      await client.query(
        `INSERT INTO tidings_audit (time_ms, type, user_id, fields)
         SELECT r.time_ms, r.type, r.user_id, r.fields
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS r(time_ms, type, user_id, fields, n) ORDER BY r.n`,
        [times, types, users, fields],
      );
    });
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    const params: unknown[] = [parseCursor(query.cursor)];
    const where = ['seq < $1'];
    const add = (condition: string, value: unknown) => {
      params.push(value);
      where.push(condition.replace('?', `$${params.length}`));
    };
    if (query.user !== undefined) add('user_id = ?', query.user);
    if (query.type !== undefined) add('type = ?', query.type);
    if (query.since !== undefined) add('time_ms >= ?', query.since);
    if (query.until !== undefined) add('time_ms < ?', query.until);
    params.push(query.limit + 1);
    const rows = await this.db.query<Row>(`SELECT * FROM tidings_audit WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.length}`, params);
    const { items, nextCursor } = page(rows.map(withSeq), query.limit, toRecord);
    return nextCursor === undefined ? { events: items } : { events: items, nextCursor };
  }

  prune(now: number): Promise<number> {
    return this.db.transaction(async (client) => {
      let n = (await client.query('DELETE FROM tidings_audit WHERE time_ms < $1', [now - this.options.retentionMs])).rowCount ?? 0;
      if (this.options.maxRows > 0) {
        n += (await client.query('DELETE FROM tidings_audit WHERE seq <= (SELECT seq FROM tidings_audit ORDER BY seq DESC OFFSET $1 LIMIT 1)', [this.options.maxRows])).rowCount ?? 0;
      }
      return n;
    });
  }
}
