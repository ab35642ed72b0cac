/**
 * Stats and channel listings of a deployment: two nodes sharing one MemoryCluster (as two
 * processes share an engine), each on its own HTTP server on 127.0.0.1, real WebSocket clients.
 * Either node answers for both; one node alone answers as before. The user totals also on two
 * nodes over a real redis-server (CI=true never skips them).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisMissing, startRedis, type RedisServer } from '../test-support/redis-server.js';
import { TestClient } from '../test-support/test-client.js';
import { startNodePair, type NodePair } from '../test-support/node-pair.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { mergeChannelPages, mergeStats, type NodeFigures } from './deployment-stats.js';

const opened: Array<NodePair | TestNode | TestClient> = [];

afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.close();
});

async function twoNodes(): Promise<[TestNode, TestNode]> {
  const pair = await startNodePair({ cluster: { heartbeatInterval: 50, requestTimeout: '2s' } });
  opened.push(pair);
  return [pair.a, pair.b];
}

async function subscribed(node: TestNode, user: string, channels: string[]): Promise<TestClient> {
  const { client } = await TestClient.connect(node.wsUrl, await node.token(user));
  opened.push(client);
  for (const channel of channels) await client.ok('subscribe', { channel });
  return client;
}

describe('channels of the deployment', () => {
  it('GET /channels through either node lists the union of both nodes’ channels, subscribers summed, paged consistently', async () => {
    const [a, b] = await twoNodes();
    await subscribed(a, 'alice', ['chat:both', 'chat:only-a', 'news:a']);
    await subscribed(b, 'bob', ['chat:both', 'chat:only-b', 'news:b']);
    await subscribed(b, 'carol', ['chat:both']);
    const expected = [
      { channel: 'chat:both', subscribers: 3 },
      { channel: 'chat:only-a', subscribers: 1 },
      { channel: 'chat:only-b', subscribers: 1 },
      { channel: 'news:a', subscribers: 1 },
      { channel: 'news:b', subscribers: 1 },
    ];
    // Personal channels (user:#…) are listed too; these tests look at the app channels.
    const app = (l: { channels: { channel: string }[] }) => l.channels.filter((c) => !c.channel.startsWith('user:'));
    for (const t of [a, b]) {
      const res = await t.api('GET', '/channels?prefix=chat:');
      expect(res.body.data).toEqual({ channels: expected.slice(0, 3) });
      expect(app(await t.node.channels())).toEqual(expected);
    }
    // Two per page through node B: every channel once, in order, the counts complete.
    const walked: Array<{ channel: string; subscribers: number }> = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await b.api('GET', `/channels?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.body.data.channels.length).toBeLessThanOrEqual(2);
      walked.push(...page.body.data.channels);
      cursor = page.body.data.nextCursor;
      if (!cursor) break;
    }
    expect(walked.filter((c) => !c.channel.startsWith('user:'))).toEqual(expected);
    // One channel's detail counts its subscribers on both nodes.
    expect((await a.api('GET', '/channels/chat:both')).body.data.subscribers).toBe(3);
    // Bad input is refused by the asking node.
    expect((await a.api('GET', '/channels?limit=0')).status).toBe(400);
    await expect(a.node.channels({ limit: 5000 })).rejects.toThrow(/limit/);
  });
});

describe('stats of the deployment', () => {
  it('GET /stats through either node sums both nodes’ figures and lists each node’s own', async () => {
    const [a, b] = await twoNodes();
    await subscribed(a, 'alice', ['chat:s1']);
    await subscribed(b, 'bob', ['chat:s1', 'chat:s2']);
    await subscribed(b, 'alice', []);
    await a.api('POST', '/publish', { channel: 'chat:s1', data: 1 });
    await b.api('POST', '/publish', { channel: 'chat:s2', data: 2 });
    for (const t of [a, b]) {
      const stats = (await t.api('GET', '/stats')).body.data;
      expect(stats.nodeId).toBe(t.node.nodeId);
      expect(stats.connectedSockets).toBe(3);
      // alice is on both nodes: counted on each (the per-node figures say so).
      expect(stats.onlineUsers).toBe(3);
      expect(stats.publicationsInTotal).toBe(2);
      expect(stats.nodes.map((n: NodeFigures) => n.nodeId)).toEqual([a.node.nodeId, b.node.nodeId].sort());
      const byId = new Map<string, NodeFigures>(stats.nodes.map((n: NodeFigures) => [n.nodeId, n]));
      expect(byId.get(a.node.nodeId)).toMatchObject({ connectedSockets: 1, onlineUsers: 1, publicationsInTotal: 1 });
      expect(byId.get(b.node.nodeId)).toMatchObject({ connectedSockets: 2, onlineUsers: 2, publicationsInTotal: 1 });
      expect(stats.activeRooms).toBe(byId.get(a.node.nodeId)!.activeRooms + byId.get(b.node.nodeId)!.activeRooms);
      expect(stats.memoryRssBytes).toBe(byId.get(a.node.nodeId)!.memoryRssBytes + byId.get(b.node.nodeId)!.memoryRssBytes);
    }
    expect((await b.node.stats()).connectedSockets).toBe(3);
  });

  it('one node alone answers its own figures, with itself as the only entry of nodes', async () => {
    const t = await startTestNode({});
    opened.push(t);
    await subscribed(t, 'solo', ['chat:x']);
    const stats = (await t.api('GET', '/stats')).body.data;
    const { nodes, connectedUsers, totalUsers, ...figures } = stats;
    expect(nodes).toEqual([figures]);
    expect(figures).toMatchObject({ nodeId: t.node.nodeId, connectedSockets: 1, onlineUsers: 1 });
    expect({ connectedUsers, totalUsers }).toEqual({ connectedUsers: 1, totalUsers: 1 });
    expect((await t.node.channels({ prefix: 'chat:' })).channels).toEqual([{ channel: 'chat:x', subscribers: 1 }]);
  });
});

/** GET /stats through `node` until `done` holds (bounded: 60 tries, 50 ms apart), then its data. */
async function statsWhen(node: TestNode, done: (stats: Record<string, any>) => boolean): Promise<Record<string, any>> {
  let stats: Record<string, any> = {};
  for (let i = 0; i < 60; i++) {
    const res = await node.api('GET', '/stats');
    expect(res.status).toBe(200);
    stats = res.body.data;
    if (done(stats)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return stats;
}

/** A user on both nodes counts once in connectedUsers; a user that connected and left counts in totalUsers. */
function userTotalsOnTwoNodes(name: string, start: () => Promise<[TestNode, TestNode]>): void {
  it(`${name}: GET /stats counts a user on both nodes once in connectedUsers, and a user that left in totalUsers`, async () => {
    const [a, b] = await start();
    await subscribed(a, 'both', []);
    await subscribed(b, 'both', []);
    const leaving = await subscribed(b, 'left', []);
    for (const t of [a, b]) expect(await statsWhen(t, (s) => s.connectedUsers === 2)).toMatchObject({ connectedUsers: 2, totalUsers: 2 });
    leaving.close();
    await leaving.closed;
    // After the leave grace period (150 ms in test nodes) the user is offline, and still known.
    for (const t of [a, b]) {
      const stats = await statsWhen(t, (s) => s.connectedUsers === 1);
      expect(stats).toMatchObject({ connectedUsers: 1, totalUsers: 2, connectedSockets: 2 });
      // onlineUsers sums the nodes: 'both' on each.
      expect(stats.onlineUsers).toBe(2);
      for (const n of stats.nodes) expect(n).not.toHaveProperty('connectedUsers');
    }
    expect(await a.node.stats()).toMatchObject({ connectedUsers: 1, totalUsers: 2 });
  });
}

describe('user totals of the deployment', () => {
  userTotalsOnTwoNodes('two nodes on one memory cluster', twoNodes);

  describe.skipIf(redisMissing())('on a real redis-server', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.close();
    });
    userTotalsOnTwoNodes('two nodes on the Redis engine', async () => {
      const engine = { type: 'redis' as const, url: redis.url, prefix: `t-${randomBytes(4).toString('hex')}`, connectTimeout: 2000 };
      const a = await startTestNode({ engine, cluster: { heartbeatInterval: 50, requestTimeout: '2s' } });
      opened.push(a);
      const b = await startTestNode({ engine, cluster: { heartbeatInterval: 50, requestTimeout: '2s' } });
      opened.push(b);
      return [a, b];
    });
  });
});

