/**
 * The Redis engine on a real Redis Cluster (three redis-server primaries, `startRedisCluster`),
 * connected with node-redis's cluster client (`engine.cluster`), classic and sharded pub/sub.
 *
 * Contract suites run unchanged, single- and two-node: presence, user status, typing, progress,
 * NodeBus, SharedLimits, and the Broker's two-node suite. The Broker's single-node suite
 * (`brokerContract`) cannot run here as a whole: it includes, unconditionally, the history budget
 * and `maxStreams` cases (node, namespace and owner byte budgets, the streams bound, and the
 * idempotency case 'remembers nothing for a refused publish', which sets `maxBytes`). Those are
 * not applicable on Redis Cluster: one publish would update counters and indexes under other hash
 * tags (other slots, other primaries) in the same script, and the configuration refuses them with
 * `engine.cluster` (tested below). What that suite checks without budgets is checked here on the
 * cluster instead ('the broker on the cluster'), on channels spread over all three primaries.
 *
 * The Broker's two-node suite runs with sharded pub/sub, the setting for Cluster: a channel's
 * publications are delivered by the primary that runs its publish script. With classic pub/sub
 * Redis Cluster relays every PUBLISH over its cluster bus to the subscriber's node, which here
 * took up to ~45 ms now and then (measured: most relays 1-3 ms, a few 20-48 ms), while that suite
 * checks, after a 30 ms sleep, that nothing more arrived and that everything did. Classic pub/sub
 * on the cluster is covered below by tests that wait for deliveries instead.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type BrokerFactory } from '../broker.contract.js';
import { twoNodeContract } from '../broker-two-nodes.contract.js';
import { unique } from '../contract-support.js';
import { nodeBusContract } from '../node-bus.contract.js';
import { presenceContract, presenceTwoNodeContract } from '../presence.contract.js';
import { progressContract, progressTwoNodeContract } from '../progress.contract.js';
import { sharedLimitsContract } from '../shared-limits.contract.js';
import { typingContract, typingTwoNodeContract } from '../typing.contract.js';
import { userStatusContract, userStatusTwoNodeContract } from '../user-status.contract.js';
import { resolveConfig } from '../../config/schema.js';
import { startRedisCluster, type RedisClusterServer } from '../../test-support/redis-cluster-server.js';
import { redisMissing } from '../../test-support/redis-server.js';
import { TestClient } from '../../test-support/test-client.js';
import { startTestNode, type TestNode } from '../../test-support/test-node.js';
import { RedisBroker } from './redis-broker.js';
import { RedisNodeBus } from './redis-bus.js';
import { closeRedis, openCluster, type RedisCluster } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RedisSharedLimits } from './redis-limits.js';
import { RedisPresenceManager } from './redis-presence.js';
import { RedisProgressStore } from './redis-progress.js';
import { RedisTypingStore } from './redis-typing.js';
import { RedisUserStatusStore } from './redis-user-status.js';

const HISTORY = { size: 100, ttlMs: 60_000 };

describe('engine.cluster configuration', () => {
  const redis = { type: 'redis' as const, url: 'redis://127.0.0.1:7000', cluster: true };
  const noBudgets = { maxBytes: 0, maxBytesPerUser: 0, maxStreams: 0 };

  it('refuses the history budgets and maxStreams with engine.cluster, naming each key', () => {
    expect(() => resolveConfig({ engine: redis })).toThrow(/history\.maxBytes[\s\S]*history\.maxBytesPerUser[\s\S]*history\.maxStreams/);
    expect(() => resolveConfig({ engine: redis, history: { ...noBudgets, maxStreams: 10 } })).toThrow(/history\.maxStreams.*engine\.cluster/);
    expect(() => resolveConfig({ engine: redis, history: noBudgets, namespaces: { big: { history: { size: 10, ttl: '1m', maxBytes: '1MiB' } } } })).toThrow(
      /namespaces\.big\.history\.maxBytes.*engine\.cluster/,
    );
    expect(() => resolveConfig({ engine: { ...redis, db: 2 }, history: noBudgets })).toThrow(/engine\.db/);
  });

  it('accepts a cluster without budgets, with a list of seed nodes instead of a url, and keeps budgets on a single Redis', () => {
    expect(resolveConfig({ engine: redis, history: noBudgets }).engine.cluster).toBe(true);
    const seeds = ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'];
    expect(resolveConfig({ engine: { type: 'redis', cluster: seeds, sharded: true }, history: noBudgets }).engine).toMatchObject({ cluster: seeds, sharded: true });
    expect(() => resolveConfig({ engine: { type: 'redis', cluster: ['http://x:1'] }, history: noBudgets })).toThrow('redis://');
    expect(resolveConfig({ engine: { type: 'redis', url: 'redis://x:1' } }).history.maxBytes).toBeGreaterThan(0);
  });
});

describe.skipIf(redisMissing())('Redis engine on a real Redis Cluster', () => {
  let cluster: RedisClusterServer;
  const opened: RedisCluster[] = [];
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 30_000);
  afterAll(async () => {
    await Promise.allSettled(opened.splice(0).map((c) => closeRedis(c)));
    await cluster?.close();
  });

  const connect = async (): Promise<RedisCluster> => {
    const client = await openCluster({ url: cluster.urls[0]!, cluster: [...cluster.urls] });
    opened.push(client);
    return client;
  };
  const closeAll = async (clients: RedisCluster[]) => void (await Promise.all(clients.map((c) => closeRedis(c))));

  /** Broker nodes over one fresh prefix, each with its own cluster client and pub/sub cluster client. */
  const brokers = (sharded: boolean): BrokerFactory => async ({ metaTtlMs, maxBytes, maxStreams, idempotencyMaxKeys }, count) => {
    const keys = new RedisKeys(unique('t'));
    const clients: RedisCluster[] = [];
    const nodes: RedisBroker[] = [];
    for (let i = 0; i < count; i++) {
      const client = await connect();
      clients.push(client);
      nodes.push(await RedisBroker.create(client, keys, { sharded, metaTtlMs, maxBytes, maxStreams, probeIntervalMs: 200, ...(idempotencyMaxKeys !== undefined ? { idempotencyMaxKeys } : {}) }));
    }
    return { nodes, close: () => closeAll(clients) };
  };

  /** `count` parts over one fresh prefix, each on its own cluster client (closed with the part). */
  const parts = async <T extends { close(): Promise<void> }>(count: number, make: (client: RedisCluster, keys: RedisKeys) => T): Promise<T[]> => {
    const keys = new RedisKeys(unique('t'));
    return Promise.all(
      Array.from({ length: count }, async () => {
        const client = await connect();
        const part = make(client, keys);
        const close = part.close.bind(part);
        part.close = async () => {
          await close();
          await closeRedis(client);
        };
        return part;
      }),
    );
  };
  const two = async <T extends { close(): Promise<void> }>(make: (client: RedisCluster, keys: RedisKeys) => T) => {
    const [a, b] = await parts(2, make);
    return { a: a!, b: b!, close: async () => void (await Promise.all([a!.close(), b!.close()])) };
  };

  twoNodeContract('RedisBroker on Redis Cluster (sharded pub/sub)', brokers(true));

  presenceContract('RedisPresenceManager on Redis Cluster', async ({ ttlMs }) => (await parts(1, (c, keys) => new RedisPresenceManager(c, keys, { ttlMs })))[0]!);
  presenceTwoNodeContract('RedisPresenceManager on Redis Cluster', ({ ttlMs }) => two((c, keys) => new RedisPresenceManager(c, keys, { ttlMs })));
  userStatusContract('RedisUserStatusStore on Redis Cluster', async (options) => (await parts(1, (c, keys) => new RedisUserStatusStore(c, keys, options)))[0]!);
  userStatusTwoNodeContract('RedisUserStatusStore on Redis Cluster', (options) => two((c, keys) => new RedisUserStatusStore(c, keys, options)));
  typingContract('RedisTypingStore on Redis Cluster', async () => (await parts(1, (c, keys) => new RedisTypingStore(c, keys)))[0]!);
  typingTwoNodeContract('RedisTypingStore on Redis Cluster', () => two((c, keys) => new RedisTypingStore(c, keys)));
  progressContract('RedisProgressStore on Redis Cluster', async () => (await parts(1, (c, keys) => new RedisProgressStore(c, keys)))[0]!);
  progressTwoNodeContract('RedisProgressStore on Redis Cluster', () => two((c, keys) => new RedisProgressStore(c, keys)));

  nodeBusContract('Redis Cluster', async (count, { nodeTtlMs }) => {
    const prefix = unique('tb');
    const clients = await Promise.all(Array.from({ length: count }, () => connect()));
    return { nodes: clients.map((client) => new RedisNodeBus({ client, prefix, nodeTtlMs })), close: () => closeAll(clients) };
  });

  sharedLimitsContract('Redis Cluster', async (count) => {
    const prefix = unique('tl');
    const clients = await Promise.all(Array.from({ length: count }, () => connect()));
    const nodes = clients.map((client) => new RedisSharedLimits({ client, prefix, nodeTtlMs: 400, refreshMs: 100, sweepIntervalMs: 50 }));
    return {
      nodes,
      lose: async (index) => clients[index]!.destroy(),
      close: async () => {
        await Promise.all(nodes.map((n) => n.close()));
        await closeAll(clients);
      },
    };
  });

  /** Channels whose keys land on every one of the three primaries (at least `perNode` each). */
  const spreadChannels = async (keys: RedisKeys, perNode: number): Promise<string[]> => {
    const byNode: string[][] = [[], [], []];
    for (let i = 0; byNode.some((list) => list.length < perNode); i++) {
      const channel = unique(`news:spread${i}-`);
      const node = cluster.nodeOfSlot(await cluster.keySlot(keys.channelMeta(channel)));
      if (byNode[node]!.length < perNode) byNode[node]!.push(channel);
    }
    return byNode.flat();
  };

  for (const sharded of [false, true]) {
    describe(`the broker on the cluster${sharded ? ' (sharded pub/sub)' : ''}`, () => {
      it('publishes with offsets and history on channels of all three primaries, delivered live in order, ended by unsubscribe', async () => {
        const { nodes, close } = await brokers(sharded)({ metaTtlMs: 3_600_000, maxBytes: 0, maxStreams: 0 }, 2);
        const [a, b] = nodes as [RedisBroker, RedisBroker];
        try {
          const keys = new RedisKeys('probe');
          const channels = await spreadChannels(keys, 2);
          const got = new Map<string, number[]>();
          const controls: string[] = [];
          b.setHandler({
            onPublication: (channel, pub) => void got.set(channel, [...(got.get(channel) ?? []), pub.offset!]),
            onControl: (channel, event) => void controls.push(`${channel}:${event.type}`),
          });
          a.setHandler({ onPublication: () => {}, onControl: () => {} });
          await b.subscribe(channels);
          for (let i = 0; i < 5; i++) await Promise.all(channels.map((c) => a.publish(c, { i }, { history: HISTORY })));
          await a.publishControl(channels[0]!, { type: 'join', info: { user: 'u', client: 'c' } });
          await waitFor(() => channels.every((c) => got.get(c)?.length === 5) && controls.length === 1, 5000);
          for (const c of channels) expect(got.get(c)).toEqual([1, 2, 3, 4, 5]);
          expect(controls).toEqual([`${channels[0]}:join`]);
          const page = await b.history(channels[5]!, { limit: 10, since: { epoch: (await a.position(channels[5]!)).epoch, offset: 3 } });
          expect(page.publications.map((p) => [p.offset, p.data])).toEqual([
            [4, { i: 3 }],
            [5, { i: 4 }],
          ]);
          // Idempotent publishing (no budgets): a repeat gets the first outcome.
          const key = { key: unique('k'), windowMs: 60_000 };
          const first = await a.publish(channels[1]!, 'once', { history: HISTORY, idempotency: key });
          const again = await b.publish(channels[1]!, 'once', { history: HISTORY, idempotency: key });
          expect(again).toEqual({ position: first.position, deduplicated: true });
          await waitFor(() => got.get(channels[1]!)?.length === 6, 5000);
          await b.unsubscribe(channels);
          await a.publish(channels[2]!, 'late', { history: HISTORY });
          await new Promise((r) => setTimeout(r, 100));
          expect(got.get(channels[2]!)).toEqual([1, 2, 3, 4, 5]);
          // removeHistory: a new epoch, offsets from 1 again.
          const before = await a.position(channels[3]!);
          await a.removeHistory(channels[3]!);
          const after = await a.position(channels[3]!);
          expect(after.offset).toBe(0);
          expect(after.epoch).not.toBe(before.epoch);
        } finally {
          await Promise.all(nodes.map((n) => n.close()));
          await close();
        }
      });

      it('its liveness probe comes back: the pub/sub connection stays (no replacement) and is ready', async () => {
        const { nodes, close } = await brokers(sharded)({ metaTtlMs: 3_600_000, maxBytes: 0, maxStreams: 0 }, 1);
        const broker = nodes[0] as RedisBroker;
        try {
          await waitFor(() => broker.subscriberReady, 5000);
          for (let i = 0; i < 3; i++) await broker.checkSubscriber();
          expect(broker.subscriberReplacements).toBe(0);
          expect(broker.subscriberReady).toBe(true);
        } finally {
          await broker.close();
          await close();
        }
      });
    });
  }

  describe('two createTidings nodes on the cluster', () => {
    let a: TestNode;
    let b: TestNode;
    const clients: TestClient[] = [];
    const prefix = `t-${randomBytes(4).toString('hex')}`;
    beforeAll(async () => {
      const engine = { type: 'redis' as const, url: cluster.urls[0]!, cluster: [...cluster.urls], sharded: true, prefix, connectTimeout: 2000 };
      const history = { maxBytes: 0, maxBytesPerUser: 0, maxStreams: 0 };
      a = await startTestNode({ engine, history });
      b = await startTestNode({ engine, history });
      for (const node of [a, b]) {
        const deadline = Date.now() + 10_000;
        while ((await node.api('GET', '/ready')).status !== 200) {
          if (Date.now() > deadline) throw new Error('node not ready on the cluster');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }, 30_000);
    afterAll(async () => {
      for (const client of clients) client.close();
      await b?.close();
      await a?.close();
    });

    it('a publication through node A reaches subscribers on node B with offsets, on channels of all three primaries', async () => {
      // The nodes' prefix decides the slots: one channel whose keys live on each primary.
      const channels = await spreadChannels(new RedisKeys(prefix), 1);
      const { client } = await TestClient.connect(b.wsUrl, await b.token('reader'));
      clients.push(client);
      for (const channel of channels) await client.ok('subscribe', { channel });
      for (let n = 1; n <= 3; n++) {
        for (const channel of channels) {
          const res = await a.api('POST', '/publish', { channel, data: { n } });
          expect(res.status).toBe(200);
          expect(res.body.data.offset).toBe(n);
        }
      }
      for (const channel of channels) {
        await client.waitForPush((p) => p.type === 'publication' && p.channel === channel && (p as { offset?: number }).offset === 3);
        expect(client.publications(channel).map((p: any) => ({ data: p.data, offset: p.offset }))).toEqual([
          { data: { n: 1 }, offset: 1 },
          { data: { n: 2 }, offset: 2 },
          { data: { n: 3 }, offset: 3 },
        ]);
      }
      // History and epoch are the same read through B.
      const history = await b.api('GET', `/channels/${encodeURIComponent(channels[2]!)}/history?limit=10`);
      expect(history.status).toBe(200);
      expect(history.body.data.publications.map((p: any) => p.offset)).toEqual([1, 2, 3]);
    });
  });
});
