/** ActivityStore on the embedded SQLite database. */
import type { Activity } from '@tidings/protocol';
import type { ActivityPage, ActivityStore, NewActivity } from '../activity-store.js';
import type { SqliteDatabase } from './database.js';
import { fromJson, page, parseCursor, toJson } from './rows.js';

export interface SqliteActivityStoreOptions {
  /** Entries kept per scope; appending more deletes the oldest. */
  maxPerScope: number;
  /** Entries older than this are deleted by `prune` (0: kept until retention). */
  maxAgeMs: number;
}

interface Row {
  seq: number;
  scope: string;
  type: string;
  actor: string | null;
  action: string;
  target: string | null;
  data: string | null;
  created_at: number;
}

/** Ids are the sequence number, zero-padded so that ids sort like the feed. */
const activityId = (seq: number): string => `a_${String(seq).padStart(13, '0')}`;

function toActivity(row: Row): Activity {
  const a: Activity = { id: activityId(row.seq), scope: row.scope, type: row.type, action: row.action, createdAt: row.created_at };
  if (row.actor !== null) a.actor = fromJson(row.actor);
  if (row.target !== null) a.target = fromJson(row.target);
  if (row.data !== null) a.data = fromJson(row.data);
  return a;
}

export class SqliteActivityStore implements ActivityStore {
  private readonly insert;
  private readonly trim;
  private readonly listStmt;
  private readonly recentStmt;
  private readonly pruneOld;

  constructor(
    private readonly database: SqliteDatabase,
    private readonly options: SqliteActivityStoreOptions,
  ) {
    const db = database.db;
    this.insert = db.prepare<unknown[], Row>(`INSERT INTO activity (scope, type, actor, action, target, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`);
    this.trim = db.prepare(`DELETE FROM activity WHERE scope = @scope AND seq <= (SELECT seq FROM activity WHERE scope = @scope ORDER BY seq DESC LIMIT 1 OFFSET @keep)`);
    this.listStmt = db.prepare<unknown[], Row>(`SELECT * FROM activity WHERE scope = ? AND seq < ? ORDER BY seq DESC LIMIT ?`);
    // `seq` is the rowid: newest first across scopes walks the table itself, no index needed.
    this.recentStmt = db.prepare<unknown[], Row>(`SELECT * FROM activity WHERE seq < ? ORDER BY seq DESC LIMIT ?`);
    this.pruneOld = db.prepare(`DELETE FROM activity WHERE created_at < ?`);
  }

  append(entry: NewActivity, now: number): Promise<Activity> {
    return this.database.committer.run(() => {
      const row = this.insert.get(entry.scope, entry.type, toJson(entry.actor), entry.action, toJson(entry.target), toJson(entry.data), now)!;
      this.trim.run({ scope: entry.scope, keep: this.options.maxPerScope });
      return toActivity(row);
    });
  }

  async list(scope: string, query: { limit: number; cursor?: string }): Promise<ActivityPage> {
    return activityPage(this.listStmt.all(scope, before(query.cursor), query.limit + 1), query.limit);
  }

  async recent(query: { limit: number; cursor?: string }): Promise<ActivityPage> {
    return activityPage(this.recentStmt.all(before(query.cursor), query.limit + 1), query.limit);
  }

  prune(now: number): Promise<number> {
    if (this.options.maxAgeMs <= 0) return Promise.resolve(0);
    return this.database.committer.run(() => this.pruneOld.run(now - this.options.maxAgeMs).changes);
  }
}

/** The sequence number a page starts below. */
function before(cursor: string | undefined): number {
  return cursor === undefined ? Number.MAX_SAFE_INTEGER : parseCursor(fromActivityCursor(cursor));
}

function activityPage(rows: Row[], limit: number): ActivityPage {
  const { items, nextCursor } = page(rows, limit, toActivity);
  return nextCursor === undefined ? { activities: items } : { activities: items, nextCursor: activityId(Number(nextCursor)) };
}

/** An activity cursor is the id of the last entry of the page (`a_…`). */
function fromActivityCursor(cursor: string): string {
  const m = /^a_0*([1-9][0-9]{0,15})$/.exec(cursor);
  return m ? m[1]! : cursor;
}