describe('merging answers', () => {
  const figures = (nodeId: string, n: number): NodeFigures => ({
    nodeId, version: '1', uptimeSeconds: n * 10, connectedSockets: n, onlineUsers: n, activeRooms: n, publicationsInPerSecond: n, publicationsOutPerSecond: n,
    publicationsInTotal: n, publicationsOutTotal: n, connectsTotal: n, disconnectsTotal: n, badRequestsTotal: n, slowDisconnectsTotal: n, memoryRssBytes: n, heapUsedBytes: n,
  });

  it('mergeStats sums, takes the oldest uptime, keeps the answering node’s id, skips malformed answers', () => {
    const merged = mergeStats(figures('b', 2), [figures('b', 2), figures('a', 3), { nodeId: 'c' }, null, 'x'], { connectedUsers: 4, totalUsers: 9 });
    expect(merged).toMatchObject({ nodeId: 'b', uptimeSeconds: 30, connectedSockets: 5, heapUsedBytes: 5, connectedUsers: 4, totalUsers: 9 });
    expect(merged.nodes.map((n) => n.nodeId)).toEqual(['a', 'b']);
  });

  it('mergeChannelPages: union sorted, counts summed, a next cursor while any node has more', () => {
    const a = { channels: [{ channel: 'x:1', subscribers: 1 }, { channel: 'x:3', subscribers: 2 }], nextCursor: 'x:3' };
    const b = { channels: [{ channel: 'x:2', subscribers: 1 }, { channel: 'x:3', subscribers: 5 }] };
    expect(mergeChannelPages([a, b], 2)).toEqual({ channels: [{ channel: 'x:1', subscribers: 1 }, { channel: 'x:2', subscribers: 1 }], nextCursor: 'x:2' });
    expect(mergeChannelPages([b], 2)).toEqual({ channels: b.channels });
    expect(mergeChannelPages([undefined, { channels: [{ channel: 7 }] }], 2)).toEqual({ channels: [] });
  });
});
