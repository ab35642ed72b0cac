/**
 * The embedded SQLite database (better-sqlite3) behind the durable stores.
 *
 * Opened in WAL mode with `synchronous=FULL`: a transaction that has committed is in
 * the WAL file and fsynced, so it survives a crash of the process or of the machine.
 * Schema migrations (migrations.ts) are versioned with `PRAGMA user_version` and run
 * when the database opens.
 *
 * better-sqlite3 is synchronous and runs on the thread that also fans out
 * publications, so writes are group-committed (`GroupCommitter`): every write of
 * one event-loop turn goes into one transaction, one fsync.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { GroupCommitter, type CommitStats } from './group-commit.js';

export type SqliteHandle = Database.Database;

export interface SqliteDatabaseOptions {
  /** File path, or `:memory:` (tests only: nothing survives the process). */
  path: string;
  /** Called after each group commit (metrics). */
  onCommit?: (stats: CommitStats) => void;
}

export class SqliteDatabase {
  readonly db: SqliteHandle;
  readonly committer: GroupCommitter;
  readonly path: string;
  private closed = false;

  constructor(options: SqliteDatabaseOptions) {
    this.path = options.path;
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      // Another process holding the write lock (a backup, the CLI) is waited for, not failed on.
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.committer = new GroupCommitter(this.db, options.onCommit);
  }

  /** The schema version this database is at. */
  get version(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const current = this.version;
    const latest = MIGRATIONS.length;
    if (current > latest) {
      throw new Error(`${this.path}: schema version ${current} is newer than this Tidings knows (${latest}); upgrade Tidings or use another store.path`);
    }
    for (let v = current; v < latest; v++) {
      const migration = MIGRATIONS[v]!;
      this.db.transaction(() => {
        this.db.exec(migration.sql);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** Commits what is queued, then closes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.committer.close();
    this.db.close();
  }
}
