/**
 * Server-side actions (issue 16) against real nodes: two nodes on one memory cluster, and two on
 * a real redis-server for `exceptClient` and the runtime subscribe (CI=true never skips them).
 * Counts who got what: the excepted connection gets nothing (an offset-only `skip` push in a
 * channel with offsets), everyone else exactly one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Push } from '@tidings/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNodePair, type NodePair } from '../test-support/node-pair.js';
import { redisMissing, startRedis, type RedisServer } from '../test-support/redis-server.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

type Pub = Extract<Push, { type: 'publication' }>;
const clients: TestClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function connect(node: TestNode, user: string): Promise<{ client: TestClient; result: Record<string, any> }> {
  const r = await TestClient.connect(node.wsUrl, await node.token(user));
  clients.push(r.client);
  return r;
}

/** Publishes a marker after `action` and waits until every client has it: whatever the action delivered came before it. */
async function settled(node: TestNode, channel: string, subscribers: TestClient[]): Promise<void> {
  const marker = `m-${randomBytes(3).toString('hex')}`;
  const { status } = await node.api('POST', '/publish', { channel, data: { marker } });
  expect(status).toBe(200);
  await Promise.all(subscribers.map((c) => c.waitForPush((p) => p.type === 'publication' && (p as Pub).channel === channel && (p.data as { marker?: string })?.marker === marker)));
}

const dataPubs = (c: TestClient, channel: string, text: string) => c.publications(channel).filter((p) => (p.data as { text?: string } | undefined)?.text === text);

/** The actions every engine must do the same way: A and B are two nodes of one deployment. */
function actionsOnTwoNodes(name: string, start: () => Promise<{ a: TestNode; b: TestNode; close(): Promise<void> }>): void {
  describe(name, () => {
    let pair: { a: TestNode; b: TestNode; close(): Promise<void> };
    beforeAll(async () => {
      pair = await start();
    }, 30_000);
    afterAll(async () => {
      await pair?.close();
    });

    it('exceptClient: the excepted connection (on the other node) gets no publication, only the offset; everyone else exactly one', async () => {
      const { a, b } = pair;
      const channel = `chat:except-${randomBytes(3).toString('hex')}`;
      const a1 = (await connect(a, 'alice')).client;
      const { client: b1, result: b1r } = await connect(b, 'bob');
      const b2 = (await connect(b, 'carol')).client;
      for (const c of [a1, b1, b2]) await c.ok('subscribe', { channel });
      const sent = await a.api('POST', '/publish', { channel, data: { text: 'hello' }, exceptClient: b1r.client });
      expect(sent.status).toBe(200);
      await settled(a, channel, [a1, b1, b2]);
      expect(dataPubs(a1, channel, 'hello')).toHaveLength(1);
      expect(dataPubs(b2, channel, 'hello')).toHaveLength(1);
      expect(dataPubs(b1, channel, 'hello')).toHaveLength(0);
      // The excepted connection gets the offset without data: its offsets stay contiguous (no gap, no recovery echo).
      const skipped = b1.publications(channel).filter((p) => p.offset === sent.body.data.offset);
      expect(skipped).toEqual([{ type: 'publication', channel, offset: sent.body.data.offset, skip: true }]);
      const offsets = b1.publications(channel).map((p) => p.offset);
      expect(offsets).toEqual([sent.body.data.offset, sent.body.data.offset + 1]);
    });

    it('exceptClient on a channel without history: the excepted connection gets nothing at all', async () => {
      const { a, b } = pair;
      const channel = `live:except-${randomBytes(3).toString('hex')}`;
      const { client: a1, result: a1r } = await connect(a, 'alice');
      const b1 = (await connect(b, 'bob')).client;
      for (const c of [a1, b1]) await c.ok('subscribe', { channel });
      expect((await b.api('POST', '/broadcast', { channels: [channel], data: { text: 'hi' }, exceptClient: a1r.client })).status).toBe(200);
      await settled(b, channel, [a1, b1]);
      expect(dataPubs(b1, channel, 'hi')).toHaveLength(1);
      expect(a1.publications(channel).filter((p) => (p.data as { marker?: string } | undefined)?.marker === undefined)).toEqual([]);
    });

    it("POST /users/:id/subscriptions subscribes the user's connections on both nodes now and at the next connect; DELETE ends it", async () => {
      const { a, b } = pair;
      const user = `u-${randomBytes(3).toString('hex')}`;
      const channel = `news:${user}`;
      const onA = (await connect(a, user)).client;
      const onB = (await connect(b, user)).client;
      const other = (await connect(b, 'someone-else')).client;
      const added = await a.api('POST', `/users/${user}/subscriptions`, { channel });
      expect(added).toMatchObject({ status: 200, body: { data: { channel, added: true, subscribed: 2 } } });
      for (const c of [onA, onB]) expect(c.pushes.filter((p) => p.type === 'subscribe' && p.channel === channel)).toHaveLength(1);
      await b.api('POST', '/publish', { channel, data: { text: 'news' } });
      await settled(a, channel, [onA, onB]);
      for (const c of [onA, onB]) expect(dataPubs(c, channel, 'news')).toHaveLength(1);
      expect(other.pushes.filter((p) => 'channel' in p && p.channel === channel)).toEqual([]);
      expect((await b.api('GET', `/users/${user}/subscriptions`)).body.data).toEqual({ user, channels: [channel] });
      // Sticky: a new connection of the user, on the other node, gets it at connect.
      const later = await connect(b, user);
      expect(Object.keys(later.result.subs)).toContain(channel);
      const removed = await b.api('DELETE', `/users/${user}/subscriptions/${encodeURIComponent(channel)}`);
      expect(removed.body.data).toEqual({ channel, removed: true, unsubscribed: 3 });
      await onA.waitForPush((p) => p.type === 'unsubscribe' && p.channel === channel);
      expect((await a.api('GET', `/users/${user}/subscriptions`)).body.data.channels).toEqual([]);
      const after = await connect(a, user);
      expect(Object.keys(after.result.subs)).not.toContain(channel);
    });

    it('a sticky channel added on A applies at the next connect on B, where the user connected before without any (B had cached "none")', async () => {
      const { a, b } = pair;
      const user = `n-${randomBytes(3).toString('hex')}`;
      const channel = `news:${user}`;
      // B reads the user's sticky channels (none) and remembers it; the connection goes away.
      const first = await connect(b, user);
      expect(Object.keys(first.result.subs)).not.toContain(channel);
      first.client.close();
      await first.client.closed;
      expect(await connect(b, user).then((r) => Object.keys(r.result.subs))).not.toContain(channel);
      // Added through A while the user has a connection on B (subscribed now) and, below, with none.
      expect((await a.api('POST', `/users/${user}/subscriptions`, { channel })).body.data).toMatchObject({ added: true, subscribed: 1 });
      const next = await connect(b, user);
      expect(Object.keys(next.result.subs)).toContain(channel);
      const other = `news:other-${user}`;
      for (const c of clients.splice(0)) {
        c.close();
        await c.closed;
      }
      expect((await a.api('POST', `/users/${user}/subscriptions`, { channel: other })).body.data).toMatchObject({ added: true });
      expect(Object.keys((await connect(b, user)).result.subs)).toEqual(expect.arrayContaining([channel, other]));
    });

    it('POST /broadcast with only an event reaches every connection on both nodes exactly once', async () => {
      const { a, b } = pair;
      const all = [(await connect(a, 'x1')).client, (await connect(a, 'x2')).client, (await connect(b, 'x3')).client];
      const event = `system:${randomBytes(3).toString('hex')}`;
      const res = await b.api('POST', '/broadcast', { event, data: { message: 'maintenance in 10 minutes' } });
      expect(res.status).toBe(200);
      expect(res.body.data.connections).toBeGreaterThanOrEqual(3);
      for (const c of all) await c.waitForPush((p) => p.type === 'broadcast' && p.event === event);
      for (const c of all) expect(c.pushes.filter((p) => p.type === 'broadcast' && p.event === event)).toEqual([{ type: 'broadcast', event, data: { message: 'maintenance in 10 minutes' } }]);
    });
  });
}

