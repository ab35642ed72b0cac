/**
 * Group commit: writes queued during one event-loop turn run in one SQLite
 * transaction (one fsync), and each caller's promise settles after that commit.
 *
 * Each write runs in its own savepoint inside the shared transaction, so one that
 * throws is rolled back alone and rejects alone; the others commit.
 */
import type Database from 'better-sqlite3';

export interface CommitStats {
  /** Writes in the transaction. */
  writes: number;
  /** Time the transaction took, fsync included, in ms. */
  ms: number;
}

interface Pending {
  op: () => unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    private readonly db: Database.Database,
    private readonly onCommit?: (stats: CommitStats) => void,
  ) {}

  /** Runs `op` (synchronous SQLite work) in the next group commit; resolves with its result once committed. */
  run<T>(op: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Writes waiting for the next commit. */
  get pending(): number {
    return this.queue.length;
  }

  /** Commits everything queued now (also called by the scheduled turn). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    const started = performance.now();
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          try {
            // A nested transaction function is a savepoint.
            outcomes.push({ ok: true, value: this.db.transaction(item.op)() });
          } catch (err) {
            // Some errors (disk full, I/O) roll back the whole transaction, not just the savepoint:
            // the rest of the batch must not run outside it. Every caller is rejected below.
            if (!this.db.inTransaction) throw err;
            outcomes.push({ ok: false, err });
          }
        }
      })();
    } catch (err) {
      // The commit itself failed (disk full, I/O error): nothing of the batch is stored.
      for (const item of batch) item.reject(err);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.err);
    });
    try {
      this.onCommit?.({ writes: batch.length, ms: performance.now() - started });
    } catch {
      // Metrics must not fail a commit that happened.
    }
  }

  /** Commits what is queued; later writes are refused. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
