/**
 * Durable activity feeds: one append-only feed per scope (`global`, `project-7`, ...).
 * Implementations: `SqliteActivityStore`; every implementation passes activity-store.contract.ts.
 */
import type { Activity } from '@tidings/protocol';

export type NewActivity = Omit<Activity, 'id' | 'createdAt'>;

export interface ActivityPage {
  /** Newest first. */
  activities: Activity[];
  nextCursor?: string;
}

/**
 * Guarantees every implementation keeps:
 * - **Durable on resolve**: an appended entry survives a crash once `append` resolves.
 * - **Order**: ids of one scope increase in append order; pages are newest first and a
 *   cursor continues after the previous page's last entry.
 * - **Retention**: a scope keeps at most `maxPerScope` entries, and none older than `maxAge` after a prune.
 * - **Across scopes**: ids increase in append order across every scope too, so `recent`
 *   lists the entries of all scopes newest first (append order, the same order `list`
 *   keeps within one scope) and takes the same cursors: the id of a page's last entry.
 */
export interface ActivityStore {
  append(entry: NewActivity, now: number): Promise<Activity>;
  /** Throws BadCursorError for a cursor it did not make. */
  list(scope: string, query: { limit: number; cursor?: string }): Promise<ActivityPage>;
  /**
   * A page of every scope's entries, newest first, each carrying its `scope`: the
   * operator's view (the server API), never offered to clients. Throws BadCursorError
   * for a cursor it did not make.
   */
  recent(query: { limit: number; cursor?: string }): Promise<ActivityPage>;
  prune(now: number): Promise<number>;
}
