/**
 * The store contract on a real PostgreSQL (test-support/postgres-server.ts; each open gets a
 * fresh schema), plus what only the shared database has: exactly-once creation from two nodes,
 * durability across a crash of PostgreSQL, migrations run by nodes starting at once.
 *
 * The server runs with `synchronous_commit=off` and the longest `wal_writer_delay`: a deployment
 * whose default would lose acknowledged commits in a crash. The store must be durable anyway.
 */
import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pgMissing, startPostgres, type PostgresServer } from '../../test-support/postgres-server.js';
import { DEFAULT_RETENTION, storeContract, type StoreRetention, type StoreSet } from '../stores.contract.js';
import { userChannelsContract, type UserChannelsSet } from '../user-channels.contract.js';
import { readReceiptsContract, type ReadReceiptsSet } from '../read-receipts.contract.js';
import { outboxRow, webhookOutboxContract, type OutboxSet } from '../webhook-outbox.contract.js';
import type { OutboxRow } from '../webhook-outbox.js';
import { resolveConfig } from '../../config/schema.js';
import { createTidings } from '../../node.js';
import { openStores } from '../open-stores.js';
import { PostgresDatabase } from './database.js';
import { MIGRATIONS } from './migrations.js';
import { openPostgresStores } from './postgres-stores.js';

const T0 = 1_767_225_600_000;
const skip = pgMissing();
let server: PostgresServer;
let schemas = 0;

