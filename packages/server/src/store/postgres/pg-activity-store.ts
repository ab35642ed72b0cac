/** ActivityStore on PostgreSQL: the semantics of the SQLite store (sqlite-activity-store.ts). */
import type { Activity } from '@tidings/protocol';
import type { ActivityPage, ActivityStore, NewActivity } from '../activity-store.js';
import { fromJson, page, parseCursor, toJson } from '../sqlite/rows.js';
import type { PostgresDatabase } from './database.js';
import { withSeq } from './rows.js';

export interface PgActivityStoreOptions {
  /** Entries kept per scope; appending more deletes the oldest. */
  maxPerScope: number;
  /** Entries older than this are deleted by `prune` (0: kept until retention). */
  maxAgeMs: number;
}

interface Row {
  seq: string;
  scope: string;
  type: string;
  actor: string | null;
  action: string;
  target: string | null;
  data: string | null;
  created_at: string;
}

/** Ids are the sequence number, zero-padded so that ids sort like the feed (as in the SQLite store). */
const activityId = (seq: number): string => `a_${String(seq).padStart(13, '0')}`;

function toActivity(row: Omit<Row, 'seq'> & { seq: number }): Activity {
  const a: Activity = { id: activityId(row.seq), scope: row.scope, type: row.type, action: row.action, createdAt: Number(row.created_at) };
  if (row.actor !== null) a.actor = fromJson(row.actor);
  if (row.target !== null) a.target = fromJson(row.target);
  if (row.data !== null) a.data = fromJson(row.data);
  return a;
}

/**
 * The sequence is one identity column for every scope, so ids increase across scopes in the
 * order rows are inserted (with several nodes: the order PostgreSQL hands out the numbers).
 */
export class PgActivityStore implements ActivityStore {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly options: PgActivityStoreOptions,
  ) {}

  append(entry: NewActivity, now: number): Promise<Activity> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<Row>(
        'INSERT INTO tidings_activity (scope, type, actor, action, target, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *',
        [entry.scope, entry.type, toJson(entry.actor), entry.action, toJson(entry.target), toJson(entry.data), now],
      );
      await client.query(
        `DELETE FROM tidings_activity WHERE scope = $1
         AND seq <= (SELECT seq FROM tidings_activity WHERE scope = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`,
        [entry.scope, this.options.maxPerScope],
      );
      return toActivity(withSeq(rows[0]!));
    });
  }

  async list(scope: string, query: { limit: number; cursor?: string }): Promise<ActivityPage> {
    const rows = await this.db.query<Row>('SELECT * FROM tidings_activity WHERE scope = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3', [scope, before(query.cursor), query.limit + 1]);
    return activityPage(rows, query.limit);
  }

  async recent(query: { limit: number; cursor?: string }): Promise<ActivityPage> {
    const rows = await this.db.query<Row>('SELECT * FROM tidings_activity WHERE seq < $1 ORDER BY seq DESC LIMIT $2', [before(query.cursor), query.limit + 1]);
    return activityPage(rows, query.limit);
  }

  prune(now: number): Promise<number> {
    if (this.options.maxAgeMs <= 0) return Promise.resolve(0);
    return this.db.transaction(async (client) => (await client.query('DELETE FROM tidings_activity WHERE created_at < $1', [now - this.options.maxAgeMs])).rowCount ?? 0);
  }
}

/** The sequence number a page starts below; an activity cursor is the id of the page's last entry (`a_…`). */
function before(cursor: string | undefined): number {
  if (cursor === undefined) return Number.MAX_SAFE_INTEGER;
  const m = /^a_0*([1-9][0-9]{0,15})$/.exec(cursor);
  return parseCursor(m ? m[1]! : cursor);
}

function activityPage(rows: Row[], limit: number): ActivityPage {
  const { items, nextCursor } = page(rows.map(withSeq), limit, toActivity);
  return nextCursor === undefined ? { activities: items } : { activities: items, nextCursor: activityId(Number(nextCursor)) };
}
