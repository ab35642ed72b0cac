/**
 * `history.store: sqlite`: the memory engine's history in the node's SQLite file, across a
 * graceful restart of a real node (createTidings on a temp data dir, a real WebSocket client).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/schema.js';
import { prepareDevInput } from '../../dev-defaults.js';
import { publicationBytes } from '../../engine/broker.js';
import { brokerContract } from '../../engine/broker.contract.js';
import { MemoryBroker } from '../../engine/memory/memory-broker.js';
import { MemoryStreams } from '../../engine/memory/memory-streams.js';
import { createLogger } from '../../log.js';
import { startRedis, type RedisServer } from '../../test-support/redis-server.js';
import { TestClient } from '../../test-support/test-client.js';
import { startTestNode, type TestNode } from '../../test-support/test-node.js';
import type { TidingsOptions } from '../../node.js';
import { SqliteDatabase } from './database.js';
import { SqliteHistory } from './sqlite-history.js';

// The broker guarantees hold unchanged with the SQLite copy of history behind the streams.
brokerContract('MemoryBroker with history.store: sqlite', async ({ idempotencyMaxKeys, ...options }, count) => {
  const database = new SqliteDatabase({ path: ':memory:' });
  const persistence = new SqliteHistory(database, (error) => {
    throw error;
  });
  const streams = new MemoryStreams({ ...options, persistence, sweepIntervalMs: 50, idempotency: idempotencyMaxKeys === undefined ? {} : { maxKeys: idempotencyMaxKeys } });
  return {
    nodes: Array.from({ length: count }, () => new MemoryBroker(streams)),
    close: async () => {
      streams.close();
      database.close();
    },
  };
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidings-history-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A node on the SQLite file `name` in the temp dir, history kept there. */
function sqliteNode(name: string, extra: TidingsOptions = {}): Promise<TestNode> {
  return startTestNode({ store: { path: join(dir, name) }, history: { store: 'sqlite' }, ...extra });
}

/** A channel's stored history through the server API. */
async function historyOf(t: TestNode, channel: string): Promise<{ epoch: string; offset: number; publications: Array<{ offset: number; data: unknown }> }> {
  const res = await t.api('GET', `/channels/${encodeURIComponent(channel)}/history?limit=1000`);
  expect(res.status).toBe(200);
  return res.body.data;
}

const offsets = (page: { publications: Array<{ offset: number }> }) => page.publications.map((p) => p.offset);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function rows(name: string, channel: string): number[] {
  const db = new Database(join(dir, name), { readonly: true });
  try {
    return (db.prepare('SELECT pos FROM history_items WHERE channel = ? ORDER BY pos').all(channel) as { pos: number }[]).map((r) => r.pos);
  } finally {
    db.close();
  }
}

async function publishMany(t: TestNode, channel: string, from: number, to: number, data: (i: number) => unknown = (i) => ({ n: i })): Promise<void> {
  for (let i = from; i <= to; i++) {
    const res = await t.api('POST', '/publish', { channel, data: data(i) });
    expect(res.status).toBe(200);
  }
}