/** A fresh schema on the test server; resolves with a URL whose connections use it. */
async function freshSchema(): Promise<string> {
  const schema = `t${process.pid}_${schemas++}`;
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
  return `${server.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

function openAt(url: string, r: StoreRetention): StoreSet & { database: PostgresDatabase } {
  const s = openPostgresStores({
    url,
    poolSize: 4,
    notifications: { maxPerUser: r.maxPerUser, maxAgeMs: r.notificationMaxAgeMs, idempotencyWindowMs: r.idempotencyWindowMs },
    activity: { maxPerScope: r.maxPerScope, maxAgeMs: r.activityMaxAgeMs },
    audit: { retentionMs: r.auditRetentionMs, maxRows: r.auditMaxRows },
  });
  return {
    database: s.database,
    notifications: s.notifications,
    activity: s.activity,
    audit: s.audit,
    async reopen() {
      await s.database.close();
      return openAt(url, r);
    },
    close: () => s.database.close(),
  };
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(skip)('PostgreSQL stores', () => {
  beforeAll(async () => {
    server = await startPostgres({ settings: { synchronous_commit: 'off', wal_writer_delay: '10000ms' } });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  storeContract('PostgreSQL', async (r) => openAt(await freshSchema(), r));
  const outboxAt = (url: string): OutboxSet & { database: PostgresDatabase } => {
    const s = openPostgresStores({ url, poolSize: 4, notifications: { maxPerUser: 10, maxAgeMs: 0, idempotencyWindowMs: 0 }, activity: { maxPerScope: 10, maxAgeMs: 0 }, audit: { retentionMs: 0, maxRows: 0 } });
    return { database: s.database, outbox: s.webhooks, reopen: async () => (await s.database.close(), outboxAt(url)), close: () => s.database.close() };
  };
  webhookOutboxContract('PostgreSQL', async () => outboxAt(await freshSchema()));

  test('webhook outbox: two nodes (two pools) claiming at once, 30 rounds, never get the same row nor two rows of one key at a time', async () => {
    const url = await freshSchema();
    const a = outboxAt(url);
    const b = outboxAt(url);
    try {
      const keys = 12;
      let now = T0;
      for (let round = 0; round < 30; round++) {
        // Three rows per key each round: only a key's head may be out at any time.
        await a.outbox.enqueue(Array.from({ length: keys * 3 }, (_, i) => outboxRow('race', `k${i % keys}`, `r${round}-${i}`, { createdAt: now })));
        const held = new Map<number, string>();
        const delivered: number[] = [];
        for (let step = 0; step < 3; step++) {
          const claims = await Promise.all([0, 1, 2, 3].map((i) => (i % 2 === 0 ? a : b).outbox.claim(`node-${i}`, now, 60_000, 5).then((rows) => ({ holder: `node-${i}`, rows }))));
          const got: OutboxRow[] = claims.flatMap((c) => c.rows);
          const seqs = got.map((r) => r.seq);
          expect(new Set(seqs).size, `round ${round} step ${step}: a row went to two holders`).toBe(seqs.length);
          expect(new Set(got.map((r) => r.orderKey)).size, `round ${round} step ${step}: two rows of one key out at once`).toBe(got.length);
          expect(got.length).toBe(keys);
          for (const c of claims) for (const r of c.rows) held.set(r.seq, c.holder);
          // Delivered by their holders, from the other pool for half of them.
          await Promise.all(got.map((r, i) => (i % 2 === 0 ? a : b).outbox.markDelivered(r.seq, held.get(r.seq)!, now).then((ok) => ok && delivered.push(r.seq))));
        }
        expect(delivered).toHaveLength(keys * 3);
        expect(await a.outbox.stats()).toEqual({ pending: 0, dead: 0 });
        now += 1;
      }
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  test('webhook outbox: a row enqueued and acknowledged before PostgreSQL is killed (kill -9) is there after its restart', async () => {
    const url = await freshSchema();
    const set = outboxAt(url);
    try {
      await set.outbox.enqueue([outboxRow('e', 'k', 'acked')]);
      await server.kill();
      await server.restart();
      const fresh = outboxAt(url);
      try {
        expect((await fresh.outbox.claim('h', T0, 1000, 10)).map((r) => r.payload)).toEqual(['{"n":"acked"}']);
      } finally {
        await fresh.close();
      }
    } finally {
      await set.close();
    }
  }, 60_000);
  const userChannelsAt = (url: string): UserChannelsSet => {
    const s = openPostgresStores({ url, poolSize: 2, notifications: { maxPerUser: 10, maxAgeMs: 0, idempotencyWindowMs: 0 }, activity: { maxPerScope: 10, maxAgeMs: 0 }, audit: { retentionMs: 0, maxRows: 0 } });
    return { store: s.userChannels, reopen: async () => (await s.database.close(), userChannelsAt(url)), close: () => s.database.close() };
  };
  userChannelsContract('PostgreSQL', async () => userChannelsAt(await freshSchema()));

  const readReceiptsAt = (url: string): ReadReceiptsSet => {
    const s = openPostgresStores({ url, poolSize: 4, notifications: { maxPerUser: 10, maxAgeMs: 0, idempotencyWindowMs: 0 }, activity: { maxPerScope: 10, maxAgeMs: 0 }, audit: { retentionMs: 0, maxRows: 0 } });
    return { store: s.readReceipts, reopen: async () => (await s.database.close(), readReceiptsAt(url)), close: () => s.database.close() };
  };
  readReceiptsContract('PostgreSQL', async () => readReceiptsAt(await freshSchema()));

  test('two nodes create the same notification with one idempotency key at once: one row each, the same answer to both', async () => {
    const url = await freshSchema();
    const a = openAt(url, DEFAULT_RETENTION);
    const b = openAt(url, DEFAULT_RETENTION);
    try {
      const note = (key: string) => ({ users: ['alice', 'bob'], type: 'info' as const, title: key, priority: 'normal' as const, idempotencyKey: key });
      const keys = Array.from({ length: 20 }, (_, i) => `retry-${i}`);
      const results = await Promise.all(keys.map((key) => Promise.all([a.notifications.create(note(key), T0), b.notifications.create(note(key), T0 + 1)])));
      for (const [fromA, fromB] of results) {
        expect([fromA.deduplicated, fromB.deduplicated].sort()).toEqual([false, true]);
        expect(fromB.notifications).toEqual(fromA.notifications);
      }
      expect(await a.notifications.counts('alice', T0)).toEqual({ unread: 20, total: 20, unreadByType: { info: 20 } });
      expect(await b.notifications.counts('bob', T0)).toEqual({ unread: 20, total: 20, unreadByType: { info: 20 } });
      const rows = await sql<{ title: string; n: number }>(url, 'SELECT title, count(*)::int AS n FROM tidings_notifications GROUP BY title');
      expect(rows).toHaveLength(20);
      expect(rows.every((r) => r.n === 2)).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a write acknowledged before PostgreSQL is killed (kill -9) is there after its restart, and the same stores carry on', async () => {
    const url = await freshSchema();
    const stores = openAt(url, DEFAULT_RETENTION);
    const { database } = stores;
    try {
      const created = [];
      for (let i = 0; i < 10; i++) created.push((await stores.notifications.create({ users: ['u'], type: 'info', title: `n${i}`, priority: 'normal' }, T0 + i)).notifications[0]!);
      const act = await stores.activity.append({ scope: 's', type: 't', action: 'acked' }, T0);
      await stores.audit.append([{ time: T0, type: 'connect', client: 'acked' }]);
      await server.kill();
      await expect(stores.notifications.counts('u', T0)).rejects.toThrow();
      expect(database.status()).toMatchObject({ ready: false, reason: expect.stringMatching(/^PostgreSQL: /) });
      await server.restart();
      const fresh = openAt(url, DEFAULT_RETENTION);
      try {
        expect((await fresh.notifications.list('u', { limit: 20 }, T0 + 100)).notifications).toEqual([...created].reverse());
        expect((await fresh.activity.list('s', { limit: 5 })).activities).toEqual([act]);
        expect((await fresh.audit.query({ limit: 5 })).events).toMatchObject([{ client: 'acked' }]);
      } finally {
        await fresh.close();
      }
      // The stores that saw the crash drop their broken connections and work again.
      let counted;
      for (let attempt = 0; attempt < 5 && counted === undefined; attempt++) counted = await stores.notifications.counts('u', T0).catch(() => undefined);
      expect(counted).toEqual({ unread: 10, total: 10, unreadByType: { info: 10 } });
      expect(database.status()).toEqual({ ready: true });
    } finally {
      await stores.close();
    }
  }, 60_000);

  test('readiness comes back by itself: after PostgreSQL is killed and restarted, status turns ready within ~2 s with no store call made', async () => {
    const stores = openAt(await freshSchema(), DEFAULT_RETENTION);
    const { database } = stores;
    try {
      await stores.notifications.create({ users: ['r'], type: 'info', title: 'before', priority: 'normal' }, T0);
      expect(database.status()).toEqual({ ready: true });
      await server.kill();
      await expect(stores.notifications.counts('r', T0)).rejects.toMatchObject({ code: 'unavailable' });
      expect(database.status()).toMatchObject({ ready: false, reason: expect.stringMatching(/^PostgreSQL: /) });
      await server.restart();
      // From here on only status() is asked: no store call could bring readiness back.
      const started = Date.now();
      while (!database.status().ready && Date.now() - started < 2500) await new Promise((r) => setTimeout(r, 50));
      expect(database.status()).toEqual({ ready: true });
      expect(await stores.notifications.counts('r', T0)).toEqual({ unread: 1, total: 1, unreadByType: { info: 1 } });
    } finally {
      await stores.close();
    }
  }, 60_000);

  test('PostgreSQL not there (refused, or killed under open connections): operations fail with a temporary unavailable error, not an internal one', async () => {
    const gone = { name: 'TidingsError', code: 'unavailable', temporary: true, message: 'the database did not answer; retry' };
    // Nobody listening: the connection is refused.
    const closed = createServer(() => {});
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = new PostgresDatabase({ url: `postgres://postgres@127.0.0.1:${port}/postgres`, connectTimeoutMs: 300 });
    try {
      await expect(refused.query('SELECT 1')).rejects.toMatchObject(gone);
      await expect(refused.transaction((c) => c.query('SELECT 1'))).rejects.toMatchObject(gone);
      expect(refused.status()).toMatchObject({ ready: false, reason: expect.stringMatching(/^PostgreSQL: .*ECONNREFUSED/) });
    } finally {
      await refused.close();
    }
    // Killed while the stores hold connections: reads and writes are refused the same way until it is back.
    const stores = openAt(await freshSchema(), DEFAULT_RETENTION);
    try {
      await stores.notifications.create({ users: ['g'], type: 'info', title: 'before', priority: 'normal' }, T0);
      await server.kill();
      await expect(stores.notifications.counts('g', T0)).rejects.toMatchObject(gone);
      await expect(stores.notifications.create({ users: ['g'], type: 'info', title: 'during', priority: 'normal', idempotencyKey: 'k' }, T0)).rejects.toMatchObject(gone);
      await server.restart();
      let counted;
      for (let attempt = 0; attempt < 5 && counted === undefined; attempt++) counted = await stores.notifications.counts('g', T0).catch(() => undefined);
      expect(counted).toEqual({ unread: 1, total: 1, unreadByType: { info: 1 } });
    } finally {
      await stores.close();
    }
  }, 60_000);

  test('migrations run by several nodes starting at once are applied once', async () => {
    const url = await freshSchema();
    const nodes = Array.from({ length: 4 }, () => new PostgresDatabase({ url, poolSize: 2 }));
    try {
      await Promise.all(nodes.map((db) => db.ensureSchema()));
      const applied = await sql<{ version: number }>(url, 'SELECT version FROM tidings_schema_migrations ORDER BY version');
      expect(applied.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
      expect(nodes.map((db) => db.status())).toEqual(nodes.map(() => ({ ready: true })));
    } finally {
      await Promise.all(nodes.map((db) => db.close()));
    }
  });

  test('a schema from a newer Tidings is refused, and said so', async () => {
    const url = await freshSchema();
    const first = new PostgresDatabase({ url });
    await first.ensureSchema();
    await first.close();
    await sql(url, 'INSERT INTO tidings_schema_migrations (version, name) VALUES ($1, $2)', [MIGRATIONS.length + 1, 'from the future']);
    const db = new PostgresDatabase({ url });
    try {
      await expect(db.ensureSchema()).rejects.toThrow(/schema version \d+ is newer than this Tidings knows/);
      expect(db.status()).toMatchObject({ ready: false, reason: expect.stringMatching(/newer than this Tidings knows/) });
    } finally {
      await db.close();
    }
  });

  test('PostgreSQL not answering: an operation fails within the connect timeout, and status says why', async () => {
    // Accepts TCP connections and never answers: the pool's wait for a connection must end.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const db = new PostgresDatabase({ url: `postgres://postgres@127.0.0.1:${(silent.address() as AddressInfo).port}/postgres`, connectTimeoutMs: 300 });
    try {
      await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'unavailable', temporary: true });
      expect(db.status()).toMatchObject({ ready: false, reason: expect.stringMatching(/^PostgreSQL: .*timeout/i) });
    } finally {
      await db.close();
      silent.close();
    }
  });

  test('store.type postgres: openStores opens the PostgreSQL stores, commits counted, status ready once it answered', async () => {
    const url = await freshSchema();
    const commits: number[] = [];
    const stores = openStores(resolveConfig({ store: { type: 'postgres', url, poolSize: 2 } }), {}, (writes) => commits.push(writes));
    try {
      expect(stores.database).toBeUndefined();
      await stores.notifications.create({ users: ['w'], type: 'info', title: 'wired', priority: 'normal' }, T0);
      expect(commits).toEqual([1]);
      expect(stores.status()).toEqual({ ready: true });
      expect(await sql(url, 'SELECT user_id, title FROM tidings_notifications')).toEqual([{ user_id: 'w', title: 'wired' }]);
    } finally {
      await stores.close();
    }
    expect(stores.status()).toMatchObject({ ready: false });
  });

  test('store.type postgres needs store.url, a postgres:// one', () => {
    expect(() => resolveConfig({ store: { type: 'postgres' } })).toThrow(/store\.url: store\.type postgres needs store\.url/);
    expect(() => resolveConfig({ store: { type: 'postgres', url: 'mysql://db/x' } })).toThrow(/store\.url: expected a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(resolveConfig({}).store).toEqual({ type: 'sqlite', path: '', url: '', poolSize: 10, connectTimeout: 5000 });
  });

  test('two nodes on one PostgreSQL: a notification accepted by A is listed by B after A is closed, and a retry on B with its key is deduplicated', async () => {
    const url = await freshSchema();
    const config = { logLevel: 'silent' as const, auth: { allowAnonymous: true }, store: { type: 'postgres' as const, url } };
    const a = createTidings(config);
    const b = createTidings(config);
    try {
      const sent = await a.notifications.notify({ user: 'carol', type: 'info', title: 'from A', idempotencyKey: 'once' });
      await a.close();
      const page = await b.notifications.list('carol');
      expect(page.notifications.map((n) => [n.id, n.title])).toEqual([[sent.notifications[0]!.id, 'from A']]);
      const retry = await b.notifications.notify({ user: 'carol', type: 'info', title: 'from A', idempotencyKey: 'once' });
      expect(retry).toEqual({ notifications: sent.notifications, deduplicated: true });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
