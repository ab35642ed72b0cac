/**
 * Where the memory engine's history lives (`history.store`): in memory only, or also in the
 * node's SQLite database (store/sqlite/sqlite-history.ts), loaded when the node starts.
 *
 * `sqlite` applies to one node running a memory engine of its own on the SQLite store. Elsewhere
 * it is ignored, and `ignored` says why (node.ts logs it as a warning): the Redis engine keeps
 * history in Redis (with Redis's own persistence), `store.type: postgres` has no SQLite database,
 * the workers of `--workers` use the primary's memory engine, and an engine given to
 * `createTidings` is the caller's.
 */
import type { TidingsConfig } from '../config/schema.js';
import type { HistoryPersistence } from '../engine/memory/history-persistence.js';
import type { SqliteDatabase } from './sqlite/database.js';
import { SqliteHistory } from './sqlite/sqlite-history.js';

export interface HistoryStoreChoice {
  /** The durable copy to hand the memory engine; undefined: history in memory only. */
  persistence: HistoryPersistence | undefined;
  /** Why `history.store: sqlite` does not apply here, when it does not. */
  ignored: string | undefined;
  /** The node stops gracefully: the queued history changes, and the mark that they are complete, go to the database's group commit (call before it closes). */
  close(): void;
}

/** Why `history.store: sqlite` cannot apply to this node, or undefined when it can. */
export function historyStoreIgnored(config: TidingsConfig, engineGiven: boolean, database: SqliteDatabase | undefined): string | undefined {
  if (config.history.store !== 'sqlite') return undefined;
  const why = (reason: string) => `history.store: sqlite is ignored (history stays in memory): ${reason}`;
  if (engineGiven) return why(config.workers !== 1 ? 'with --workers, the primary holds the memory engine' : 'the engine is given to createTidings');
  if (config.engine.type === 'redis') return why('the Redis engine keeps history in Redis (use Redis persistence)');
  if (config.store.type === 'postgres') return why('it needs the SQLite store (store.type: sqlite)');
  if (!database) return why('every durable store was given, no SQLite database is open');
  return undefined;
}

/** The history store of a node; `onError`: a batch of history changes that could not be written (each message once in a row). */
export function openHistoryStore(config: TidingsConfig, engineGiven: boolean, database: SqliteDatabase | undefined, onError: (error: Error) => void): HistoryStoreChoice {
  const ignored = historyStoreIgnored(config, engineGiven, database);
  if (config.history.store !== 'sqlite' || ignored !== undefined || !database) return { persistence: undefined, ignored, close: () => {} };
  // A disk that stays full fails every batch: each message once until another one comes.
  let last = '';
  const report = (error: Error) => {
    if (error.message === last) return;
    last = error.message;
    onError(error);
  };
  const history = new SqliteHistory(database, report);
  return { persistence: history, ignored: undefined, close: () => history.close() };
}