describe('history.store: sqlite', () => {
  it('500 publications, graceful restart: a client that had the first 200 recovers the other 300 (recovered: true, same epoch, 0 lost, 0 duplicated), offsets continue', async () => {
    const channel = 'chat:restart';
    let t = await sqliteNode('restart.db');
    let epoch: string;
    try {
      const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
      const sub = await client.ok('subscribe', { channel });
      epoch = sub.epoch;
      await publishMany(t, channel, 1, 200);
      await client.waitForPush((p) => p.type === 'publication' && (p as { offset?: number }).offset === 200, 10_000);
      expect(client.publications(channel).map((p) => (p as { offset?: number }).offset)).toEqual(range(1, 200));
      client.close();
      await publishMany(t, channel, 201, 500);
    } finally {
      await t.close();
    }
    t = await sqliteNode('restart.db');
    try {
      const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
      const result = await client.ok('subscribe', { channel, recover: { epoch, offset: 200 } });
      expect(result.recovered).toBe(true);
      expect(result.epoch).toBe(epoch);
      expect(result.offset).toBe(500);
      const recovered = result.publications as Array<{ offset: number; data: { n: number } }>;
      expect(recovered.map((p) => p.offset)).toEqual(range(201, 500));
      expect(recovered.map((p) => p.data.n)).toEqual(range(201, 500));
      // Offsets continue in the same epoch after the restart.
      const next = await t.api('POST', '/publish', { channel, data: { n: 501 } });
      expect(next.body.data).toMatchObject({ epoch, offset: 501 });
      await client.waitForPush((p) => p.type === 'publication' && (p as { offset?: number }).offset === 501);
      client.close();
    } finally {
      await t.close();
    }
  });

  it('honours the byte budget and history size after a restart, in memory and in the stored rows', async () => {
    let t = await sqliteNode('trim.db');
    try {
      await publishMany(t, 'news:trim', 1, 30);
    } finally {
      await t.close();
    }
    expect(rows('trim.db', 'news:trim')).toEqual(range(1, 30));
    // Restarted with a node budget of 10 padded publications: the 30 small ones fit, then 15 padded
    // ones push out the oldest, from memory and from the file.
    const pad = 'x'.repeat(400);
    const padded = publicationBytes(JSON.stringify({ n: 31, pad }), undefined);
    expect(30 * publicationBytes(JSON.stringify({ n: 30 }), undefined)).toBeLessThanOrEqual(10 * padded);
    t = await sqliteNode('trim.db', { history: { store: 'sqlite', maxBytes: 10 * padded } });
    try {
      expect(offsets(await historyOf(t, 'news:trim'))).toEqual(range(1, 30));
      await publishMany(t, 'news:trim', 31, 45, (n) => ({ n, pad }));
      expect(offsets(await historyOf(t, 'news:trim'))).toEqual(range(36, 45));
    } finally {
      await t.close();
    }
    expect(rows('trim.db', 'news:trim')).toEqual(range(36, 45));
    // Size: task (history size 10 in the test namespaces) keeps the last 10, in the file too, across restarts.
    t = await sqliteNode('trim.db');
    try {
      await publishMany(t, 'task:#size', 1, 25);
    } finally {
      await t.close();
    }
    expect(rows('trim.db', 'task:#size')).toEqual(range(16, 25));
    t = await sqliteNode('trim.db');
    try {
      await publishMany(t, 'task:#size', 26, 28);
      expect(offsets(await historyOf(t, 'task:#size'))).toEqual(range(19, 28));
    } finally {
      await t.close();
    }
    expect(rows('trim.db', 'task:#size')).toEqual(range(19, 28));
  });

  it('drops publications whose ttl passed while the node was down, and keeps the epoch', async () => {
    const namespaces = { brief: { history: { size: 100, ttl: '1s' }, recover: true } };
    let t = await sqliteNode('ttl.db', { namespaces });
    let epoch: string;
    try {
      await publishMany(t, 'brief:a', 1, 5);
      epoch = (await t.api('POST', '/publish', { channel: 'brief:a', data: 6 })).body.data.epoch;
    } finally {
      await t.close();
    }
    await new Promise((r) => setTimeout(r, 1100));
    t = await sqliteNode('ttl.db', { namespaces });
    try {
      expect(await historyOf(t, 'brief:a')).toMatchObject({ epoch, offset: 6, publications: [] });
    } finally {
      await t.close();
    }
    expect(rows('ttl.db', 'brief:a')).toEqual([]);
  });

  it('is sqlite for tidings dev, memory for serve and createTidings', async () => {
    expect(resolveConfig({}).history.store).toBe('memory');
    const { input } = await prepareDevInput(join(dir, 'dev'));
    expect(resolveConfig(input).history.store).toBe('sqlite');
  });

  it('history.store: memory (the default) keeps nothing: a restart starts a new epoch', async () => {
    let t = await startTestNode({ store: { path: join(dir, 'memory.db') } });
    let epoch: string;
    try {
      epoch = (await t.api('POST', '/publish', { channel: 'news:m', data: 1 })).body.data.epoch;
    } finally {
      await t.close();
    }
    t = await startTestNode({ store: { path: join(dir, 'memory.db') } });
    try {
      const page = await historyOf(t, 'news:m');
      expect(page.epoch).not.toBe(epoch);
      expect(page.publications).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('SqliteHistory after a crash', () => {
  const history = { size: 100, ttlMs: 60_000 };
  /** Streams over the file `name` with its SQLite history (flushed every 1 ms). */
  function open(name: string) {
    const database = new SqliteDatabase({ path: join(dir, name) });
    const store = new SqliteHistory(
      database,
      (error) => {
        throw error;
      },
      1,
    );
    const streams = new MemoryStreams({ metaTtlMs: 60_000, persistence: store });
    return { database, store, streams };
  }
  const committed = () => new Promise((r) => setTimeout(r, 30));

  it('keeps the epoch after a graceful stop; after a stop without it (kill -9) loads what was committed under a new epoch', async () => {
    let a = open('crash.db');
    let epoch = '';
    for (let i = 1; i <= 5; i++) epoch = a.streams.publish('news:k', i, { history }).position!.epoch;
    await committed();
    // Graceful: the mark is written with the last batch.
    a.store.close();
    a.streams.close();
    a.database.close();
    a = open('crash.db');
    expect(a.streams.history('news:k', { limit: 10, since: { epoch, offset: 2 } }).publications.map((p) => p.data)).toEqual([3, 4, 5]);
    for (let i = 6; i <= 8; i++) a.streams.publish('news:k', i, { history });
    await committed();
    // A crash: the database goes away without the store's close (what was committed stays, no mark).
    a.streams.close();
    a.database.close();
    a = open('crash.db');
    try {
      const page = a.streams.history('news:k', { limit: 10 });
      expect(page.position.epoch).not.toBe(epoch);
      expect(page.position.offset).toBe(8);
      expect(page.publications.map((p) => p.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      // A client of the old epoch cannot recover "with no gap": the offsets after 8 may be reused.
      expect(a.streams.history('news:k', { limit: 10, since: { epoch, offset: 6 } }).publications).toEqual([]);
    } finally {
      a.store.close();
      a.streams.close();
      a.database.close();
    }
  });
});

describe('SqliteHistory write cost', () => {
  /** Frames (pages) in the WAL since it was last truncated. */
  const walFrames = (database: SqliteDatabase): number => (database.db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0]!.log;

  it('a batch of one publication to each of 60 channels writes a few pages, not one per channel (rows appended, trims by row)', async () => {
    const database = new SqliteDatabase({ path: join(dir, 'pages.db') });
    const store = new SqliteHistory(database, (error) => {
      throw error;
    }, 1);
    const streams = new MemoryStreams({ metaTtlMs: 60_000, persistence: store });
    const history = { size: 100, ttlMs: 60_000 };
    const channels = Array.from({ length: 60 }, (_, i) => `chat:a-channel-name-of-some-length-${String(i).padStart(4, '0')}`);
    const data = { text: 'x'.repeat(150) };
    /** Waits until every queued change is committed (bounded). */
    const committed = async () => {
      for (let i = 0; i < 200 && (store.pending > 0 || database.committer.pending > 0); i++) await new Promise((r) => setTimeout(r, 5));
      expect(store.pending + database.committer.pending).toBe(0);
    };
    try {
      // Every channel holds a full history (100), the rows of all channels interleaved in publish order.
      for (let round = 0; round < 110; round++) for (const channel of channels) streams.publish(channel, data, { history });
      await committed();
      database.db.pragma('wal_checkpoint(TRUNCATE)');
      expect(walFrames(database)).toBe(0);
      // One batch: 60 publications, each trimming its channel's oldest.
      for (const channel of channels) streams.publish(channel, data, { history });
      await committed();
      const frames = walFrames(database);
      // 60 x ~200 B appended and 60 old rows deleted span a few pages each, plus the 60 stream rows;
      // an index by (channel, offset) would add a leaf page per channel.
      expect(frames).toBeGreaterThan(0);
      expect(frames).toBeLessThan(25);
      // What is stored is still exactly each channel's last 100.
      for (const channel of [channels[0]!, channels[59]!]) {
        const stored = database.db.prepare('SELECT pos FROM history_items WHERE channel = ? ORDER BY pos').all(channel) as { pos: number }[];
        expect(stored.map((r) => r.pos)).toEqual(range(12, 111));
      }
    } finally {
      store.close();
      streams.close();
      database.close();
    }
  });
  it('after a batch that failed (disk full), the rows it would have deleted go with the next trims: the stored history is the stream\'s again', async () => {
    const database = new SqliteDatabase({ path: join(dir, 'full-history.db') });
    const errors: string[] = [];
    const store = new SqliteHistory(database, (error) => errors.push(error.message), 1);
    const streams = new MemoryStreams({ metaTtlMs: 60_000, persistence: store });
    const history = { size: 3, ttlMs: 60_000 };
    const stored = () => (database.db.prepare("SELECT pos FROM history_items WHERE channel = 'news:full' ORDER BY pos").all() as { pos: number }[]).map((r) => r.pos);
    const settle = async () => {
      for (let i = 0; i < 200 && (store.pending > 0 || database.committer.pending > 0); i++) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 10));
    };
    try {
      for (let i = 1; i <= 5; i++) streams.publish('news:full', { i }, { history });
      await settle();
      expect(stored()).toEqual([3, 4, 5]);
      // The "disk" is full: the batch with offset 6 (and the trim of 3) fails on a large publication
      // to another channel after them, and is rolled back whole.
      const pages = database.db.pragma('page_count', { simple: true }) as number;
      database.db.pragma(`max_page_count = ${pages + 2}`);
      streams.publish('news:full', { i: 6 }, { history });
      streams.publish('news:large', { big: 'x'.repeat(1_000_000) }, { history });
      await settle();
      expect(errors.length).toBe(1);
      expect(stored()).toEqual([3, 4, 5]);
      database.db.pragma('max_page_count = 1073741823');
      for (let i = 7; i <= 9; i++) streams.publish('news:full', { i }, { history });
      await settle();
      expect(stored()).toEqual([7, 8, 9]);
    } finally {
      store.close();
      streams.close();
      database.close();
    }
  });
});

describe('history.store: sqlite where it cannot apply', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('is ignored with the Redis engine, with a warning saying why; nothing is written to the SQLite file', async () => {
    let text = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const t = await sqliteNode('redis.db', { engine: { type: 'redis', url: redis.url, prefix: `h${Date.now()}` }, logger: createLogger('info', sink) });
    try {
      // The Redis connections open in the background: publish once the node says it is ready.
      for (let i = 0; i < 100 && (await t.api('GET', '/ready')).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await t.api('POST', '/publish', { channel: 'news:r', data: 1 })).status).toBe(200);
    } finally {
      await t.close();
    }
    expect(text).toContain('history.store: sqlite is ignored (history stays in memory): the Redis engine keeps history in Redis');
    expect(rows('redis.db', 'news:r')).toEqual([]);
  });
});
