/**
 * Two real nodes (createTidings, HTTP and WebSocket on 127.0.0.1) on one real redis-server with
 * `engine: { type: 'redis', url, prefix }`: what one node does reaches the other through Redis,
 * and a Redis that goes away makes the node not ready and its publishes fail fast.
 */
import { randomBytes } from 'node:crypto';
import { CloseCode } from '@tidings/protocol';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/schema.js';
import { startRedis, redisMissing, type RedisServer } from '../../test-support/redis-server.js';
import { TestClient } from '../../test-support/test-client.js';
import { startTestNode, type TestNode } from '../../test-support/test-node.js';

const CONNECT_TIMEOUT_MS = 500;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function ready(node: TestNode): Promise<{ status: number; body: any }> {
  return node.api('GET', '/ready');
}

describe('engine configuration', () => {
  it('engine.type redis needs a redis:// URL; memory is the default', () => {
    expect(resolveConfig({}).engine).toMatchObject({ type: 'memory', prefix: 'tidings', sharded: false, connectTimeout: 5000 });
    expect(() => resolveConfig({ engine: { type: 'redis' } })).toThrow('engine.url');
    expect(() => resolveConfig({ engine: { type: 'redis', url: 'http://x:1' } })).toThrow('redis://');
    expect(() => resolveConfig({ engine: { type: 'redis', url: 'redis://x:1', prefix: 'a{b}' } })).toThrow('engine.prefix');
  });
});

describe.skipIf(redisMissing())('two nodes on the Redis engine', () => {
  let redis: RedisServer;
  let a: TestNode;
  let b: TestNode;
  const clients: TestClient[] = [];

  const connect = async (node: TestNode, user: string): Promise<TestClient> => {
    const { client } = await TestClient.connect(node.wsUrl, await node.token(user));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    redis = await startRedis();
    const engine = { type: 'redis' as const, url: redis.url, prefix: `t-${randomBytes(4).toString('hex')}`, connectTimeout: CONNECT_TIMEOUT_MS };
    a = await startTestNode({ engine });
    b = await startTestNode({ engine });
    for (const node of [a, b]) await waitFor('the node to be ready', async () => ((await ready(node)).status === 200 ? true : undefined));
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await b?.close();
    await a?.close();
    await redis?.close();
  });

  it('a publication through the API of node A reaches a subscriber on node B with its offset', async () => {
    const sub = await connect(b, 'reader');
    await sub.ok('subscribe', { channel: 'news:redis' });
    const first = await a.api('POST', '/publish', { channel: 'news:redis', data: { n: 1 } });
    const second = await a.api('POST', '/publish', { channel: 'news:redis', data: { n: 2 } });
    expect(first.status).toBe(200);
    expect(first.body.data.offset).toBe(1);
    expect(second.body.data.offset).toBe(2);
    await sub.waitForPush((p) => p.type === 'publication' && p.channel === 'news:redis' && (p as any).offset === 2);
    const got = sub.publications('news:redis').map((p: any) => ({ data: p.data, offset: p.offset }));
    expect(got).toEqual([
      { data: { n: 1 }, offset: 1 },
      { data: { n: 2 }, offset: 2 },
    ]);
    // B reads the same history and epoch from Redis.
    const history = await b.api('GET', '/channels/news%3Aredis/history');
    expect(history.body.data.publications.map((p: any) => p.offset)).toEqual([1, 2]);
    expect(history.body.data.epoch).toBe(first.body.data.epoch);
  });

  it('presence on a channel lists the users of both nodes', async () => {
    const alice = await connect(a, 'alice');
    const bob = await connect(b, 'bob');
    await alice.ok('subscribe', { channel: 'chat:both' });
    await bob.ok('subscribe', { channel: 'chat:both' });
    for (const client of [alice, bob]) {
      const presence = await client.ok('presence', { channel: 'chat:both' });
      expect(presence.users.map((u: any) => u.user).sort()).toEqual(['alice', 'bob']);
    }
  });

  it('disconnecting a user through node A closes its connection on node B', async () => {
    const victim = await connect(b, 'kick-me');
    const res = await a.api('POST', '/users/kick-me/disconnect', {});
    expect(res.body.data).toEqual({ disconnected: 1 });
    expect((await victim.closed).code).toBe(CloseCode.ForceReconnect);
  });

  it('a node opens three connections to Redis (commands, publications, bus) and closing it closes them all', async () => {
    const probe = createClient({ url: redis.url });
    await probe.connect();
    try {
      const count = async () => String(await probe.sendCommand(['CLIENT', 'LIST'])).trim().split('\n').length;
      const before = await count();
      const c = await startTestNode({ engine: { type: 'redis', url: redis.url, prefix: 'other' } });
      await waitFor('C to be ready and on the bus', async () => ((await ready(c)).status === 200 && (await count()) === before + 3 ? true : undefined));
      await c.close();
      await waitFor('C to leave Redis', async () => ((await count()) === before ? true : undefined), 5000);
    } finally {
      probe.destroy();
    }
  });

  it('Redis gone: /ready answers 503 "Redis: …", publishes fail fast with a temporary unavailable, clients stay; back: ready again', async () => {
    const writer = await connect(a, 'writer');
    await writer.ok('subscribe', { channel: 'chat:outage' });
    expect((await ready(a)).status).toBe(200);

    await redis.kill();
    const down = await waitFor('A to report Redis down', async () => {
      const res = await ready(a);
      return res.status === 503 ? res : undefined;
    });
    expect(down.body.data).toMatchObject({ ready: false });
    expect(down.body.data.reason).toMatch(/^Redis: /);

    // Each publish is answered within the connect timeout (no queue waits for Redis), through the API and a connection.
    for (let i = 0; i < 20; i++) {
      const started = Date.now();
      const res = await a.api('POST', '/publish', { channel: 'news:outage', data: i, idempotencyKey: `k${i}` });
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'unavailable', temporary: true });
      expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT_MS + 1000);
    }
    // A history read through the API is the same temporary refusal, not an internal error.
    const history = await a.api('GET', '/channels/news%3Aoutage/history');
    expect(history.status).toBe(503);
    expect(history.body.error).toMatchObject({ code: 'unavailable', temporary: true });
    const reply = await writer.call('publish', { channel: 'chat:outage', data: 'x' });
    expect(reply).toMatchObject({ error: { code: 'unavailable', temporary: true } });
    // The connection stays open.
    expect(writer.ws.readyState).toBe(writer.ws.OPEN);

    await redis.restart();
    for (const node of [a, b]) await waitFor('the node to be ready again', async () => ((await ready(node)).status === 200 ? true : undefined));
    const after = await a.api('POST', '/publish', { channel: 'news:outage', data: 'back' });
    expect(after.status).toBe(200);
    expect(after.body.data.offset).toBe(1);
  });
});