// The nodes of a deployment share their database (PostgreSQL, or the primary's SQLite with --workers): here one SQLite file.
const dbDir = mkdtempSync(join(tmpdir(), 'tidings-actions-'));
afterAll(() => rmSync(dbDir, { recursive: true, force: true }));
const sharedStore = (name: string) => ({ store: { path: join(dbDir, `${name}.db`) } });

actionsOnTwoNodes('two nodes on one memory cluster', async () => {
  const pair: NodePair = await startNodePair(sharedStore('memory'));
  return pair;
});

describe.skipIf(redisMissing())('on a real redis-server', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    await redis?.close();
  });
  actionsOnTwoNodes('two nodes on the Redis engine', async () => {
    const engine = { type: 'redis' as const, url: redis.url, prefix: `t-${randomBytes(4).toString('hex')}`, connectTimeout: 2000 };
    const a = await startTestNode({ engine, ...sharedStore('redis') });
    const b = await startTestNode({ engine, ...sharedStore('redis') });
    return { a, b, close: async () => (await b.close(), await a.close()) };
  });
});

describe('one node', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => {
    await node?.close();
  });

  it('POST /broadcast with users publishes to each personal channel', async () => {
    const u1 = (await connect(node, 'pu1')).client;
    const u2 = (await connect(node, 'pu2')).client;
    const res = await node.api('POST', '/broadcast', { users: ['pu1', 'pu2'], data: { text: 'for you' } });
    expect(res.body.data.results.map((r: { channel: string }) => r.channel)).toEqual(['user:#pu1', 'user:#pu2']);
    await u1.waitForPush((p) => p.type === 'publication' && p.channel === 'user:#pu1');
    await u2.waitForPush((p) => p.type === 'publication' && p.channel === 'user:#pu2');
  });

  it('POST /notify with an application type reaches the client; a malformed type is refused', async () => {
    const c = (await connect(node, 'nt1')).client;
    const ok = await node.api('POST', '/notify', { user: 'nt1', type: 'task.assigned', title: 'New task assigned' });
    expect(ok.status).toBe(200);
    const push = await c.waitForPush((p) => p.type === 'notification');
    expect(push).toMatchObject({ notification: { type: 'task.assigned', title: 'New task assigned' } });
    const bad = await node.api('POST', '/notify', { user: 'nt1', type: 'has spaces', title: 'x' });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
  });

  it('exceptClient that is not a connection id is refused with bad_request', async () => {
    const res = await node.api('POST', '/publish', { channel: 'live:x', data: 1, exceptClient: 'a b' });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
  });
});

describe('sticky subscriptions survive a restart (SQLite file kept)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidings-sticky-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a new connection after the restart gets the sticky channel', async () => {
    const store = { path: join(dir, 'tidings.db') };
    const first = await startTestNode({ store });
    try {
      expect((await first.api('POST', '/users/stay/subscriptions', { channel: 'news:kept' })).status).toBe(200);
    } finally {
      await first.close();
    }
    const second = await startTestNode({ store });
    try {
      const { result } = await connect(second, 'stay');
      expect(Object.keys(result.subs)).toContain('news:kept');
      const other = await connect(second, 'not-stay');
      expect(Object.keys(other.result.subs)).not.toContain('news:kept');
    } finally {
      await second.close();
    }
  });
});
