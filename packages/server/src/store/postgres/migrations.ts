/**
 * Schema migrations of the PostgreSQL store, in order. Migration N (1-based) is recorded as
 * version N in `tidings_schema_migrations` when it commits. Never edit a released migration: add one.
 *
 * `migrate` runs at open on every node. Several nodes starting at once take turns on a
 * session-level advisory lock (per schema), so each migration is applied once: the others wait,
 * then find it recorded. Each migration is one transaction with its version row (DDL is
 * transactional in PostgreSQL): a crash mid-migration leaves the previous version.
 *
 * Times are ms since the epoch in BIGINT; JSON fields are stored as the text the SQLite store
 * keeps (exactly what was given back, key order included).
 */
import type { PoolClient } from 'pg';

export interface Migration {
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    name: 'notifications, idempotency keys, activity, audit',
    sql: `
      CREATE TABLE tidings_notifications (
        seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        user_id    TEXT NOT NULL,
        type       TEXT NOT NULL,
        title      TEXT NOT NULL,
        message    TEXT,
        data       TEXT,
        actions    TEXT,
        priority   TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        read_at    BIGINT
      );
      CREATE INDEX tidings_notifications_by_user ON tidings_notifications (user_id, seq);
      CREATE INDEX tidings_notifications_unread ON tidings_notifications (user_id, seq) WHERE read_at IS NULL;
      CREATE INDEX tidings_notifications_expiry ON tidings_notifications (expires_at) WHERE expires_at IS NOT NULL;
      CREATE INDEX tidings_notifications_age ON tidings_notifications (created_at);

      -- One row per idempotency key: the primary key is what makes a create exactly-once
      -- across nodes. ids is NULL only inside the creating transaction.
      CREATE TABLE tidings_notification_keys (
        key        TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        ids        TEXT
      );
      CREATE INDEX tidings_notification_keys_age ON tidings_notification_keys (created_at);

      CREATE TABLE tidings_activity (
        seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        scope      TEXT NOT NULL,
        type       TEXT NOT NULL,
        actor      TEXT,
        action     TEXT NOT NULL,
        target     TEXT,
        data       TEXT,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX tidings_activity_by_scope ON tidings_activity (scope, seq);
      CREATE INDEX tidings_activity_age ON tidings_activity (created_at);

      CREATE TABLE tidings_audit (
        seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time_ms BIGINT NOT NULL,
        type    TEXT NOT NULL,
        user_id TEXT,
        fields  TEXT NOT NULL
      );
      CREATE INDEX tidings_audit_time ON tidings_audit (time_ms);
      CREATE INDEX tidings_audit_user ON tidings_audit (user_id, seq) WHERE user_id IS NOT NULL;
      CREATE INDEX tidings_audit_type ON tidings_audit (type, seq);
    `,
  },
  {
    name: 'sticky server-side subscriptions of users',
    sql: `
      CREATE TABLE tidings_user_channels (
        user_id    TEXT NOT NULL,
        channel    TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (user_id, channel)
      );
    `,
  },
  {
    name: 'webhook outbox',
    sql: `
      CREATE TABLE tidings_webhook_outbox (
        seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id        TEXT NOT NULL,
        endpoint        TEXT NOT NULL,
        type            TEXT NOT NULL,
        order_key       TEXT NOT NULL,
        payload         TEXT NOT NULL,
        created_at      BIGINT NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending',
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        holder          TEXT,
        lease_until     BIGINT,
        last_status     INTEGER,
        last_error      TEXT,
        finished_at     BIGINT
      );
      CREATE UNIQUE INDEX tidings_webhook_outbox_event ON tidings_webhook_outbox (event_id, endpoint);
      CREATE INDEX tidings_webhook_outbox_pending ON tidings_webhook_outbox (endpoint, order_key, seq) WHERE state = 'pending';
      CREATE INDEX tidings_webhook_outbox_dead ON tidings_webhook_outbox (endpoint, seq) WHERE state = 'dead';
      CREATE INDEX tidings_webhook_outbox_finished ON tidings_webhook_outbox (state, finished_at) WHERE state <> 'pending';
    `,
  },
  {
    name: 'read receipts of users per channel',
    sql: `
      CREATE TABLE tidings_read_receipts (
        channel     TEXT NOT NULL,
        user_id     TEXT NOT NULL,
        epoch       TEXT NOT NULL,
        read_offset BIGINT NOT NULL,
        at          BIGINT NOT NULL,
        PRIMARY KEY (channel, user_id)
      );
      CREATE INDEX tidings_read_receipts_by_user ON tidings_read_receipts (user_id, channel);
      CREATE INDEX tidings_read_receipts_by_offset ON tidings_read_receipts (channel, epoch, read_offset DESC);
    `,
  },
];

/** First key of the two-key advisory lock (the second is the schema's hash): "tidi". */
const LOCK_CLASS = 0x74696469;

/** Brings the schema of the client's `current_schema()` to the latest version; resolves with it. */
export async function migrate(client: PoolClient, migrations: readonly Migration[] = MIGRATIONS): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1, hashtext(current_schema()))', [LOCK_CLASS]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS tidings_schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT coalesce(max(version), 0)::int AS version FROM tidings_schema_migrations');
    const current = rows[0]!.version;
    const latest = migrations.length;
    if (current > latest) {
      throw new Error(`PostgreSQL store: schema version ${current} is newer than this Tidings knows (${latest}); upgrade Tidings or use another database or schema`);
    }
    for (let v = current; v < latest; v++) {
      const migration = migrations[v]!;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO tidings_schema_migrations (version, name) VALUES ($1, $2)', [v + 1, migration.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`PostgreSQL store: migration ${v + 1} (${migration.name}) failed: ${(err as Error).message}`, { cause: err });
      }
    }
    return latest;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, hashtext(current_schema()))', [LOCK_CLASS]);
  }
}
