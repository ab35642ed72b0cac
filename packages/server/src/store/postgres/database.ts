/**
 * The PostgreSQL database behind the durable stores (`store: { type: postgres, url }`): a `pg`
 * Pool, shared by the three stores of a node.
 *
 * - **Lazy**: constructing it connects to nothing, so `createTidings` stays synchronous. The
 *   schema migrations (migrations.ts) start at once in the background; every operation waits for
 *   them. A failed attempt (PostgreSQL unreachable) is retried by the next operation, and each
 *   wait for a connection is bounded by `connectTimeoutMs`: a write fails with an error, it
 *   does not hang.
 * - **A write resolves after COMMIT**: each write is one transaction on one connection, with
 *   `synchronous_commit` at least `local` (a session where the server default is `off` is set
 *   to `on`), so a resolved write is in the fsynced WAL and survives a crash of PostgreSQL or of
 *   its machine. A COMMIT that fails or whose answer is lost rejects: the outcome is unknown,
 *   and a retry with the same idempotency key (notifications) stores at most once.
 * - No group commit of our own: concurrent writes run on the pool's connections in parallel and
 *   PostgreSQL flushes concurrent commits together.
 * - `status()` says whether the last contact with PostgreSQL worked, with the reason if not.
 *   While it is not ready, a background check (the migrations if they have not run, then
 *   `SELECT 1`, bounded by `connectTimeoutMs`) runs every `recheckMs` (one at a time, on an
 *   unref'd timer that stops once ready or closed), so readiness comes back within about
 *   `recheckMs` of PostgreSQL answering again, without waiting for a store call. Going down is
 *   noticed by a failed call or a broken idle connection, not by polling.
 * - An operation that fails because PostgreSQL is not there (refused, lost or timed-out
 *   connection, a server shutting down or starting up) rejects with a temporary `unavailable`
 *   TidingsError (the API answers 503: retry, with the idempotency key), its cause attached;
 *   an error PostgreSQL answered with (a constraint, a newer schema) is passed on as it is.
 */
import { ErrorCode } from '@tidings/protocol';
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import { TidingsError } from '../../errors.js';
import { migrate } from './migrations.js';

