/** The store contract on real SQLite files, plus what only SQLite has: migrations, pragmas, group commit. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, test } from 'vitest';
import { DEFAULT_RETENTION, storeContract, type StoreSet } from '../stores.contract.js';
import { userChannelsContract, type UserChannelsSet } from '../user-channels.contract.js';
import { readReceiptsContract, type ReadReceiptsSet } from '../read-receipts.contract.js';
import { webhookOutboxContract, type OutboxSet } from '../webhook-outbox.contract.js';
import { sqliteStoresOptions, type StoreRetention } from '../store-retention.js';
import { SqliteDatabase } from './database.js';
import { MIGRATIONS } from './migrations.js';
import { openSqliteStores } from './sqlite-stores.js';

const dir = mkdtempSync(join(tmpdir(), 'tidings-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function openAt(path: string, r: StoreRetention): StoreSet {
  const s = openSqliteStores(sqliteStoresOptions(path, r));
  return {
    notifications: s.notifications,
    activity: s.activity,
    audit: s.audit,
    async reopen() {
      s.database.close();
      return openAt(path, r);
    },
    async close() {
      s.database.close();
    },
  };
}

storeContract('SQLite', async (r) => openAt(join(dir, `contract-${n++}.db`), r));

function outboxAt(path: string): OutboxSet {
  const s = openSqliteStores(sqliteStoresOptions(path, DEFAULT_RETENTION));
  return {
    outbox: s.webhooks,
    async reopen() {
      s.database.close();
      return outboxAt(path);
    },
    async close() {
      s.database.close();
    },
  };
}

webhookOutboxContract('SQLite', async () => outboxAt(join(dir, `outbox-${n++}.db`)));

function userChannelsAt(path: string): UserChannelsSet {
  const s = openSqliteStores(sqliteStoresOptions(path, DEFAULT_RETENTION));
  return { store: s.userChannels, reopen: async () => (s.database.close(), userChannelsAt(path)), close: async () => s.database.close() };
}
userChannelsContract('SQLite', async () => userChannelsAt(join(dir, `user-channels-${n++}.db`)));

function readReceiptsAt(path: string): ReadReceiptsSet {
  const s = openSqliteStores(sqliteStoresOptions(path, DEFAULT_RETENTION));
  return { store: s.readReceipts, reopen: async () => (s.database.close(), readReceiptsAt(path)), close: async () => s.database.close() };
}
readReceiptsContract('SQLite', async () => readReceiptsAt(join(dir, `read-receipts-${n++}.db`)));

describe('SqliteDatabase', () => {
  test('opens in WAL mode with synchronous=FULL and runs every migration once', () => {
    const path = join(dir, 'pragmas.db');
    const db = new SqliteDatabase({ path });
    expect(db.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.version).toBe(MIGRATIONS.length);
    db.close();
    const again = new SqliteDatabase({ path });
    expect(again.version).toBe(MIGRATIONS.length);
    again.close();
  });

  test('refuses a database from a newer Tidings', () => {
    const path = join(dir, 'newer.db');
    const raw = new Database(path);
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => new SqliteDatabase({ path })).toThrow(/schema version \d+ is newer than this Tidings knows/);
  });

  test('writes of one turn share one transaction; a failing write rolls back alone', async () => {
    const commits: number[] = [];
    const db = new SqliteDatabase({ path: join(dir, 'group.db'), onCommit: (s) => commits.push(s.writes) });
    db.db.exec('CREATE TABLE t (v INTEGER UNIQUE)');
    const insert = db.db.prepare('INSERT INTO t (v) VALUES (?)');
    const results = await Promise.allSettled([
      db.committer.run(() => insert.run(1).changes),
      db.committer.run(() => {
        insert.run(2);
        insert.run(1); // violates UNIQUE: this write, and its row 2, roll back
      }),
      db.committer.run(() => insert.run(3).changes),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(commits).toEqual([3]);
    expect(db.db.prepare('SELECT v FROM t ORDER BY v').pluck().all()).toEqual([1, 3]);
    // The next turn is a transaction of its own.
    await db.committer.run(() => insert.run(4));
    expect(commits).toEqual([3, 1]);
    db.close();
    await expect(db.committer.run(() => 1)).rejects.toThrow(/closed/);
  });

  test('a write that rolls back the whole transaction (disk full) fails the batch, and nothing of it is stored', async () => {
    const db = new SqliteDatabase({ path: join(dir, 'full.db') });
    db.db.exec('CREATE TABLE t (v TEXT)');
    const insert = db.db.prepare('INSERT INTO t (v) VALUES (?)');
    // Room for little more than what is there: a large row fills the "disk".
    const pages = db.db.pragma('page_count', { simple: true }) as number;
    db.db.pragma(`max_page_count = ${pages + 2}`);
    const results = await Promise.allSettled([
      db.committer.run(() => insert.run('a')),
      db.committer.run(() => insert.run('x'.repeat(1_000_000))),
      db.committer.run(() => insert.run('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(db.db.prepare('SELECT v FROM t').pluck().all()).toEqual([]);
    expect(db.db.inTransaction).toBe(false);
    // The next batch works again.
    await db.committer.run(() => insert.run('d'));
    expect(db.db.prepare('SELECT v FROM t').pluck().all()).toEqual(['d']);
    db.close();
  });
});
