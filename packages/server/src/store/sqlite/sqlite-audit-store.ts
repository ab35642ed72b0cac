/** AuditStore on the embedded SQLite database. */
import type { AuditPage, AuditQuery, AuditRecord, AuditStore, NewAuditRecord } from '../audit-store.js';
import type { SqliteDatabase } from './database.js';
import { page, parseCursor } from './rows.js';

export interface SqliteAuditStoreOptions {
  /** Events older than this are deleted by `prune`. */
  retentionMs: number;
  /** At most this many events are kept (0: no limit). */
  maxRows: number;
}

interface Row {
  seq: number;
  time: number;
  type: string;
  user: string | null;
  fields: string;
}

function toRecord(row: Row): AuditRecord {
  return { id: row.seq, time: row.time, type: row.type, ...(row.user !== null ? { user: row.user } : {}), ...(JSON.parse(row.fields) as object) };
}

export class SqliteAuditStore implements AuditStore {
  private readonly insert;
  private readonly pruneOld;
  private readonly pruneRows;
  /** Query statements by filter combination (at most 16). */
  private readonly queries = new Map<string, ReturnType<SqliteDatabase['db']['prepare']>>();

  constructor(
    private readonly database: SqliteDatabase,
    private readonly options: SqliteAuditStoreOptions,
  ) {
    const db = database.db;
    this.insert = db.prepare(`INSERT INTO audit (time, type, user, fields) VALUES (?, ?, ?, ?)`);
    this.pruneOld = db.prepare(`DELETE FROM audit WHERE time < ?`);
    this.pruneRows = db.prepare(`DELETE FROM audit WHERE seq <= (SELECT seq FROM audit ORDER BY seq DESC LIMIT 1 OFFSET ?)`);
  }

  append(records: NewAuditRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return this.database.committer.run(() => {
      for (const { time, type, user, ...fields } of records) this.insert.run(time, type, user ?? null, JSON.stringify(fields));
    });
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    const where = ['seq < @before'];
    const params: Record<string, unknown> = { before: parseCursor(query.cursor), limit: query.limit + 1 };
    if (query.user !== undefined) {
      where.push('user = @user');
      params.user = query.user;
    }
    if (query.type !== undefined) {
      where.push('type = @type');
      params.type = query.type;
    }
    if (query.since !== undefined) {
      where.push('time >= @since');
      params.since = query.since;
    }
    if (query.until !== undefined) {
      where.push('time < @until');
      params.until = query.until;
    }
    const sql = `SELECT * FROM audit WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT @limit`;
    let stmt = this.queries.get(sql);
    if (!stmt) {
      stmt = this.database.db.prepare(sql);
      this.queries.set(sql, stmt);
    }
    const { items, nextCursor } = page(stmt.all(params) as Row[], query.limit, toRecord);
    return nextCursor === undefined ? { events: items } : { events: items, nextCursor };
  }

  prune(now: number): Promise<number> {
    return this.database.committer.run(() => {
      let n = this.pruneOld.run(now - this.options.retentionMs).changes;
      if (this.options.maxRows > 0) n += this.pruneRows.run(this.options.maxRows).changes;
      return n;
    });
  }
}