export interface PostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database?...` (libpq-style parameters, e.g. `sslmode`, `options=-c search_path=...`). */
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Longest wait for a connection, in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Called after each committed write (metrics): writes in the transaction (always 1) and ms taken. */
  onCommit?: (stats: { writes: number; ms: number }) => void;
  /** While not ready, how often the background check runs, in ms (default 1000). */
  recheckMs?: number;
}

export interface StoreStatus {
  ready: boolean;
  /** Why not, when not ready. */
  reason?: string;
}

export class PostgresDatabase {
  private readonly pool: pg.Pool;
  private schema: Promise<void> | undefined;
  private closed = false;
  private lastError: Error | undefined;
  private contacted = false;
  /** The background check's timer, set only while not ready (and not closed). */
  private recheckTimer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(private readonly options: PostgresDatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      // Idle connections do not keep the process alive.
      allowExitOnIdle: true,
      application_name: 'tidings',
      // A write is durable when it resolves, whatever the server's default says.
      onConnect: async (client) => {
        await client.query(`SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = 'off'`);
      },
    });
    // An idle connection that breaks (PostgreSQL restarted) is dropped by the pool; without a listener it would crash the process.
    this.pool.on('error', (err) => this.failed(err));
    this.ensureSchema().catch(() => {
      // Recorded in status(); the next operation tries again.
    });
  }

  /** Runs the migrations once (retried after a failure); every operation awaits it. */
  ensureSchema(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    this.schema ??= this.withClient(async (client) => {
      await migrate(client);
    }).catch((err: unknown) => {
      this.schema = undefined;
      throw err;
    });
    return this.schema;
  }

  /** One read, outside any transaction. */
  query<R extends QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return unavailableWhenGone(async () => {
      await this.ensureSchema();
      try {
        const result = await this.pool.query<R>(sql, params);
        this.succeeded();
        return result.rows;
      } catch (err) {
        this.noteError(err);
        throw err;
      }
    });
  }

  /** Runs `work` in one transaction; resolves with its result once COMMIT has returned. */
  transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return unavailableWhenGone(async () => this.transactionOnce(work));
  }

  private async transactionOnce<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    await this.ensureSchema();
    return this.withClient(async (client) => {
      const started = performance.now();
      await client.query('BEGIN');
      let result: T;
      try {
        result = await work(client);
      } catch (err) {
        // A failed statement (constraint, bad input) leaves the connection usable after ROLLBACK.
        await client.query('ROLLBACK');
        throw err;
      }
      await client.query('COMMIT');
      try {
        this.options.onCommit?.({ writes: 1, ms: performance.now() - started });
      } catch {
        // Metrics must not fail a commit that happened.
      }
      return result;
    });
  }

  /** A pooled connection for `work`; one that failed below SQL (connection lost) is discarded, not reused. */
  private async withClient<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      this.noteError(err);
      throw err;
    }
    let broken: Error | undefined;
    // Checked-out connections have no pool listener: a connection lost between statements must not crash the process.
    const onError = (err: Error) => {
      broken = err;
      this.failed(err);
    };
    client.on('error', onError);
    try {
      const result = await work(client);
      this.succeeded();
      return result;
    } catch (err) {
      this.noteError(err);
      if (!isSqlError(err)) broken ??= err as Error;
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  status(): StoreStatus {
    if (this.closed) return { ready: false, reason: 'store closed' };
    if (this.lastError) return { ready: false, reason: `PostgreSQL: ${this.lastError.message}` };
    if (!this.contacted) {
      // Not known to be down either (the first migration attempt still running): check too.
      this.startRechecks();
      return { ready: false, reason: 'PostgreSQL: not connected yet' };
    }
    return { ready: true };
  }

  /** Waits for operations in flight, then closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRechecks();
    await this.pool.end();
  }

  private succeeded(): void {
    this.contacted = true;
    this.lastError = undefined;
    this.stopRechecks();
  }

  private failed(err: Error): void {
    this.lastError = err;
    this.startRechecks();
  }

  /** Starts the background check while not ready (once; no-op when closed or already running). */
  private startRechecks(): void {
    if (this.closed || this.recheckTimer) return;
    this.recheckTimer = setInterval(() => void this.recheck(), this.options.recheckMs ?? 1000);
    this.recheckTimer.unref();
  }

  private stopRechecks(): void {
    clearInterval(this.recheckTimer);
    this.recheckTimer = undefined;
  }

  /**
   * One check, never two at once: the schema (if not applied yet) and `SELECT 1`, its outcome in
   * status(). A check that has not answered within `connectTimeoutMs` counts as failed; the next
   * one starts only after it settled, so a hung server holds at most one connection for checks.
   */
  private async recheck(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    const bound = this.options.connectTimeoutMs ?? 5000;
    const check = this.ensureSchema().then(() => this.pool.query('SELECT 1'));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`SELECT 1 did not answer within ${bound} ms`)), bound);
      timer.unref();
    });
    try {
      await Promise.race([check, late]);
      if (!this.closed) this.succeeded();
    } catch (err) {
      if (!this.closed) this.noteError(err);
    } finally {
      clearTimeout(timer);
    }
    await check.catch(() => undefined);
    this.checking = false;
  }

  /** SQL errors (a constraint, a bad cursor) say nothing about the connection. */
  private noteError(err: unknown): void {
    if (!isSqlError(err)) this.failed(err as Error);
  }
}

/** Runs `op`; a failure for want of PostgreSQL becomes a temporary `unavailable` error (its cause kept). */
async function unavailableWhenGone<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (!databaseGone(err)) throw err;
    const unavailable = new TidingsError(ErrorCode.Unavailable, 'the database did not answer; retry', { temporary: true });
    (unavailable as Error & { cause?: unknown }).cause = err;
    throw unavailable;
  }
}

/**
 * True for an error that says PostgreSQL was not there, here or in a cause: connection classes
 * (SQLSTATE 08, 57P: shut down or starting up, 53: out of resources), a socket error (ECONNREFUSED,
 * ECONNRESET, ...), or what the pg client says of a lost connection or a connect timeout.
 */
function databaseGone(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = (e as Error & { cause?: unknown }).cause, depth++) {
    if (e instanceof pg.DatabaseError) return /^(08|57P|53)/.test(e.code ?? '');
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
    if (/connection terminated|timeout exceeded when trying to connect|not queryable|connection timeout/i.test(e.message)) return true;
  }
  return false;
}

/** An error PostgreSQL answered with (it has a SQLSTATE), as opposed to a lost or refused connection. */
function isSqlError(err: unknown): boolean {
  return err instanceof pg.DatabaseError && !/^(08|57P|53)/.test(err.code ?? '');
}
