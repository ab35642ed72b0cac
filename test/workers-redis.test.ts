/**
 * `tidings serve` with `workers: 2` and `engine.type: redis` as a real child process on a real
 * redis-server: each worker is a node of its own on Redis (the primary relays no engine call),
 * and a publication through the API reaches subscribers on both workers. Runs the built CLI
 * (dist/): `npm run build` first.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, redisMissing, type RedisServer } from '../packages/server/src/test-support/redis-server.js';
import type { TestClient } from '../packages/server/src/test-support/test-client.js';
import { apiPublish, connectClients, killWorkers, nodes, startWorkers, until, workerNodes, type WorkersServer } from './support/workers.js';

describe.skipIf(redisMissing())('tidings serve with workers: 2 on the Redis engine', () => {
  let redis: RedisServer;
  let server: WorkersServer | undefined;
  const prefix = `w-${randomBytes(4).toString('hex')}`;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    server = await startWorkers(2, `engine:\n  type: redis\n  url: ${redis.url}\n  prefix: ${prefix}\nnamespaces:\n  room:\n    history: { size: 10, ttl: 10m }\n`);
  }, 40_000);

  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await killWorkers(server);
    await redis?.close();
  });

  it('each worker joins the bus on Redis itself, and an API publication reaches subscribers on both workers', async () => {
    const s = server!;
    // Both workers' node ids are members of the bus in Redis: they connected to it themselves.
    const workerIds = [...workerNodes(s).keys()].sort();
    expect(workerIds).toHaveLength(2);
    const redisClient = createClient({ url: redis.url });
    await redisClient.connect();
    try {
      await until(async () => (await redisClient.zRange(`${prefix}:{bus:all}:members`, 0, -1)).sort().join() === workerIds.join(), 'both workers on the Redis bus');
    } finally {
      redisClient.destroy();
    }

    // Clients on both workers (each a new TCP connection; the primary spreads them).
    clients.push(...(await connectClients(s, 6, 'redis-worker')));
    await Promise.all(clients.map((c) => c.ok('subscribe', { channel: 'room:all' })));
    await until(async () => {
      const list = await nodes(s);
      return list.length === 2 && list.every((n) => n.connections > 0);
    }, 'both workers holding connections', 15_000);

    for (let i = 1; i <= 3; i++) await apiPublish(s, 'room:all', { i });
    for (const client of clients) {
      await client.waitForPush((p) => p.type === 'publication' && (p as { offset?: number }).offset === 3, 5000);
      expect(client.publications('room:all').map((p) => [(p as { offset?: number }).offset, p.data])).toEqual([
        [1, { i: 1 }],
        [2, { i: 2 }],
        [3, { i: 3 }],
      ]);
    }
  }, 40_000);
});
