/** StoredAuditLog against a real SQLite audit store: batching, bounds, and what reaches the store. */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { SqliteDatabase } from '../store/sqlite/database.js';
import { SqliteAuditStore } from '../store/sqlite/sqlite-audit-store.js';
import { StoredAuditLog } from './audit-log.js';

const opened: Array<{ log: StoredAuditLog; db: SqliteDatabase }> = [];
afterEach(async () => {
  for (const { log, db } of opened.splice(0)) {
    await log.close();
    db.close();
  }
});

function make(maxQueue = 100_000) {
  const commits: number[] = [];
  const db = new SqliteDatabase({ path: ':memory:', onCommit: (s) => commits.push(s.writes) });
  const store = new SqliteAuditStore(db, { retentionMs: 86_400_000, maxRows: 0 });
  const counts = { written: 0, dropped: 0 };
  // An interval long enough that only explicit flushes write.
  const log = new StoredAuditLog({
    log: createLogger('silent'),
    store,
    flushIntervalMs: 60_000,
    maxQueue,
    pruneIntervalMs: 60_000,
    onWritten: (n) => (counts.written += n),
    onDropped: (n) => (counts.dropped += n),
  });
  opened.push({ log, db });
  return { log, store, commits, counts };
}

describe('StoredAuditLog', () => {
  it('stores a long queue in bounded batches, one commit each, in order', async () => {
    const { log, store, commits, counts } = make();
    for (let i = 0; i < 4500; i++) log.emit({ type: 'connect', client: `c${i}`, user: `u${i % 7}`, ip: '127.0.0.1', transport: 'websocket' });
    await log.flush();
    expect(commits).toEqual([1, 1, 1]);
    expect(counts).toEqual({ written: 4500, dropped: 0 });
    const page = await log.query({ limit: 3 });
    expect(page.events.map((e) => e.client)).toEqual(['c4499', 'c4498', 'c4497']);
    expect((await store.query({ user: 'u3', limit: 1000 })).events).toHaveLength(643);
  });

  it('drops and counts events beyond maxQueue instead of growing', async () => {
    const { log, counts } = make(10);
    for (let i = 0; i < 25; i++) log.emit({ type: 'limit_hit', limit: 'command_rate', client: `c${i}` });
    await log.flush();
    expect(counts).toEqual({ written: 10, dropped: 15 });
    // Anonymous connections (user "") are stored without a user.
    log.emit({ type: 'disconnect', client: 'anon', user: '', code: 1000, reason: '' });
    await log.flush();
    const [last] = (await log.query({ limit: 1 })).events;
    expect(last).toMatchObject({ type: 'disconnect', client: 'anon', code: 1000 });
    expect(last).not.toHaveProperty('user');
  });
});
