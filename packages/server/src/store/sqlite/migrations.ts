/**
 * Schema migrations of the embedded database, in order. Migration N (1-based) takes
 * `PRAGMA user_version` from N-1 to N. Never edit a released migration: add one.
 */
export interface Migration {
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    name: 'notifications, activity, audit',
    sql: `
      CREATE TABLE notifications (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        id         TEXT NOT NULL UNIQUE,
        user       TEXT NOT NULL,
        type       TEXT NOT NULL,
        title      TEXT NOT NULL,
        message    TEXT,
        data       TEXT,
        actions    TEXT,
        priority   TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        read_at    INTEGER
      );
      CREATE INDEX notifications_by_user ON notifications (user, seq);
      CREATE INDEX notifications_unread ON notifications (user, seq) WHERE read_at IS NULL;
      CREATE INDEX notifications_expiry ON notifications (expires_at) WHERE expires_at IS NOT NULL;

      CREATE TABLE notification_keys (
        key        TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        ids        TEXT NOT NULL
      );
      CREATE INDEX notification_keys_age ON notification_keys (created_at);

      CREATE TABLE activity (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        scope      TEXT NOT NULL,
        type       TEXT NOT NULL,
        actor      TEXT,
        action     TEXT NOT NULL,
        target     TEXT,
        data       TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX activity_by_scope ON activity (scope, seq);
      CREATE INDEX activity_age ON activity (created_at);

      CREATE TABLE audit (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        time   INTEGER NOT NULL,
        type   TEXT NOT NULL,
        user   TEXT,
        fields TEXT NOT NULL
      );
      CREATE INDEX audit_time ON audit (time);
      CREATE INDEX audit_user ON audit (user, seq) WHERE user IS NOT NULL;
      CREATE INDEX audit_type ON audit (type, seq);
    `,
  },
  {
    name: 'index notifications by age, for the maxAge sweep',
    sql: `CREATE INDEX notifications_age ON notifications (created_at);`,
  },
  {
    name: 'webhook outbox',
    sql: `
      CREATE TABLE webhook_outbox (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id        TEXT NOT NULL,
        endpoint        TEXT NOT NULL,
        type            TEXT NOT NULL,
        order_key       TEXT NOT NULL,
        payload         TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending',
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        holder          TEXT,
        lease_until     INTEGER,
        last_status     INTEGER,
        last_error      TEXT,
        finished_at     INTEGER
      );
      CREATE UNIQUE INDEX webhook_outbox_event ON webhook_outbox (event_id, endpoint);
      CREATE INDEX webhook_outbox_pending ON webhook_outbox (endpoint, order_key, seq) WHERE state = 'pending';
      CREATE INDEX webhook_outbox_dead ON webhook_outbox (endpoint, seq) WHERE state = 'dead';
      CREATE INDEX webhook_outbox_finished ON webhook_outbox (state, finished_at) WHERE state <> 'pending';
    `,
  },
  {
    name: 'sticky server-side subscriptions of users',
    sql: `
      CREATE TABLE user_channels (
        user       TEXT NOT NULL,
        channel    TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user, channel)
      ) WITHOUT ROWID;
    `,
  },
  {
    name: 'channel history of the memory engine (history.store: sqlite)',
    sql: `
      CREATE TABLE history_streams (
        channel    TEXT PRIMARY KEY,
        epoch      TEXT NOT NULL,
        top        INTEGER NOT NULL,
        touched_at INTEGER NOT NULL,
        pool       TEXT,
        pool_max   INTEGER
      ) WITHOUT ROWID;

      CREATE TABLE history_items (
        seq        INTEGER PRIMARY KEY,
        channel    TEXT NOT NULL,
        pos        INTEGER NOT NULL,
        json       TEXT NOT NULL,
        info       TEXT,
        event      TEXT,
        expires_at INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX history_items_by_channel ON history_items (channel, pos);

      -- 'clean': the node that wrote this history stopped gracefully (deleted when a node loads it).
      CREATE TABLE history_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    name: 'read receipts of users per channel',
    sql: `
      CREATE TABLE read_receipts (
        channel     TEXT NOT NULL,
        user        TEXT NOT NULL,
        epoch       TEXT NOT NULL,
        read_offset INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        PRIMARY KEY (channel, user)
      ) WITHOUT ROWID;
      CREATE INDEX read_receipts_by_user ON read_receipts (user, channel);
      CREATE INDEX read_receipts_by_offset ON read_receipts (channel, epoch, read_offset DESC);
    `,
  },
  {
    // sqlite-history.ts deletes history rows by seq (it keeps each channel's seqs): the index by
    // (channel, pos) only cost a leaf page per channel in every batch's WAL write.
    name: 'history items without their index by channel',
    sql: `DROP INDEX IF EXISTS history_items_by_channel;`,
  },
];
